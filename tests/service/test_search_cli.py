"""`yuqing search` and `yuqing index` from the command line, on the embedded store."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import pytest

from core.post import Post, Sentiment, Severity
from core.settings import load_settings
from service.cli import main
from service.wiring import segmenter_for
from store.sqlite import SqliteIndex


@pytest.fixture
def config(tmp_path: Path) -> Path:
    path = tmp_path / "institution.yaml"
    path.write_text(
        "institution:\n  name: 江州理工大学\n  aliases: [江州理工]\n"
        f"storage:\n  data_dir: {tmp_path / 'data'}\n",
        encoding="utf-8",
    )
    # The index segments with the institution's own dictionary, as the service does.
    index = SqliteIndex(tmp_path / "data", segmenter=segmenter_for(load_settings(path)))
    index.init()
    index.upsert(
        [
            Post.create(
                url="https://bbs.example.cn/t/1",
                source="bbs",
                title="三食堂卫生问题",
                text="江州理工三食堂吃出虫子",
                sentiment=Sentiment.NEGATIVE,
                severity=Severity.MAJOR,
                published=datetime(2026, 3, 1, 2, tzinfo=UTC),
            ),
            Post.create(
                url="https://news.example.cn/a/2",
                source="news",
                title="图书馆延长开放",
                text="江州理工图书馆考试周通宵开放",
                sentiment=Sentiment.POSITIVE,
                severity=Severity.GENERAL,
                published=datetime(2026, 3, 2, 2, tzinfo=UTC),
            ),
        ]
    )
    index.close()
    return path


def run(config: Path, *argv: str) -> int:
    return main(["--config", str(config), *argv])


def test_search_prints_matches(config: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert run(config, "search", "食堂") == 0
    out = capsys.readouterr().out
    assert "1 posts" in out and "三食堂卫生问题" in out and "图书馆" not in out


def test_search_json_and_chinese_filter_names(
    config: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert run(config, "search", "江州理工", "--sentiment", "负面", "--json") == 0
    result = json.loads(capsys.readouterr().out)
    assert result["total"] == 1 and result["posts"][0]["source"] == "bbs"
    assert run(config, "search", "--severity", "一般", "--json") == 0
    assert json.loads(capsys.readouterr().out)["posts"][0]["source"] == "news"
    assert run(config, "search", "--since", "2026-03-02", "--json") == 0
    assert json.loads(capsys.readouterr().out)["total"] == 1


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["search", "(食堂"], "does not parse"),
        (["search", "--since", "yesterday"], "is not a time"),
        (["search", "--sentiment", "angry"], "is not one of"),
        (["search", "--limit", "0"], "--limit"),
        (["search", "--page", "garbage!!"], "damaged"),
    ],
)
def test_bad_input_is_one_clear_line(
    config: Path, capsys: pytest.CaptureFixture[str], argv: list[str], message: str
) -> None:
    assert run(config, *argv) == 2
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err and err.count("\n") == 1


def test_index_status_and_reindex(config: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert run(config, "index", "status", "--json") == 0
    assert json.loads(capsys.readouterr().out)["posts"] == 2
    assert run(config, "index", "reindex") == 0
    assert "reindexed: 2" in capsys.readouterr().out
    assert run(config, "search", "虫子") == 0
    assert "1 posts" in capsys.readouterr().out
