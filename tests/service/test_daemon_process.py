"""`yuqing patrol` as a real child process against a locally served forum and a signature-checking
webhook receiver: end to end, SIGTERM, kill -9 and restart (issue 5 §1)."""

from __future__ import annotations

import itertools
import json
import sqlite3
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from alerts.deadlines import deadlines_for, tiers_from
from core.post import Severity
from core.settings import load_settings
from service.cli import main
from store.patrol_log import PatrolLog
from tests.alerts.support import SECRET, Receiver
from tests.service.daemon_support import EVERYDAY, NEGATIVE, Daemon, Forum, wait_for, write_config

pytestmark = pytest.mark.slow


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    r = Receiver(lambda: datetime.now(UTC), [SECRET])
    yield r
    r.close()


def _indexed(config: Path, capsys: pytest.CaptureFixture[str]) -> list[dict[str, object]]:
    capsys.readouterr()
    assert main(["--config", str(config), "search", "--json", "--limit", "1000"]) == 0
    posts: list[dict[str, object]] = json.loads(capsys.readouterr().out)["posts"]
    return posts


def _windows(config: Path) -> list[tuple[str, str]]:
    with sqlite3.connect(config.parent / "data" / "state.sqlite3") as db:
        rows = db.execute(
            "SELECT start, end FROM rule_runs WHERE rule = 'negative-canteen' ORDER BY start"
        ).fetchall()
    return [(r[0], r[1]) for r in rows]


def _contiguous(windows: list[tuple[str, str]]) -> None:
    """R1: each window starts where the previous one ended — no gap, no overlap."""
    assert windows, "no alert window was evaluated"
    for (_, end), (start, _) in itertools.pairwise(windows):
        assert start == end, f"window gap or overlap: {end} → {start}"


def _cases(receiver: Receiver) -> list[dict[str, object]]:
    return [c for c in receiver.cases.values() if c["type"] == "case.opened"]


def test_a_new_negative_post_reaches_the_case_system_signed_with_tier_unit_and_deadlines(
    tmp_path: Path, receiver: Receiver, capsys: pytest.CaptureFixture[str]
) -> None:
    forum = Forum()
    forum.post(EVERYDAY, "图书馆开放时间延长")
    config = write_config(tmp_path, {"jz-bbs": forum.url}, receiver.url)
    daemon = Daemon(config)
    try:
        wait_for(lambda: "jz-bbs: finished" in daemon.output(), 240, why="the first patrol")
        assert not receiver.received  # an everyday post raises nothing
        forum.post(NEGATIVE, "三食堂吃坏肚子了")  # appears while the daemon runs
        wait_for(lambda: _cases(receiver), 180, why="the case webhook")
        assert daemon.terminate() == 0
    finally:
        daemon.cleanup()
        forum.close()
    (case,) = _cases(receiver)
    hits = receiver.on("/cases")
    assert all(r.verified for r in hits)  # Standard Webhooks signature checked by the receiver
    data = case["data"]
    assert isinstance(data, dict)
    assert data["rule"] == "negative-canteen"
    assert data["title"].endswith("三食堂吃坏肚子了")
    # The tier is the one the analysis gave the post (as indexed), named as the config names it.
    posts = _indexed(config, capsys)
    assert sorted(str(p["title"]) for p in posts) == ["三食堂吃坏肚子了", "图书馆开放时间延长"]
    (post,) = [p for p in posts if p["title"] == "三食堂吃坏肚子了"]
    settings = load_settings(str(config))
    tier = Severity(str(post["severity"]))
    assert data["severity"] == tier.value
    assert data["severity_label"] == getattr(settings.tiers, tier.value).name
    assert data["unit"] == {
        "id": "logistics",
        "name": "后勤管理处",
        "liaison": "赵磊",
        "contact": "0571-8800-1203",
    }
    detected = datetime.fromisoformat(data["detected_at"].replace("Z", "+00:00"))
    expected = deadlines_for(tier, detected, tiers_from(settings.tiers), settings.timezone)
    deadlines = data["deadlines"]
    assert datetime.fromisoformat(deadlines["report_by"].replace("Z", "+00:00")) == (
        expected.report_by
    )
    assert datetime.fromisoformat(deadlines["respond_by"].replace("Z", "+00:00")) == (
        expected.respond_by
    )


def test_sigterm_lets_the_running_crawl_finish_and_record_its_posts(
    tmp_path: Path, receiver: Receiver, capsys: pytest.CaptureFixture[str]
) -> None:
    forum = Forum(delay=1.5)  # each thread page takes 1.5 s: the crawl is still running
    for i in range(4):
        forum.post(f"{EVERYDAY}第{i}周。", f"图书馆通知{i}")
    config = write_config(tmp_path, {"jz-bbs": forum.url}, receiver.url)
    daemon = Daemon(config)
    try:
        wait_for(lambda: forum.thread_requests, 240, why="the crawl to reach the threads")
        code = daemon.terminate()  # SIGTERM mid-crawl
    finally:
        daemon.cleanup()
        forum.close()
    assert code == 0
    assert "stopping: the running crawls finish first" in daemon.output()
    log = PatrolLog(config.parent / "data")
    try:
        (patrol,) = log.patrols(source="jz-bbs")
    finally:
        log.close()
    assert patrol.outcome == "finished"
    assert patrol.new_posts == 4  # finished, not cut off: every thread was read
    assert len(_indexed(config, capsys)) == 4


def test_kill_9_mid_patrol_loses_nothing_and_repeats_nothing(
    tmp_path: Path, receiver: Receiver, capsys: pytest.CaptureFixture[str]
) -> None:
    forum = Forum(delay=0.5)
    forum.post(NEGATIVE, "三食堂吃坏肚子了")
    forum.post(EVERYDAY, "图书馆开放时间延长")
    config = write_config(tmp_path, {"jz-bbs": forum.url}, receiver.url)
    first = Daemon(config)
    try:
        wait_for(lambda: _cases(receiver), 240, why="the first case")
        wait_for(lambda: len(_windows(config)) >= 2, 60, why="a few alert windows")
        forum.post(
            "江州理工大学一食堂的菜里吃出了虫子，同学们吃完都呕吐了，太恶心了，后勤处管不管？",
            "一食堂菜里有虫子",
        )
        seen = forum.thread_requests
        wait_for(lambda: forum.thread_requests > seen, 120, why="the next patrol to start")
        first.kill()  # kill -9 while that patrol runs
    finally:
        first.cleanup()
    before = _windows(config)
    forum.post(f"{EVERYDAY}下周起恢复正常。", "图书馆通知")
    second = Daemon(config)
    try:
        wait_for(lambda: len(_cases(receiver)) >= 2, 240, why="the second case after restart")
        wait_for(lambda: len(_indexed(config, capsys)) >= 4, 120, why="every post indexed")
        assert second.terminate() == 0
    finally:
        second.cleanup()
        forum.close()
    posts = _indexed(config, capsys)
    links = [str(p["url"]) for p in posts]
    assert len(links) == len(set(links)) == forum.posts() == 4  # each post exactly once
    cases = _cases(receiver)
    assert len(cases) == 2  # one case per negative post: none lost, none sent twice
    assert len({c["data"]["key"] for c in cases}) == 2  # type: ignore[index]
    after = _windows(config)
    assert after[: len(before)] == before  # the windows before the kill stand as they were
    assert len(after) > len(before)
    _contiguous(after)  # and the restart neither skipped nor repeated one
