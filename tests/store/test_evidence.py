"""Evidence store, crawl state and patrol log: the records crawling leaves behind."""

from __future__ import annotations

import gzip
import hashlib
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from store.crawl_state import CrawlState, ThreadState
from store.evidence import EvidenceMissing, EvidenceStore
from store.patrol_log import Patrol, PatrolLog

T0 = datetime(2026, 5, 1, 8, 0, tzinfo=UTC)
PAGE = "<html><body><p>食堂饭菜里吃出异物</p></body></html>".encode("gbk")


def test_evidence_is_content_addressed_compressed_and_exact(tmp_path: Path) -> None:
    store = EvidenceStore(tmp_path)
    sha = store.put(
        "http://bbs.example.cn/t/1",
        PAGE,
        status=200,
        headers={"Content-Type": "text/html"},
        fetched=T0,
    )
    assert sha == hashlib.sha256(PAGE).hexdigest()
    assert store.get(sha) == PAGE  # byte for byte, in the page's own encoding
    file = tmp_path / "evidence" / sha[:2] / f"{sha}.gz"
    assert gzip.decompress(file.read_bytes()) == PAGE
    # The same body from another URL is stored once and both fetches are recorded.
    assert store.put("http://bbs.example.cn/t/1?page=1", PAGE, fetched=T0 + timedelta(1)) == sha
    assert len(list((tmp_path / "evidence").rglob("*.gz"))) == 1
    fetches = store.fetches(sha)
    assert [(f.url, f.fetched, f.status) for f in fetches] == [
        ("http://bbs.example.cn/t/1", T0, 200),
        ("http://bbs.example.cn/t/1?page=1", T0 + timedelta(1), 200),
    ]
    assert fetches[0].headers == {"Content-Type": "text/html"}
    assert fetches[0].size == len(PAGE)
    store.close()


def test_purge_keeps_what_is_within_retention(tmp_path: Path) -> None:
    store = EvidenceStore(tmp_path, retention_days=180)
    old = store.put("http://a.cn/old", b"old page", fetched=T0)
    again = store.put("http://a.cn/again", b"seen twice", fetched=T0)
    store.put("http://a.cn/again", b"seen twice", fetched=T0 + timedelta(days=170))
    recent = store.put("http://a.cn/new", b"new page", fetched=T0 + timedelta(days=100))
    now = T0 + timedelta(days=181)
    assert store.purge(now) == 1
    with pytest.raises(EvidenceMissing):
        store.get(old)
    assert store.get(again) == b"seen twice"  # refetched within retention: still evidence
    assert [f.fetched for f in store.fetches(again)] == [T0 + timedelta(days=170)]
    assert store.get(recent) == b"new page"
    assert store.purge(now) == 0
    store.close()


def test_evidence_rejects_bad_input_clearly(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="at least 1 day"):
        EvidenceStore(tmp_path, retention_days=0)
    store = EvidenceStore(tmp_path)
    with pytest.raises(EvidenceMissing, match="never stored, or purged"):
        store.get("../../etc/passwd")
    with pytest.raises(EvidenceMissing):
        store.get("0" * 64)
    store.close()


def test_crawl_state_validators_waits_and_backoff(tmp_path: Path) -> None:
    state = CrawlState(tmp_path)
    assert state.validators("http://a.cn/feed") is None
    state.save_validators("http://a.cn/feed", '"abc"', "Sun, 22 Nov 2026 08:00:00 GMT")
    saved = state.validators("http://a.cn/feed")
    assert saved is not None and saved.etag == '"abc"'
    state.save_validators("http://a.cn/feed", None, None)  # the server stopped sending them
    assert state.validators("http://a.cn/feed") is None

    state.defer("feed", T0 + timedelta(hours=1), "feed ttl")
    state.defer("feed", T0 + timedelta(minutes=5), "shorter")  # never shortens a wait
    assert not state.may_fetch("feed", T0 + timedelta(minutes=30))
    assert state.may_fetch("feed", T0 + timedelta(hours=1))

    first = state.block("bbs", "安全验证", now=T0)
    second = state.block("bbs", "安全验证", now=T0)
    assert (first - T0, second - T0) == (timedelta(minutes=30), timedelta(hours=1))
    for _ in range(10):
        last = state.block("bbs", "安全验证", now=T0)
    assert last - T0 == timedelta(days=1)  # capped
    state.clear_blocks("bbs")
    assert state.block("bbs", "again", now=T0) - T0 == timedelta(minutes=30)
    state.close()


def test_crawl_state_threads_and_new_posts(tmp_path: Path) -> None:
    state = CrawlState(tmp_path)
    thread = "http://bbs.example.cn/thread-1-1-1.html"
    assert state.thread("bbs", thread) is None
    state.save_thread("bbs", thread, ThreadState(reply_count=12, last_reply=T0, max_floor=13))
    known = state.thread("bbs", thread)
    assert known == ThreadState(12, T0, 13)
    assert not known.changed(12, T0)
    assert known.changed(13, T0) and known.changed(12, T0 + timedelta(minutes=1))
    assert known.changed(None, None)  # the list shows nothing: fetch to be sure

    assert state.new_posts("bbs", ["a", "b", "a"]) == {"a", "b"}
    assert state.new_posts("bbs", ["b", "c"]) == {"c"}
    assert state.new_posts("other", ["a"]) == {"a"}  # per source
    state.close()
    reopened = CrawlState(tmp_path)  # it is a database, not memory
    assert reopened.new_posts("bbs", ["a", "d"]) == {"d"}
    reopened.close()


def test_patrol_log_records_runs_and_events(tmp_path: Path) -> None:
    log = PatrolLog(tmp_path)
    log.record(
        Patrol(
            "bbs",
            T0,
            T0 + timedelta(minutes=2),
            pages=30,
            bytes=900_000,
            posts=40,
            new_posts=7,
            errors={"timeout": 2},
            warnings={"skipped_page_cap": 3},
        )
    )
    log.record(
        Patrol("feed", T0 + timedelta(days=1), T0 + timedelta(days=1, seconds=3), outcome="skipped")
    )
    log.event("bbs", "blocked", "http://bbs.example.cn/x", "安全验证", time=T0)
    [bbs] = log.patrols(since=T0, until=T0 + timedelta(hours=1))
    assert (bbs.pages, bbs.new_posts, bbs.errors) == (30, 7, {"timeout": 2})
    assert [p.source for p in log.patrols()] == ["bbs", "feed"]
    assert log.patrols(source="feed")[0].outcome == "skipped"
    [event] = log.events(kind="blocked")
    assert (event.source, event.detail, event.time) == ("bbs", "安全验证", T0)
    log.close()
