"""`yuqing demo` end to end: the fast story in a subprocess on free ports, then what the office's
receiver got, what was indexed and which cases were opened, read from the real stores."""

from __future__ import annotations

import json
import random
import socket
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

import pytest
import yaml

from alerts.cases import CaseBook
from core.settings import load_settings
from service.demo import HOSTS, Plan, write_config
from service.demo_receiver import describe
from service.demo_sites import World, answer
from service.demo_story import SEED, TIMELINE
from service.wiring import open_index
from store.base import SearchQuery
from store.state import StateDB

ROOT = Path(__file__).resolve().parents[2]
# What the `yuqing` script runs (`python -m service.cli` would load the CLI module twice).
YUQING = [sys.executable, "-c", "import sys; from service.cli import main; sys.exit(main())"]


def _free_base() -> int:
    """A port p with p, p+1, p+2 free on 127.0.0.1 and p free on the demo's other addresses."""
    for _ in range(50):
        base = random.randrange(20000, 60000)
        try:
            wanted = [("127.0.0.1", base + 1), ("127.0.0.1", base + 2)]
            for host, port in [*wanted, *((h, base) for h in set(HOSTS.values()))]:
                with socket.socket() as s:
                    s.bind((host, port))
        except OSError:
            continue
        return base
    raise RuntimeError("no free ports")


@pytest.mark.slow
@pytest.mark.timeout(330)
def test_demo_raises_signed_alerts_opens_cases_and_reports(tmp_path: Path) -> None:
    port = _free_base()
    args = ["--fast", "--minutes", "2.5", "--port", str(port), "--data", str(tmp_path)]
    done = subprocess.run(
        [*YUQING, "demo", *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert "演示结束" in done.stdout

    received = [
        json.loads(line)
        for line in (tmp_path / "received.jsonl").read_text(encoding="utf-8").splitlines()
    ]
    opened = [r for r in received if r["to"] == "cases" and r["body"]["type"] == "case.opened"]
    assert opened, done.stdout[-3000:]
    assert all(r["signed"] for r in received if r["to"] == "cases")
    data = opened[0]["body"]["data"]
    assert data["severity_label"] in ("一般", "重大", "特别重大")
    assert data["deadlines"]["report_by"] < data["deadlines"]["respond_by"]
    assert data["unit"]["name"]
    assert "上报领导时限" in done.stdout  # the receiver printed it for a person

    settings = load_settings(tmp_path / "config")
    index = open_index(settings)
    try:
        total = index.counts(SearchQuery(), settings.timezone).total
        canteen = index.search(SearchQuery(text="三食堂")).total
    finally:
        index.close()
    assert total >= len(SEED)
    assert canteen >= 2  # the incident and its reposts were indexed
    state = StateDB.in_data_dir(tmp_path / "data")
    try:
        cases = CaseBook(state).find()
    finally:
        state.close()
    assert cases
    assert {c.id for c in cases} >= {r["body"]["data"]["case_id"] for r in opened}
    assert list((tmp_path / "data" / "reports").glob("daily-*.html"))


def test_demo_config_is_the_example_pointed_at_the_demo(tmp_path: Path) -> None:
    plan = Plan(18000, fast=True)
    hosts = dict(HOSTS)
    folder = write_config(tmp_path / "config", tmp_path / "data", plan, hosts)
    settings = load_settings(folder)
    assert settings.source("jz-tieba").urls[0].startswith("http://127.0.0.2:18000/tieba/")
    assert settings.webhook("cases").url == "http://127.0.0.1:18001/hooks/cases"
    assert settings.api.listen == "127.0.0.1:18002"
    assert settings.storage.data_dir == tmp_path / "data"
    assert settings.alert_rule("negative-canteen").quiet_hours is None
    assert not settings.source("jz-edu").enabled
    assert all(
        s.schedule.interval is not None and s.schedule.interval.total_seconds() <= 60
        for s in settings.sources
        if s.enabled
    )
    original = yaml.safe_load((ROOT / "config" / "example" / "units.yaml").read_text("utf-8"))
    assert [u.id for u in settings.units] == [u["id"] for u in original["units"]]


def test_sites_publish_the_story_in_each_sites_encoding() -> None:
    world = World()
    for event in SEED:
        world.publish(event, datetime.now(UTC))
    before = answer(world, "127.0.0.1:1", "/forum/forum.php?mod=forumdisplay&fid=2")
    assert before[1] == "text/html; charset=gbk"
    assert "三食堂" not in before[2].decode("gbk")
    world.publish(TIMELINE[0], datetime.now(UTC))
    status, _, body = answer(world, "127.0.0.1:1", "/forum/forum.php?mod=forumdisplay&fid=2")
    assert status == 200 and TIMELINE[0].title in body.decode("gbk")
    tid = max(t.number for t in world.listed("forum"))
    thread = answer(world, "h", f"/forum/forum.php?mod=viewthread&tid={tid}")[2].decode("gbk")
    assert "三食堂" in thread and 'id="thread_subject"' in thread
    comments = json.loads(answer(world, "h", "/news/api/comments?article=1001&page=1")[2])
    assert comments["data"]["comments"][0]["user"]["nickname"] == "江理校友"
    assert answer(world, "h", "/forum/forum.php?mod=viewthread&tid=99999")[0] == 404
    assert answer(world, "h", "/no/such/page")[0] == 404


def test_receiver_describes_a_case_in_words() -> None:
    body = {
        "type": "case.opened",
        "data": {
            "title": "食堂负面帖",
            "severity_label": "重大",
            "case_ref": "C000007",
            "state_label": "新建",
            "unit": {"name": "后勤管理处", "liaison": "赵磊", "contact": "0571"},
            "deadlines": {
                "report_by": "2026-11-23T06:00:00+00:00",
                "respond_by": "2026-11-25T06:00:00+00:00",
            },
            "cluster": {"size": 3, "sites": ["a", "b"]},
            "category": "hype",
        },
    }
    lines = describe(body)
    assert lines[0] == "【新预警，已立案·重大】食堂负面帖"
    assert "赵磊" in lines[1]
    assert "11月23日 14:00" in lines[2] and "11月25日 14:00" in lines[2]
    assert "恶意传播/炒作" in lines[3] and "3 帖 / 2 个站点" in lines[3]


def _demo(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*YUQING, "demo", *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_demo_refuses_a_busy_port_and_bad_options_in_one_line(tmp_path: Path) -> None:
    port = _free_base()
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", port + 1))
        busy.listen()
        done = _demo("--port", str(port), "--data", str(tmp_path / "d"))
    assert done.returncode == 2
    assert f"port {port + 1} on 127.0.0.1 is in use" in done.stderr
    assert "Traceback" not in done.stderr
    for bad in (["--port", "80"], ["--minutes", "soon"], ["--minutes", "0"]):
        done = _demo(*bad)
        assert done.returncode == 2 and "Traceback" not in done.stderr, bad
        assert "demo: error: argument" in done.stderr
    (tmp_path / "file").write_text("x")
    done = _demo("--data", str(tmp_path / "file"))
    assert done.returncode == 2 and "is a file" in done.stderr
