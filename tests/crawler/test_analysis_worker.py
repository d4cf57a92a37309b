"""The crawl's analysis in a worker process: the same results in the same order as in process,
the worker the one owner of the learned state, and nothing lost when it dies."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest

from analysis.analyzer import Analyzer
from core.post import Post
from crawler.items import PostItem
from crawler.runner import CrawlJob, wants_worker
from pipelines import analysis_worker
from pipelines.analysis import (
    AnalysisPipeline,
    SharedAnalyzer,
    build_analyzer,
    warm_index_segmenter,
)
from pipelines.analysis_state import AnalysisState
from store.sqlite import SqliteIndex, index_tokens
from tests.crawler.server import TestServer
from tests.crawler.test_pipelines import TEXTS as PIPELINE_TEXTS
from tests.store.test_sqlite_tokens import fts_rows

ROOT = Path(__file__).resolve().parents[2]
TEXTS = [
    *PIPELINE_TEXTS,  # the fourth is a repost of the first
    "教学楼电梯又坏了，一周坏三次，学校管不管？",
    "校园招聘会下周举行，欢迎同学们参加。",
]


def _analyzer() -> Analyzer:
    base = build_analyzer(None)  # the segmenter and model are shared within the process
    return Analyzer(segmenter=base.segmenter, sentiment=base.sentiment)


def _items(texts: Sequence[str], source: str = "s") -> list[PostItem]:
    return [
        PostItem(post=Post.create(url=f"http://bbs.example.cn/{source}/{n}", source=source, text=t))
        for n, t in enumerate(texts)
    ]


def _pipelines(shared: SharedAnalyzer, data: Path, deaths: list[str]) -> list[AnalysisPipeline]:
    return [
        AnalysisPipeline(
            shared,
            AnalysisState(data),
            "forum",
            batch=2,
            wait=3600,
            on_worker_death=deaths.append,
        )
        for _ in range(2)
    ]


async def _crawl(pipelines: list[AnalysisPipeline], items: list[list[PostItem]]) -> list[Any]:
    """Two sources at once, items arriving in turns, then each closes (saving the state)."""
    for pipeline in pipelines:
        pipeline.open_spider()
    waiting = [asyncio.ensure_future(p.process_item(i)) for p, i in _turns(pipelines, items)]
    await asyncio.sleep(0)
    for pipeline in pipelines:
        closed = pipeline.close_spider()
        if closed is not None:
            await closed
    return list(await asyncio.gather(*waiting, return_exceptions=True))


def _turns(
    pipelines: list[AnalysisPipeline], items: list[list[PostItem]]
) -> list[tuple[AnalysisPipeline, PostItem]]:
    turns = []
    for n in range(max(len(i) for i in items)):
        turns += [(p, i[n]) for p, i in zip(pipelines, items, strict=True) if n < len(i)]
    return turns


def _posts(out: list[Any]) -> list[Post]:
    assert all(isinstance(item, PostItem) for item in out), out
    return [item.post for item in out]


def _fields(posts: list[Post]) -> list[dict[str, Any]]:
    return [post.model_dump(exclude={"fetched"}) for post in posts]


def test_the_worker_gives_the_in_process_results_in_order_and_owns_the_state(
    tmp_path: Path,
) -> None:
    here = SharedAnalyzer(_analyzer())
    expected = _posts(
        asyncio.run(
            _crawl(_pipelines(here, tmp_path / "a", []), [_items(TEXTS, "a"), _items(TEXTS, "b")])
        )
    )

    parent = _analyzer()
    shared = SharedAnalyzer(parent)
    worker = shared.start_worker()
    deaths: list[str] = []
    try:
        items = [_items(TEXTS, "a"), _items(TEXTS, "b")]
        got = _posts(asyncio.run(_crawl(_pipelines(shared, tmp_path / "b", deaths), items)))
        assert worker.process is not None and worker.process.is_alive()
    finally:
        shared.stop_worker()
    assert _fields(got) == _fields(expected)  # every field, in the order the items came in
    # The items came in turns (a0, b0, a1, ...): a's repost folds into a's first post.
    assert got[6].cluster == got[0].cluster is not None
    assert not deaths and worker.dead is None
    assert worker.process is not None and worker.process.exitcode == 0
    # The worker learned and saved; this process's analyzer was never used.
    assert parent.folder is None and parent.idf.to_dict() == _analyzer().idf.to_dict()
    saved = [json.loads((tmp_path / d / "analysis" / "idf.json").read_text()) for d in "ab"]
    assert saved[0] == saved[1] != _analyzer().idf.to_dict()
    assert (tmp_path / "b" / "analysis" / "folding.bin").stat().st_size > 0  # (times differ)


def test_the_worker_cuts_the_index_tokens_the_index_would(tmp_path: Path) -> None:
    # The index's dictionary is not the analysis's (which has cue words of its own): the tokens
    # must come from the index's segmenter, here one with an institution word.
    words = ("江州理工",)
    texts = [f"江州理工{text}" for text in TEXTS]
    segmenter = warm_index_segmenter(words)  # as crawler.runner.run does before the fork
    shared = SharedAnalyzer(_analyzer())
    shared.start_worker()
    try:
        [pipeline, _] = _pipelines(shared, tmp_path, [])
        pipeline.index_words = words
        items = _items(texts)
        asyncio.run(_crawl([pipeline], [items]))
    finally:
        shared.stop_worker()
    tokens = [item.index_tokens for item in items]
    assert all(t is not None and t.fits(item.post) for t, item in zip(tokens, items, strict=True))
    assert tokens == [index_tokens(segmenter, i.post.title, i.post.text) for i in items]
    assert all("江州理工" in t.body_tokens.split() for t in tokens if t is not None)
    # And what the index writes with them is what it writes cutting the posts itself.
    rows = []
    for name, given in (("cut", None), ("given", tokens)):
        index = SqliteIndex(tmp_path / name, segmenter=segmenter)
        index.init()
        index.upsert([i.post for i in items], given)
        index.close()
        rows.append(fts_rows(tmp_path / name))
    assert rows[0] == rows[1] and len(rows[0]) == len(texts)


def test_a_dead_worker_is_reported_and_the_rest_is_analysed_in_process(tmp_path: Path) -> None:
    shared = SharedAnalyzer(_analyzer())
    worker = shared.start_worker()
    deaths: list[str] = []
    first, second = _pipelines(shared, tmp_path, deaths)

    async def crawl() -> list[Any]:
        first.open_spider()
        early = await asyncio.gather(*(first.process_item(i) for i in _items(TEXTS[:2], "a")))
        assert worker.process is not None and worker.process.pid is not None
        os.kill(worker.process.pid, signal.SIGKILL)
        worker.process.join(10)
        # Sent before anyone noticed: answered here; and so is every batch after.
        late = [first.process_item(i) for i in _items(TEXTS[2:], "a")]
        late += [second.process_item(i) for i in _items(TEXTS, "b")]
        waiting = asyncio.gather(*late, return_exceptions=True)
        await asyncio.sleep(0)
        for pipeline in (first, second):
            closed = pipeline.close_spider()
            assert closed is not None
            await closed
        return [*early, *(await waiting)]

    try:
        posts = _posts(asyncio.run(crawl()))
    finally:
        shared.stop_worker()
    assert len(posts) == 2 * len(TEXTS) and all(p.sentiment for p in posts)
    assert worker.dead is not None and "exit code -9" in worker.dead
    assert deaths == [worker.dead, worker.dead]  # each source's crawl reports it, once
    # The state is saved by this process now, with what it analysed after the death.
    saved = json.loads((tmp_path / "analysis" / "idf.json").read_text("utf-8"))
    assert saved == shared.analyzer.idf.to_dict() != _analyzer().idf.to_dict()


def test_the_worker_exits_when_the_crawl_process_is_killed(tmp_path: Path) -> None:
    script = (
        "import time\n"
        "from pipelines.analysis import SharedAnalyzer, build_analyzer\n"
        "worker = SharedAnalyzer(build_analyzer(None)).start_worker()\n"
        "print(worker.process.pid, flush=True)\n"
        "time.sleep(600)\n"
    )
    with subprocess.Popen(
        [sys.executable, "-c", script], cwd=ROOT, stdout=subprocess.PIPE, text=True
    ) as crawl:
        try:
            assert crawl.stdout is not None
            pid = int(crawl.stdout.readline())
            assert _running(pid)
        finally:
            crawl.kill()
    deadline = time.monotonic() + 30
    while _running(pid) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not _running(pid)


def _running(pid: int) -> bool:
    """Alive and not a zombie waiting for its (new) parent to reap it."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


@pytest.mark.parametrize("asked, cores, wanted", [("auto", 2, True), ("auto", 1, False)])
def test_auto_uses_a_worker_only_with_two_cores(
    monkeypatch: pytest.MonkeyPatch, asked: str, cores: int, wanted: bool
) -> None:
    monkeypatch.setattr(analysis_worker, "cores", lambda: cores)
    assert wants_worker(CrawlJob(sources=[], analysis_worker=asked)) is wanted
    assert wants_worker(CrawlJob(sources=[], analysis_worker=False)) is False
    assert wants_worker(CrawlJob(sources=[], analysis_worker=True)) is True


def test_a_crawl_indexes_the_same_posts_with_and_without_the_worker(
    server: TestServer, crawl: Any, tmp_path: Path
) -> None:
    site = {"id": "news", "kind": "site", "urls": [server.url("/site/index.html")]}
    found: dict[bool, tuple[dict[str, int], list[dict[str, Any]], list[tuple[str, str, str]]]] = {}
    for worker in (True, False):
        data = tmp_path / f"data-{worker}"
        # One request at a time: pages then arrive in the same order in both crawls (the
        # keywords' IDF and the clusters learn from the posts before, so order matters).
        one = {"CONCURRENT_REQUESTS_PER_DOMAIN": 1}
        result = crawl(sources=[site], data_dir=str(data), analysis_worker=worker, settings=one)
        [summary] = result["sources"]
        assert summary["outcome"] == "finished" and "analysis_worker" not in summary["errors"]
        found[worker] = summary["errors"], _index_docs(data), fts_rows(data)
    assert len(found[True][1]) > 5  # articles, forum replies, feed entries
    # The same posts, and the same full-text tokens (cut in the worker, or by the index).
    assert found[True] == found[False]


def _index_docs(data: Path) -> list[dict[str, Any]]:
    """The indexed posts by id (pages arrive in any order), less their fetch time."""
    db = sqlite3.connect(data / "posts.sqlite3")
    try:
        rows = db.execute("SELECT doc FROM posts ORDER BY id").fetchall()
    finally:
        db.close()
    docs = [json.loads(doc) for (doc,) in rows]
    for doc in docs:
        doc.pop("fetched")
    return docs
