"""The spool: nothing written is lost across an index outage, a crash, or a damaged batch."""

from __future__ import annotations

import os
import random
import shutil
import socket
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path

import pytest

from core.post import Post
from store.base import IndexUnavailable, SearchQuery
from store.elasticsearch import ElasticsearchIndex
from store.spool import SpooledIndex
from store.sqlite import IndexTokens, SqliteIndex
from tests.conftest import ROOT, start_elasticsearch
from tests.store.spool_child import posts as crash_posts


def make_posts(start: int, n: int) -> list[Post]:
    return [
        Post.create(url=f"https://bbs.example.edu.cn/t/{i}", source="bbs", text=f"第{i}帖 食堂")
        for i in range(start, start + n)
    ]


class SwitchableIndex(SqliteIndex):
    """A real SQLite index that can be told to be unreachable, and records what it took."""

    def __init__(self, data_dir: Path) -> None:
        super().__init__(data_dir)
        self.down = False
        self.received: list[list[str]] = []

    def upsert(
        self, posts: Iterable[Post], tokens: Sequence[IndexTokens | None] | None = None
    ) -> int:
        batch = list(posts)
        if self.down:
            raise IndexUnavailable("switched off by the test")
        self.received.append([p.id for p in batch])
        return super().upsert(batch, tokens)


def all_ids(index: ElasticsearchIndex | SqliteIndex) -> list[str]:
    seen: list[str] = []
    token = None
    while True:
        page = index.search(SearchQuery(limit=1000, page_token=token))
        seen += [p.id for p in page.posts]
        token = page.next_page_token
        if token is None:
            return seen


def test_writes_pass_through_and_leave_nothing_spooled(tmp_path: Path) -> None:
    inner = SwitchableIndex(tmp_path / "data")
    spooled = SpooledIndex(inner, tmp_path / "spool")
    assert spooled.upsert(make_posts(0, 5)) == 5
    assert spooled.pending() == 0
    assert sorted(all_ids(inner)) == sorted(p.id for p in make_posts(0, 5))
    assert spooled.search(SearchQuery(text="食堂")).total == 5  # reads pass through
    assert [p.name for p in (tmp_path / "spool").glob("*.jsonl")] == []
    spooled.close()


def test_outage_spools_then_replays_in_order(tmp_path: Path) -> None:
    inner = SwitchableIndex(tmp_path / "data")
    spooled = SpooledIndex(inner, tmp_path / "spool")
    spooled.upsert(make_posts(0, 2))
    inner.down = True
    assert spooled.upsert(make_posts(2, 3)) == 3  # returns normally: the caller loses nothing
    spooled.upsert(make_posts(5, 4))
    assert spooled.pending() == 7
    assert "switched off" in str(spooled.status().get("spool_error", ""))
    assert spooled.flush() == 0
    inner.down = False
    spooled.upsert(make_posts(9, 1))
    assert spooled.pending() == 0
    assert inner.received == [
        [p.id for p in make_posts(0, 2)],
        [p.id for p in make_posts(2, 3)],
        [p.id for p in make_posts(5, 4)],
        [p.id for p in make_posts(9, 1)],
    ]
    assert len(all_ids(inner)) == 10
    spooled.close()


def test_pending_batches_replay_when_opened_again(tmp_path: Path) -> None:
    inner = SwitchableIndex(tmp_path / "data")
    inner.down = True
    first = SpooledIndex(inner, tmp_path / "spool")
    first.upsert(make_posts(0, 3))
    first._lock_file.close()  # as a process that ended would
    inner.down = False
    reopened = SpooledIndex(inner, tmp_path / "spool")
    assert reopened.pending() == 0
    assert len(all_ids(inner)) == 3
    reopened.close()


def test_damaged_batch_is_set_aside_and_does_not_block(tmp_path: Path) -> None:
    inner = SwitchableIndex(tmp_path / "data")
    spool = tmp_path / "spool"
    spooled = SpooledIndex(inner, spool)
    inner.down = True
    spooled.upsert(make_posts(0, 2))
    (spool / "000000000001.jsonl").write_text('{"id": "truncat\n')
    spooled.upsert(make_posts(2, 2))
    inner.down = False
    spooled.flush()
    assert spooled.pending() == 0
    assert sorted(all_ids(inner)) == sorted(p.id for p in make_posts(2, 2))
    assert [p.name for p in (spool / "damaged").iterdir()] == ["000000000001.jsonl"]
    spooled.close()


def test_half_written_batch_of_a_crashed_writer_is_dropped(tmp_path: Path) -> None:
    spool = tmp_path / "spool"
    spool.mkdir()
    (spool / ".tmp-999999-1").write_text('{"id": "half')
    inner = SwitchableIndex(tmp_path / "data")
    spooled = SpooledIndex(inner, spool)
    assert spooled.pending() == 0
    assert not (spool / ".tmp-999999-1").exists()
    spooled.close()


def test_unusable_spool_folder_is_a_clear_error(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("")
    with pytest.raises(OSError, match=r"cannot use .* as the post spool"):
        SpooledIndex(SwitchableIndex(tmp_path / "data"), blocker / "spool")


@pytest.mark.elasticsearch
@pytest.mark.parametrize("when", ["before-send", "after-send"])
def test_crash_before_acknowledging_replays_at_open(
    elasticsearch_url: str, tmp_path: Path, when: str
) -> None:
    prefix = f"test-crash-{uuid.uuid4().hex[:8]}"
    spool = tmp_path / "spool"
    child = subprocess.run(
        [sys.executable, "-m", "tests.store.spool_child", elasticsearch_url, prefix, str(spool),
         when, "40"],
        cwd=ROOT, capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert child.returncode == -9, child.stderr
    assert len(list(spool.glob("*.jsonl"))) == 1  # on disk, never acknowledged
    index = ElasticsearchIndex([elasticsearch_url], prefix=prefix, refresh=True)
    try:
        before = index.search(SearchQuery(limit=1)).total
        assert before == (40 if when == "after-send" else 0)
        spooled = SpooledIndex(index, spool)  # replays at open
        assert spooled.pending() == 0
        ids = all_ids(index)
        assert len(ids) == 40
        assert set(ids) == {p.id for p in crash_posts(40)}
        spooled._lock_file.close()
    finally:
        index.delete_all()
        index.close()


def run_es_script(command: str, port: str) -> None:
    run = subprocess.run(
        [str(ROOT / "scripts" / "elasticsearch"), command],
        env={**os.environ, "YUQING_ES_PORT": port},
        capture_output=True, text=True, timeout=300, check=False,
    )  # fmt: skip
    assert run.returncode == 0, run.stderr


def free_port() -> str:
    """A port free for HTTP with port+100 free for transport; a port of its own per test run,
    so that runs going on in parallel never stop each other's server."""
    rnd = random.Random()
    for _ in range(100):
        port = rnd.randrange(20000, 29900)
        try:
            for p in (port, port + 100):
                with socket.socket() as s:
                    s.bind(("127.0.0.1", p))
        except OSError:
            continue
        return str(port)
    raise RuntimeError("no free port pair for a second Elasticsearch")


@pytest.fixture(scope="module")
def outage_es() -> Iterator[str]:
    """An Elasticsearch of its own (own port and data), which this test stops and restarts."""
    port = os.environ.get("YUQING_TEST_ES_OUTAGE_PORT") or free_port()
    url = start_elasticsearch({"YUQING_ES_PORT": port})
    try:
        yield url
    finally:
        run_es_script("stop", port)
        home = ROOT / ".cache" / "elasticsearch" / f"node-{port}"
        if "YUQING_TEST_ES_OUTAGE_PORT" not in os.environ and home.is_dir():
            shutil.rmtree(home)


class Writer(threading.Thread):
    """A stream of small batches through the spool, as a crawler would write them."""

    def __init__(self, index: SpooledIndex) -> None:
        super().__init__(daemon=True)
        self.index = index
        self.written: list[str] = []
        self.batches = 0
        self.max_pending = 0
        self.stop = threading.Event()
        self.error: BaseException | None = None

    def run(self) -> None:
        try:
            while not self.stop.is_set():
                batch = make_posts(len(self.written), 10)
                self.index.upsert(batch)
                self.written += [p.id for p in batch]
                self.batches += 1
                time.sleep(0.05)
        except BaseException as exc:  # handed to the test thread, which fails with it
            self.error = exc

    def wait_batches(self, n: int, timeout: float = 120) -> None:
        target = self.batches + n
        deadline = time.monotonic() + timeout
        while self.batches < target:
            assert self.error is None, self.error
            assert time.monotonic() < deadline, "the writer stalled"
            time.sleep(0.05)


@pytest.mark.elasticsearch
@pytest.mark.slow
def test_no_post_lost_when_elasticsearch_stops_mid_stream(outage_es: str, tmp_path: Path) -> None:
    port = outage_es.rsplit(":", 1)[1]
    index = ElasticsearchIndex([outage_es], prefix=f"test-outage-{uuid.uuid4().hex[:8]}",
                               request_timeout=5)  # fmt: skip
    spooled = SpooledIndex(index, tmp_path / "spool")
    writer = Writer(spooled)
    writer.start()
    try:
        writer.wait_batches(10)
        run_es_script("stop", port)
        writer.wait_batches(10)  # written while Elasticsearch is down
        spooled_during_outage = spooled.pending()
        run_es_script("start", port)
        writer.wait_batches(10)
    finally:
        writer.stop.set()
        writer.join(timeout=120)
    assert writer.error is None, writer.error
    # Ten batches were written with the server down; the first may have been sent just before.
    assert spooled_during_outage >= 90
    deadline = time.monotonic() + 60
    while spooled.pending() and time.monotonic() < deadline:
        spooled.flush()
        time.sleep(0.5)
    assert spooled.pending() == 0
    index.client.indices.refresh(index=index.alias)
    ids = all_ids(index)
    assert len(ids) == len(writer.written) == len(set(ids))  # none lost, none doubled
    assert set(ids) == set(writer.written)
    index.delete_all()
    spooled.close()


@pytest.mark.elasticsearch
def test_a_post_elasticsearch_refuses_for_good_is_set_aside_and_the_rest_flow(
    elasticsearch_url: str, tmp_path: Path
) -> None:
    """A keyword longer than Lucene's 32,766-byte term limit (a broken page's "author") gets a
    400 for that document alone. Before, it failed the whole batch on every replay, so nothing
    after it ever reached the index."""
    prefix = f"test-{uuid.uuid4().hex[:10]}"
    index = ElasticsearchIndex([elasticsearch_url], prefix=prefix, refresh=True)
    index.init()
    spooled = SpooledIndex(index, tmp_path / "spool")
    good = make_posts(0, 3)
    bad = Post.create(
        url="https://bbs.example.edu.cn/t/huge", source="bbs", text="食堂", author="楼" * 12000
    )
    later = make_posts(3, 2)
    try:
        spooled.upsert([good[0], bad, *good[1:]])
        spooled.upsert(later)
        assert sorted(all_ids(index)) == sorted(p.id for p in [*good, *later])
        assert spooled.pending() == 0
        aside = tmp_path / "spool" / "damaged" / "000000000001-rejected.jsonl"
        assert [Post.model_validate_json(line).id for line in aside.read_text().splitlines()] == [
            bad.id
        ]
        reasons = aside.with_name("000000000001-rejected.reasons.txt").read_text()
        assert reasons.startswith(f"{bad.id}\t400: ") and "[author]" in reasons
        assert len(reasons) < 400  # the reason quotes the value: it is cut, not kept whole
        assert spooled.status()["spool_set_aside"] == [
            "000000000001-rejected.jsonl",
            "000000000001-rejected.reasons.txt",
        ]
    finally:
        index.delete_all()
        spooled.close()


def test_a_write_failing_for_a_moment_still_retries_the_whole_batch(tmp_path: Path) -> None:
    """Only a refusal for good is set aside; a plain outage keeps every post spooled."""
    inner = SwitchableIndex(tmp_path / "data")
    inner.init()
    spooled = SpooledIndex(inner, tmp_path / "spool")
    inner.down = True
    spooled.upsert(make_posts(0, 2))
    assert spooled.pending() == 2
    assert list((tmp_path / "spool" / "damaged").iterdir()) == []
    inner.down = False
    assert spooled.flush() == 2
    spooled.close()
