"""`yuqing analyze`: one JSON line out per line in, in order, bad lines reported in place."""

from __future__ import annotations

import io
import json
import subprocess
import sys
from pathlib import Path

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


def test_lines_given_as_bytes_each_decoded_alone(analyzer: Analyzer) -> None:
    stream = [
        "\ufeff".encode() + json.dumps({"text": "宿舍楼停水三天"}).encode() + b"\r\n",
        "图书馆考试周通宵开放".encode("gbk") + b"\n",  # a GBK line in a UTF-8 stream
        "食堂饭菜很好吃\n".encode(),
    ]
    out = io.StringIO()
    bad = analyze_stream(analyzer, stream, out, tokens=False)
    records = [json.loads(line) for line in out.getvalue().splitlines()]
    assert bad == 1 and len(records) == 3
    assert records[0]["units"][0]["id"] == "logistics"  # the BOM did not hide the JSON
    assert records[1]["error"].startswith("line 2: not UTF-8 text (byte 0x")
    assert records[2]["sentiment"]["label"] == "positive"


def test_a_hundred_thousand_lines_in_one_process(tmp_path: Path) -> None:
    """Issue 4: `yuqing analyze` handles 100,000 lines in one process, one line out per line
    in and in order, with a bad line in the middle and memory that does not grow with them."""
    lines = [
        json.dumps({"id": f"p{n}", "text": f"第{n}条：宿舍楼停水，食堂也很差"}, ensure_ascii=False)
        for n in range(100_000)
    ]
    lines[50_000] = "{not json"
    source = tmp_path / "in.jsonl"
    source.write_text("\n".join(lines) + "\n", encoding="utf-8")
    # VmHWM is this process's own peak: ru_maxrss would also count the peak of the pytest
    # process it was forked from, which Linux carries across exec.
    script = (
        "import re, sys\n"
        "from pathlib import Path\n"
        "from service.cli import main\n"
        "code = main()\n"
        "status = Path('/proc/self/status').read_text()\n"
        "peak = re.search(r'VmHWM:\\s+(\\d+) kB', status).group(1)\n"
        "print(f'peak-kib {peak}', file=sys.stderr)\n"
        "sys.exit(code)\n"
    )
    with source.open("rb") as stdin:
        done = subprocess.run(
            [sys.executable, "-c", script, "--config", "config/example", "analyze", "--tokens"],
            stdin=stdin,
            capture_output=True,
            timeout=900,
            check=False,
        )
    assert done.returncode == 0, done.stderr[-2000:]
    out = done.stdout.decode("utf-8").splitlines()
    assert len(out) == 100_000
    assert "error" in json.loads(out[50_000])
    assert json.loads(out[99_999])["tokens"][:3] == ["第", "99999", "条"]
    assert b"1 line(s) could not be analysed" in done.stderr
    peak_kib = int(done.stderr.split(b"peak-kib ")[1].split()[0])
    # The analyzer itself takes about 0.6 GB (two dictionaries, the sentiment model); the
    # 100,000 results must not be held on top of it.
    assert peak_kib < 1_000_000, f"peak RSS {peak_kib} KiB"
