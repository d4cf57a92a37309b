"""Item pipeline running the analysis on every post before it is indexed, and the one place an
Analyzer is built from an institution's settings (the CLI's `yuqing analyze` uses it too)."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Sequence
from functools import lru_cache
from pathlib import Path
from typing import Any

from scrapy.crawler import Crawler
from scrapy.exceptions import DropItem
from scrapy.settings import BaseSettings

from analysis.analyzer import WARM_TEXT, Analysis, Analyzer, Item
from analysis.routing import Router, unit_from_model
from analysis.segment import Segmenter
from analysis.sentiment import SentimentModel
from analysis.severity import SeverityPolicy
from analysis.watch import RuleSet, specs_from_models
from core.post import Post, Severity
from core.settings import Settings, load_settings
from crawler.items import PostItem
from pipelines.analysis_state import AnalysisState
from pipelines.analysis_worker import (
    AnalysisWorker,
    Batch,
    Outcome,
    ShortArticle,
    analyse,
    post_fields,
)

__all__ = [
    "AnalysisPipeline",
    "AnalysisState",  # it lived here; pipelines/analysis_state.py now
    "SharedAnalyzer",
    "apply",
    "build_analyzer",
    "index_words",
    "shared_analyzer",
    "shared_segmenter",
    "warm_index_segmenter",
]

logger = logging.getLogger(__name__)

_NEWS_KINDS = {"comments": "news"}  # a source kind whose sites count as media pickup
_POLL = 0.05  # seconds: how often waiting items look whether downloads have stopped


@lru_cache(maxsize=2)
def shared_segmenter(words: tuple[str, ...]) -> Segmenter:
    """One segmenter per dictionary per process: the analysis and the index of every source in
    a run share it (building one loads the dictionaries, seconds of CPU)."""
    return Segmenter(words)


def warm_index_segmenter(words: Sequence[str]) -> Segmenter:
    """The index's segmenter for ``words``, its search-mode cut built (the analyzer's when the
    words are the same): before the analysis worker is forked, so that neither process builds
    it (seconds for a dictionary of its own) inside the crawl."""
    segmenter = shared_segmenter(tuple(words))
    segmenter.index_tokens(WARM_TEXT)
    return segmenter


def index_words(settings: BaseSettings) -> tuple[str, ...] | None:
    """The dictionary of the index's segmenter when the crawl's index takes full-text tokens cut
    beforehand (the embedded SQLite index, which open_configured_index opens with
    ``shared_segmenter`` of these words); None when it cuts them itself (Elasticsearch, or an
    index of another kind)."""
    if settings.getlist("YUQING_ELASTICSEARCH") or settings.get("YUQING_POST_INDEX") != (
        "pipelines.index:open_configured_index"
    ):
        return None
    return tuple(settings.getlist("YUQING_DICTIONARY_WORDS"))


def build_analyzer(settings: Settings | None, segmenter: Segmenter | None = None) -> Analyzer:
    """The institution's analyzer: its dictionary, watch rules, unit directory, tier names.
    An invalid watch rule is left out (and logged), never stopping the others (ALERTING R5)."""
    if settings is None:
        return Analyzer(
            segmenter=segmenter or shared_segmenter(()), sentiment=SentimentModel.load()
        )
    segmenter = segmenter or shared_segmenter(tuple(settings.dictionary_words()))
    rules = RuleSet(specs_from_models(settings.watch_rules), segmenter, skip_invalid=True)
    for error in rules.errors:
        logger.error("watch rule left out: %s", error)
    router = Router((unit_from_model(u) for u in settings.units), segmenter, settings.default_unit)
    tiers = settings.tiers
    policy = SeverityPolicy().tuned(
        names={level: getattr(tiers, level.value).name for level in Severity},
        major_at=tiers.major_at,
        especially_major_at=tiers.especially_major_at,
    )
    return Analyzer(
        segmenter=segmenter,
        sentiment=SentimentModel.load(),
        rules=rules,
        router=router,
        policy=policy,
    )


def apply(post: Post, result: Analysis) -> Post:
    """The post with its analysis fields filled from ``result``."""
    return _filled(post, post_fields(result))


def _filled(post: Post, fields: dict[str, Any]) -> Post:
    if fields["cluster"] is None:
        fields = {**fields, "cluster": post.cluster}
    return post.model_copy(update=fields)


class SharedAnalyzer:
    """One analyzer per institution config per process: every source of a crawl (and every
    crawl a pre-loaded worker runs) shares it, so the dictionaries, the sentiment model and the
    IDF table load once. ``opened`` counts the spiders using it: the first to open loads the
    state from the data folder, each one closing writes it back. With ``worker`` started the
    analysis runs in that process (see pipelines/analysis_worker.py), which then owns the
    learned state."""

    def __init__(self, analyzer: Analyzer) -> None:
        self.analyzer = analyzer
        self.opened = 0
        self.worker: AnalysisWorker | None = None

    def start_worker(self) -> AnalysisWorker:
        """Fork the analysis worker for the crawl about to start in this process."""
        if self.worker is None:
            self.worker = AnalysisWorker(self.analyzer).start()
        return self.worker

    def stop_worker(self) -> None:
        if self.worker is not None:
            self.worker.stop()
            self.worker = None


_SHARED: dict[tuple[str | None, int, tuple[str, ...]], SharedAnalyzer] = {}


def shared_analyzer(config: str | None, words: Sequence[str] = ()) -> SharedAnalyzer:
    """The process's analyzer for the institution ``config`` (a path; None: no institution
    rules) with the dictionary ``words``; rebuilt only when the config file changes."""
    stamp = _stamp(config)
    key = (config, stamp, tuple(words))
    found = _SHARED.get(key)
    if found is None:
        institution = load_settings(config) if config else None
        if institution is not None and not words:
            words = institution.dictionary_words()
        analyzer = build_analyzer(institution, shared_segmenter(tuple(words)))
        _warm_up(analyzer)
        # The same config as it was before an edit: its old analyzer is not wanted again.
        edited = [k for k in _SHARED if k[0] == config and k[1] != stamp]
        for stale in edited:
            if not _SHARED[stale].opened:
                del _SHARED[stale]
        found = _SHARED[key] = SharedAnalyzer(analyzer)
    return found


def _stamp(config: str | None) -> int:
    """When the config (a YAML file or a folder of them) last changed: the newest YAML file's
    time (a folder's own time does not change when a file in it is edited in place). Only the
    files the loader reads count: a data folder kept inside the config folder changes on every
    crawl and must not rebuild the analyzer each time."""
    if not config:
        return 0
    path = Path(config)
    if path.is_file():
        files = [path]
    else:
        files = [f for f in path.glob("*.y*ml") if f.suffix in (".yaml", ".yml") and f.is_file()]
    return max((f.stat().st_mtime_ns for f in files), default=0)


def _warm_up(analyzer: Analyzer) -> None:
    """The analyzer's lazily built parts built now (``Analyzer.warm_up``), before a crawl
    starts, instead of holding up its first batch; the same for the index's search-mode cut
    (the same segmenter): its first post with a run of punctuation built a table (0.2-0.5 s)
    inside the crawl."""
    analyzer.warm_up()
    analyzer.segmenter.index_tokens(WARM_TEXT)


class AnalysisPipeline:
    """Analyses posts in batches (the sentiment model and the repost signatures are fastest
    on batches): an item waits until ``batch`` items are buffered, or ``wait`` seconds have
    passed since the first of them, or no download is under way (no more items are coming
    soon: waiting would only idle), then the batch is analysed in arrival order and each item
    goes on. Nothing goes on before it is analysed; the spider closes only when every item
    has passed, so nothing is left in the buffer."""

    def __init__(
        self,
        shared: SharedAnalyzer,
        state: AnalysisState,
        source_kind: str,
        *,
        batch: int = 16,
        wait: float = 0.5,
        idle: Callable[[], bool] = lambda: False,
        on_worker_death: Callable[[str], None] = lambda _why: None,
        index_words: tuple[str, ...] | None = None,
    ) -> None:
        self.shared = shared
        self.analyzer = shared.analyzer
        self.worker = shared.worker  # None: analysed here, on the reactor thread
        self.state = state
        self.site_kind = _NEWS_KINDS.get(source_kind, "")
        self.batch_size = max(1, batch)
        self.wait = max(0.0, wait)
        self.idle = idle
        self.on_worker_death = on_worker_death
        # With a worker, the index's full-text tokens are cut there too (see index_words).
        self.index_words = index_words
        self.pending: list[tuple[PostItem, asyncio.Future[PostItem]]] = []
        self._timer: asyncio.TimerHandle | None = None
        self._deadline = 0.0
        self._death_reported = False

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> AnalysisPipeline:
        settings = crawler.settings
        shared = shared_analyzer(
            settings.get("YUQING_CONFIG"), settings.getlist("YUQING_DICTIONARY_WORDS")
        )
        state = AnalysisState(Path(settings.get("YUQING_DATA_DIR")))
        return cls(
            shared,
            state,
            settings.get("YUQING_SOURCE_KIND", ""),
            batch=settings.getint("YUQING_ANALYSIS_BATCH", 16),
            wait=settings.getfloat("YUQING_ANALYSIS_WAIT", 0.5),
            idle=lambda: crawler.engine is None or not crawler.engine.downloader.active,
            on_worker_death=lambda why: _report_worker_death(crawler, why),
            index_words=index_words(settings),
        )

    def open_spider(self) -> None:
        if self.shared.opened == 0:
            if self.worker is not None:
                self.worker.load(self.state.data_dir).add_done_callback(_log_failure)
            else:
                self.state.load(self.analyzer)
        self.shared.opened += 1

    def close_spider(self) -> asyncio.Future[None] | None:
        """Flush; then the state is saved (by the worker when there is one: the future is done
        when it has saved, so the crawl ends only after that)."""
        try:
            self.flush()
        finally:
            self.shared.opened -= 1
            if self.worker is None:
                self.state.save(self.analyzer)
        if self.worker is None:
            return None
        return asyncio.ensure_future(self._saved(self.worker.save(self.state.data_dir)))

    async def _saved(self, saving: asyncio.Future[None]) -> None:
        try:
            await saving
        finally:
            self._check_worker()

    def _check_worker(self) -> None:
        if self.worker is not None and self.worker.dead and not self._death_reported:
            self._death_reported = True
            self.on_worker_death(self.worker.dead)

    async def process_item(self, item: PostItem) -> PostItem:
        done: asyncio.Future[PostItem] = asyncio.get_running_loop().create_future()
        self.pending.append((item, done))
        if len(self.pending) >= self.batch_size or self.idle():
            self.flush()
        elif self._timer is None:
            self._deadline = asyncio.get_running_loop().time() + self.wait
            self._tick()
        return await done

    def _tick(self) -> None:
        """While items wait: go at the deadline, or as soon as downloads stop."""
        loop = asyncio.get_running_loop()
        if self.idle() or loop.time() >= self._deadline:
            self.flush()
        else:
            self._timer = loop.call_later(min(_POLL, self.wait), self._tick)

    def flush(self) -> None:
        """Analyse what is buffered now and let those items go on (with a worker: when its
        answer comes; meanwhile the reactor goes on fetching and extracting)."""
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        pending, self.pending = self.pending, []
        if not pending:
            return
        if self.worker is None:
            self._finish(pending, analyse(self.analyzer, [self._item(i) for i, _ in pending]))
            return
        entries = [(self._item(i), i.extract, i.post.url) for i, _ in pending]
        answer = self.worker.analyse(Batch(entries, self.index_words))
        answer.add_done_callback(lambda done: self._answered(pending, done))

    def _answered(
        self,
        pending: list[tuple[PostItem, asyncio.Future[PostItem]]],
        answer: asyncio.Future[list[Outcome]],
    ) -> None:
        self._check_worker()
        if answer.cancelled():
            return
        error = answer.exception()
        if error is not None:  # not a post's failure: the request itself failed
            for _, done in pending:
                if not done.done():
                    done.set_exception(error)
            return
        self._finish(pending, answer.result())

    def _finish(
        self, pending: list[tuple[PostItem, asyncio.Future[PostItem]]], outcomes: list[Outcome]
    ) -> None:
        for (item, done), outcome in zip(pending, outcomes, strict=True):
            if done.done():  # a waiter cancelled (the crawl was stopped) wants nothing
                continue
            if isinstance(outcome, ShortArticle):  # as the spider skips such a page
                done.set_exception(DropItem(str(outcome), log_level="DEBUG"))
            elif isinstance(outcome, Exception):
                done.set_exception(outcome)
            else:
                item.index_tokens = outcome.pop("index_tokens", None)
                item.post, item.extract = _filled(item.post, outcome), None
                done.set_result(item)

    def _item(self, item: PostItem) -> Item:
        post = item.post
        return Item(
            text=post.text,
            title=post.title,
            id=post.id,
            site=post.site,
            time=post.time,
            replies=post.reply_count or 0,
            site_kind=self.site_kind,
        )


def _report_worker_death(crawler: Crawler, why: str) -> None:
    """A dead worker is an error of the source's crawl (summary, patrol log) and an event."""
    assert crawler.stats is not None
    crawler.stats.set_value("yuqing/errors/analysis_worker", 1)
    record = getattr(crawler.spider, "record_event", None)
    if record is not None:
        record("analysis_worker", "", why)


def _log_failure(future: asyncio.Future[None]) -> None:
    if not future.cancelled() and future.exception() is not None:
        logger.error("analysis state not loaded: %s", future.exception())
