"""The analysis pipeline: batches give the same posts as one-by-one analysis, in order, a bad
post fails alone, nothing waits past close, and one analyzer serves every source of a process."""

from __future__ import annotations

import asyncio
import os
import shutil
import time
from collections.abc import Sequence
from pathlib import Path

import pytest
from scrapy.utils.test import get_crawler

from analysis.analyzer import Analysis, Analyzer, Item
from core.post import Post
from crawler.items import PostItem
from crawler.runner import CrawlJob, preload
from pipelines import analysis as analysis_pipeline
from pipelines.analysis import (
    AnalysisPipeline,
    AnalysisState,
    SharedAnalyzer,
    apply,
    build_analyzer,
    shared_analyzer,
)
from pipelines.index import open_configured_index
from store.sqlite import SqliteIndex

ROOT = Path(__file__).resolve().parents[2]
TEXTS = [
    "学校食堂的饭菜又涨价了，学生意见很大，后勤处一直没有回应。",
    "图书馆今天延长开放时间到晚上十一点，感谢学校的安排！",
    "宿舍楼停水两天了，到现在还没有通知什么时候恢复，太差了。",
    "学校食堂的饭菜又涨价了，学生意见很大，后勤处一直没有回应！",  # a repost of the first
    "期末考试安排已经公布，请同学们登录教务系统查看。",
]


class Recording(Analyzer):
    """A real analyzer that records its batch sizes and refuses a post saying BOOM."""

    batches: list[int]

    def analyze(self, items: Sequence[Item]) -> list[Analysis]:
        self.batches.append(len(items))
        if any("BOOM" in item.text for item in items):
            raise ValueError("cannot analyse BOOM")
        return super().analyze(items)


def _recording(tmp_path: Path) -> Recording:
    base = build_analyzer(None)
    analyzer = Recording(segmenter=base.segmenter, sentiment=base.sentiment)
    analyzer.batches = []
    AnalysisState(tmp_path).load(analyzer)  # an empty data folder: a fresh repost folder
    return analyzer


def _items(texts: Sequence[str]) -> list[PostItem]:
    return [
        PostItem(post=Post.create(url=f"http://bbs.example.cn/t/{n}", source="s", text=text))
        for n, text in enumerate(texts)
    ]


def _pipeline(analyzer: Analyzer, tmp_path: Path, *, batch: int, wait: float) -> AnalysisPipeline:
    state = AnalysisState(tmp_path / "state")
    return AnalysisPipeline(
        SharedAnalyzer(analyzer), state, "forum", batch=batch, wait=wait, idle=lambda: False
    )


async def _through(pipeline: AnalysisPipeline, items: list[PostItem]) -> list[object]:
    return await asyncio.gather(*(pipeline.process_item(i) for i in items), return_exceptions=True)


def test_batches_analyse_exactly_as_one_post_at_a_time(tmp_path: Path) -> None:
    batched = _recording(tmp_path / "a")
    pipeline = _pipeline(batched, tmp_path, batch=3, wait=3600)
    items = _items(TEXTS)
    originals = [item.post for item in items]  # the pipeline sets item.post to a new Post
    # Five items, batches of three: three go at once, the last two when the pipeline closes
    # (a wait of an hour never fires: without the flush on close this test hangs).
    out = asyncio.run(_closing(pipeline, items))
    assert batched.batches == [3, 2]
    assert out == items  # the same items, in order

    single = _recording(tmp_path / "b")
    for got, post in zip(items, originals, strict=True):
        [result] = single.analyze(
            [Item(text=post.text, title=post.title, id=post.id, site=post.site, time=post.time)]
        )
        assert got.post == apply(post, result)
    assert single.batches == [1] * len(TEXTS)
    # The repost folds into the first post's cluster, across the batch boundary too.
    assert items[3].post.cluster == items[0].post.cluster is not None


async def _closing(pipeline: AnalysisPipeline, items: list[PostItem]) -> list[object]:
    pipeline.open_spider()
    waiting = asyncio.gather(*(pipeline.process_item(i) for i in items))
    await asyncio.sleep(0)  # every item is in the pipeline now
    pipeline.close_spider()  # flushes what is still buffered
    return list(await waiting)


def test_a_short_wait_lets_a_partial_batch_go(tmp_path: Path) -> None:
    analyzer = _recording(tmp_path)
    pipeline = _pipeline(analyzer, tmp_path, batch=100, wait=0.01)
    out = asyncio.run(_through(pipeline, _items(TEXTS[:2])))
    assert analyzer.batches == [2]
    assert all(isinstance(i, PostItem) and i.post.sentiment for i in out)


def test_items_go_at_once_when_no_download_is_under_way(tmp_path: Path) -> None:
    analyzer = _recording(tmp_path)
    downloads = [1]  # one download under way, then none
    pipeline = AnalysisPipeline(
        SharedAnalyzer(analyzer),
        AnalysisState(tmp_path / "state"),
        "forum",
        batch=100,
        wait=3600,
        idle=lambda: not downloads,
    )

    async def run() -> list[object]:
        waiting = asyncio.gather(*(pipeline.process_item(i) for i in _items(TEXTS[:3])))
        await asyncio.sleep(0.2)
        assert analyzer.batches == []  # a download is under way: more items may come
        downloads.clear()
        return list(await waiting)

    out = asyncio.run(run())
    assert analyzer.batches == [3] and all(isinstance(i, PostItem) for i in out)


def test_one_bad_post_fails_alone(tmp_path: Path) -> None:
    analyzer = _recording(tmp_path)
    pipeline = _pipeline(analyzer, tmp_path, batch=3, wait=60)
    items = _items([TEXTS[0], "BOOM", TEXTS[1]])
    out = asyncio.run(_through(pipeline, items))
    assert isinstance(out[1], ValueError)
    assert out[0] is items[0] and out[2] is items[2]
    assert items[0].post.sentiment and items[2].post.sentiment
    assert analyzer.batches == [3, 1, 1, 1]  # the batch, then each post on its own


def test_every_source_of_a_process_shares_one_analyzer(tmp_path: Path) -> None:
    settings = {"YUQING_DATA_DIR": str(tmp_path), "YUQING_DICTIONARY_WORDS": ["江州理工"]}
    first = AnalysisPipeline.from_crawler(get_crawler(settings_dict=settings))
    second = AnalysisPipeline.from_crawler(get_crawler(settings_dict=settings))
    assert first.analyzer is second.analyzer
    assert shared_analyzer(None, ["江州理工"]) is first.shared
    # The first spider to open loads the state, the others find it loaded; each close saves.
    first.open_spider()
    asyncio.run(_through(first, _items(TEXTS[:1])))
    second.open_spider()  # must not reload: the first post's cluster would be forgotten
    asyncio.run(_through(second, _items(TEXTS[3:4])))
    first.close_spider()
    second.close_spider()
    assert first.shared.opened == 0
    assert (tmp_path / "analysis" / "folding.bin").exists()


@pytest.mark.parametrize("words", [[], ["江州理工"]])
def test_the_index_segments_with_the_analysis_segmenter(tmp_path: Path, words: list[str]) -> None:
    settings = {"YUQING_DATA_DIR": str(tmp_path), "YUQING_DICTIONARY_WORDS": words}
    index = open_configured_index(get_crawler(settings_dict=settings).settings)
    try:
        assert isinstance(index, SqliteIndex)
        assert index.segmenter is shared_analyzer(None, words).analyzer.segmenter
    finally:
        index.close()


def test_preload_builds_the_analyzer_a_crawl_then_uses(tmp_path: Path) -> None:
    words = ["江州理工", "南区食堂"]
    stale = [key for key in analysis_pipeline._SHARED if key[2] == tuple(words)]
    for key in stale:
        del analysis_pipeline._SHARED[key]
    preload(CrawlJob(sources=[], dictionary_words=words))
    built = shared_analyzer(None, words)
    assert [k for k in analysis_pipeline._SHARED if k[2] == tuple(words)]  # built by preload
    settings = {"YUQING_DATA_DIR": str(tmp_path), "YUQING_DICTIONARY_WORDS": words}
    assert AnalysisPipeline.from_crawler(get_crawler(settings_dict=settings)).shared is built


def test_the_warm_up_learns_nothing() -> None:
    analyzer = build_analyzer(None)
    before = analyzer.idf.to_dict()
    analysis_pipeline._warm_up(analyzer)
    assert analyzer.idf.to_dict() == before and analyzer.folder is None


def test_an_edited_config_gets_a_new_analyzer(tmp_path: Path) -> None:
    config = tmp_path / "config"
    shutil.copytree(ROOT / "config" / "example", config)
    first = shared_analyzer(str(config))
    assert shared_analyzer(str(config)) is first
    rules = config / "rules.yaml"
    rules.write_text(rules.read_text(encoding="utf-8") + "\n", encoding="utf-8")
    later = rules.stat().st_mtime_ns + 1_000_000_000
    os.utime(rules, ns=(later, later))  # edited in place: the folder's own time is unchanged
    second = shared_analyzer(str(config))
    assert second is not first
    assert [k for k in analysis_pipeline._SHARED if k[0] == str(config)] == [
        (str(config), later, ())
    ]


def test_a_data_folder_inside_the_config_folder_does_not_rebuild_the_analyzer(
    tmp_path: Path,
) -> None:
    """Only the YAML files the loader reads count as the config: the data folder changes on
    every crawl (index, evidence, state) and would otherwise rebuild the analyzer each time."""
    config = tmp_path / "config"
    shutil.copytree(ROOT / "config" / "example", config)
    first = shared_analyzer(str(config))
    data = config / "data"
    data.mkdir()
    (data / "posts.sqlite3").write_bytes(b"written by a crawl")
    later = time.time_ns() + 5_000_000_000
    os.utime(data / "posts.sqlite3", ns=(later, later))
    assert shared_analyzer(str(config)) is first
