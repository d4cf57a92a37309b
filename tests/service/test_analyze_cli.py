"""`yuqing analyze`: one JSON line out per line in, in order, bad lines reported in place."""

from __future__ import annotations

import io
import json

import pytest

from analysis.analyzer import Analyzer
from core.settings import load_settings
from pipelines.analysis import build_analyzer
from service.commands.analyze_cmd import analyze_stream


@pytest.fixture(scope="module")
def analyzer() -> Analyzer:
    return build_analyzer(load_settings("config/example"))


def run(analyzer: Analyzer, text: str, tokens: bool = False) -> tuple[list[dict[str, object]], int]:
    out = io.StringIO()
    bad = analyze_stream(analyzer, io.StringIO(text), out, tokens)
    return [json.loads(line) for line in out.getvalue().splitlines()], bad


def test_one_line_out_per_line_in_with_errors_in_place(analyzer: Analyzer) -> None:
    lines = [
        json.dumps({"title": "三食堂卫生太差", "text": "江州理工大学三食堂饭菜里吃出虫子"}),
        "{broken json",
        json.dumps({"text": 5}),
        "图书馆考试周通宵开放",
        "",
        json.dumps({"title": ["not", "a", "string"]}),
    ]
    records, bad = run(analyzer, "\n".join(lines) + "\n")
    assert len(records) == 6 and bad == 4
    first = records[0]
    assert set(first) >= {"keywords", "sentiment", "category", "severity", "units", "watch_rules"}
    assert first["watch_rules"][0]["id"] == "canteen-safety"  # type: ignore[index]
    assert first["units"][0]["id"] == "logistics"  # type: ignore[index]
    assert "error" in records[1] and "line 2" in str(records[1]["error"])
    assert "error" in records[2] and "error" in records[4] and "error" in records[5]
    assert records[3]["units"][0]["id"] == "academic-affairs"  # type: ignore[index]
    assert "tokens" not in first


def test_tokens_on_request_and_order_kept_across_batches(analyzer: Analyzer) -> None:
    lines = [json.dumps({"text": f"第{n}条：宿舍楼停水"}) for n in range(1200)]
    records, bad = run(analyzer, "\n".join(lines), tokens=True)
    assert bad == 0 and len(records) == 1200
    assert all("宿舍楼" in r["tokens"] or "宿舍" in r["tokens"] for r in records)  # type: ignore[operator]
    assert records[1199]["tokens"][0] == "第"  # type: ignore[index]
