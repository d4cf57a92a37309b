"""`yuqing alerts test|list|silence` on a real config and data folder (ALERTING.md T1, D3), and
an invalid rule skipped at load while the engine runs the others (R5)."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from alerts.cases import CaseBook
from alerts.delivery import Outbox
from alerts.engine import Engine
from core.post import Post, Sentiment
from core.settings import ConfigError, load_settings
from core.settings_loader import load
from service.cli import main
from service.wiring import segmenter_for
from store.sqlite import SqliteIndex
from store.state import FILE_NAME, StateDB

RULES = """
watch_rules:
  - id: canteen
    event: [食堂]
alert_rules:
  - id: canteen-neg
    kind: match
    watch_rules: [canteen]
    filters: {sentiments: [negative]}
    aggregation: {key: cluster, window: 10m}
  - id: burst
    kind: frequency
    watch_rules: [canteen]
    threshold: 2
    window: 1h
"""


def write_config(tmp_path: Path, rules: str = RULES) -> Path:
    path = tmp_path / "institution.yaml"
    path.write_text(
        "institution:\n  name: 江州理工大学\n  aliases: [江州理工]\n"
        f"storage:\n  data_dir: {tmp_path / 'data'}\n" + rules,
        encoding="utf-8",
    )
    return path


def posts(now: datetime) -> list[Post]:
    def one(n: int, hours_ago: float, cluster: str, sentiment: Sentiment) -> Post:
        return Post.create(
            url=f"https://bbs{n}.example.cn/t/{n}",
            source="bbs",
            title=f"三食堂吃出虫子{n}",
            text="江州理工三食堂",
            watch_rules=["canteen"],
            cluster=cluster,
            sentiment=sentiment,
            fetched=now - timedelta(hours=hours_ago),
        )

    return [
        one(1, 5, "c1", Sentiment.NEGATIVE),
        one(2, 4.9, "c1", Sentiment.NEGATIVE),
        one(3, 2.5, "c2", Sentiment.NEGATIVE),
        one(4, 2, "c3", Sentiment.POSITIVE),
    ]


@pytest.fixture
def config(tmp_path: Path) -> Path:
    path = write_config(tmp_path)
    index = SqliteIndex(tmp_path / "data", segmenter=segmenter_for(load_settings(path)))
    index.init()
    index.upsert(posts(datetime.now(UTC)))
    index.close()
    return path


def run(config: Path, *argv: str) -> int:
    return main(["--config", str(config), *argv])


def test_dry_run_prints_the_would_be_alerts_and_writes_nothing(
    config: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    before = {p.name: p.stat().st_mtime_ns for p in (config.parent / "data").iterdir()}
    assert run(config, "alerts", "test", "canteen-neg", "--since", "1d", "--step", "10m") == 0
    out = capsys.readouterr().out
    assert "3 matching posts, 2 alerts" in out  # the positive post is filtered out
    assert "cluster:c1" in out and "cluster:c2" in out and "x2" in out
    after = {p.name: p.stat().st_mtime_ns for p in (config.parent / "data").iterdir()}
    assert FILE_NAME not in after and after == before


def test_dry_run_json_by_frequency(config: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert run(config, "alerts", "test", "burst", "--since", "1d", "--step", "5m", "--json") == 0
    lines = capsys.readouterr().out.splitlines()
    alerts = [json.loads(line) for line in lines]
    # Two posts within the hour at -5h and -4.9h, and again at -2.5h and -2h.
    assert [a["key"] for a in alerts] == ["rule:burst", "rule:burst"]
    assert [a["cluster_size"] for a in alerts] == [2, 2]
    assert alerts[0]["title"].startswith("burst：2 条相关帖")


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["alerts", "test", "nope"], "no alert rule 'nope' (known: burst, canteen-neg)"),
        (["alerts", "test", "burst", "--since", "yesterday"], "is not a time"),
        (["alerts", "test", "burst", "--since", "1h", "--until", "2h"], "--until must be after"),
        (["alerts", "silence", "add", "rule=burst", "--comment", "x"], "say how long"),
        (["alerts", "silence", "add", "colour=red", "--for", "1h", "--comment", "x"], "FIELD is"),
        (["alerts", "silence", "expire", "99"], "no silence 99"),
    ],
)
def test_bad_input_is_one_clear_line(
    config: Path, capsys: pytest.CaptureFixture[str], argv: list[str], message: str
) -> None:
    assert run(config, *argv) == 2
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err


def test_silence_add_list_expire(config: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert run(config, "alerts", "silence", "add", "rule=burst", "key=rule:*", "--for", "2h",
               "--comment", "演练", "--author", "王老师") == 0  # fmt: skip
    assert "silence 1:" in capsys.readouterr().out
    assert run(config, "alerts", "silence", "list") == 0
    out = capsys.readouterr().out
    assert "active" in out and "王老师: 演练" in out and '"key": "rule:*"' in out
    assert run(config, "alerts", "silence", "expire", "1") == 0
    capsys.readouterr()
    assert run(config, "alerts", "silence", "list") == 0
    assert "no silences" in capsys.readouterr().out
    assert run(config, "alerts", "silence", "list", "--all") == 0
    assert "ended" in capsys.readouterr().out


def test_list_shows_what_the_engine_did(config: Path, capsys: pytest.CaptureFixture[str]) -> None:
    settings = load_settings(config)
    data = settings.storage.data_dir
    index = SqliteIndex(data, segmenter=segmenter_for(settings))
    db = StateDB.in_data_dir(data)
    engine = Engine.from_settings(settings, index, Outbox(CaseBook(db), []))
    engine.backfill = True
    now = datetime.now(UTC)
    engine.run_due(now)
    engine.run_due(now + timedelta(minutes=1))
    index.close()
    db.close()
    assert run(config, "alerts", "list") == 0
    out = capsys.readouterr().out
    assert "sent" in out and "burst" in out and "aggregated" in out
    assert run(config, "alerts", "list", "--outcome", "aggregated") == 0
    out = capsys.readouterr().out
    assert "burst" not in out and "canteen-neg" in out


def test_an_invalid_rule_is_skipped_at_load_and_the_others_run(tmp_path: Path) -> None:
    bad = RULES + "  - id: broken\n    kind: frequency\n    threshold: 0\n    window: 1h\n"
    path = write_config(tmp_path, bad)
    with pytest.raises(ConfigError, match="threshold"):
        load(path)
    loaded = load(path, skip_invalid_rules=True)
    assert [r.id for r in loaded.settings.alert_rules] == ["canteen-neg", "burst"]
    assert any("rule skipped" in w.message for w in loaded.warnings)
    settings = loaded.settings
    index = SqliteIndex(tmp_path / "data", segmenter=segmenter_for(settings))
    index.init()
    db = StateDB.in_data_dir(tmp_path / "data")
    try:
        engine = Engine.from_settings(settings, index, Outbox(CaseBook(db), []))
        now = datetime.now(UTC)
        engine.run_due(now)
        index.upsert(posts(now + timedelta(hours=5, seconds=30))[:3])
        report = engine.run_due(now + timedelta(minutes=1))
        assert [r.rule for r in report.runs] == ["canteen-neg", "burst"]
        assert report.runs[1].alerts == 1
    finally:
        index.close()
        db.close()
