"""Item pipeline running the analysis on every post before it is indexed, and the one place an
Analyzer is built from an institution's settings (the CLI's `yuqing analyze` uses it too)."""

from __future__ import annotations

import asyncio
import fcntl
import json
import logging
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from functools import lru_cache
from pathlib import Path

from scrapy.crawler import Crawler

from analysis.analyzer import Analysis, Analyzer, Item
from analysis.folding import Folder
from analysis.keywords import IdfModel
from analysis.routing import Router, unit_from_model
from analysis.segment import Segmenter
from analysis.sentiment import SentimentModel
from analysis.severity import SeverityPolicy
from analysis.watch import RuleSet, specs_from_models
from core.post import Category, Post, Severity
from core.settings import Settings, load_settings
from crawler.items import PostItem

logger = logging.getLogger(__name__)

_NEWS_KINDS = {"comments": "news"}  # a source kind whose sites count as media pickup
_POLL = 0.05  # seconds: how often waiting items look whether downloads have stopped


@lru_cache(maxsize=2)
def shared_segmenter(words: tuple[str, ...]) -> Segmenter:
    """One segmenter per dictionary per process: the analysis and the index of every source in
    a run share it (building one loads the dictionaries, seconds of CPU)."""
    return Segmenter(words)


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
    return post.model_copy(
        update={
            "keywords": [k.word for k in result.keywords],
            "sentiment": result.sentiment.label,
            "sentiment_score": round(result.sentiment.score, 4),
            "category": Category(result.category.category),
            "severity": result.severity.tier,
            "severity_reasons": list(result.severity.reasons),
            "units": [r.unit_id for r in result.units],
            "watch_rules": [m.rule_id for m in result.watch_rules],
            "cluster": result.cluster.id if result.cluster else post.cluster,
        }
    )


class AnalysisState:
    """The repost clusters and learned IDF kept in the data folder between crawls.

    Crawls run in their own processes; each reads the state when it starts and writes it back
    under a lock when it ends, so a crawl never reads a half-written file. Two crawls that
    overlap each keep their own additions only until the later one writes.
    """

    def __init__(self, data_dir: Path) -> None:
        self.dir = data_dir / "analysis"
        self.dir.mkdir(parents=True, exist_ok=True)

    @contextmanager
    def _locked(self) -> Iterator[None]:
        with (self.dir / ".lock").open("a") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(lock, fcntl.LOCK_UN)

    def load(self, analyzer: Analyzer) -> None:
        with self._locked():
            folding, idf = self.dir / "folding.bin", self.dir / "idf.json"
            try:
                analyzer.folder = (
                    Folder.from_bytes(folding.read_bytes()) if folding.exists() else Folder()
                )
            except ValueError as exc:  # a damaged file costs the clusters, never the crawl
                logger.error("repost clusters in %s unreadable, starting anew: %s", folding, exc)
                analyzer.folder = Folder()
            try:
                if idf.exists():
                    analyzer.idf = IdfModel.from_dict(json.loads(idf.read_text("utf-8")))
            except ValueError as exc:
                logger.error("learned IDF in %s unreadable, starting anew: %s", idf, exc)

    def save(self, analyzer: Analyzer) -> None:
        with self._locked():
            if analyzer.folder is not None:
                _replace(self.dir / "folding.bin", analyzer.folder.to_bytes())
            _replace(self.dir / "idf.json", json.dumps(analyzer.idf.to_dict()).encode("utf-8"))


def _replace(path: Path, data: bytes) -> None:
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_bytes(data)
    tmp.replace(path)


class SharedAnalyzer:
    """One analyzer per institution config per process: every source of a crawl (and every
    crawl a pre-loaded worker runs) shares it, so the dictionaries, the sentiment model and the
    IDF table load once. ``opened`` counts the spiders using it: the first to open loads the
    state from the data folder, each one closing writes it back."""

    def __init__(self, analyzer: Analyzer) -> None:
        self.analyzer = analyzer
        self.opened = 0


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
    """Analyse one throw-away post, learning nothing from it: what the parts build lazily on
    their first post (the keyword prior, the analyzer's own dictionary, caches) is built now,
    before a crawl starts, instead of holding up its first batch."""
    learn, folder = analyzer.learn_idf, analyzer.folder
    analyzer.learn_idf, analyzer.folder = False, None
    try:
        analyzer.analyze([Item(text="学校食堂饭菜涨价，学生反映问题。", title="预热")])
    finally:
        analyzer.learn_idf, analyzer.folder = learn, folder


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
    ) -> None:
        self.shared = shared
        self.analyzer = shared.analyzer
        self.state = state
        self.site_kind = _NEWS_KINDS.get(source_kind, "")
        self.batch_size = max(1, batch)
        self.wait = max(0.0, wait)
        self.idle = idle
        self.pending: list[tuple[PostItem, asyncio.Future[PostItem]]] = []
        self._timer: asyncio.TimerHandle | None = None
        self._deadline = 0.0

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
        )

    def open_spider(self) -> None:
        if self.shared.opened == 0:
            self.state.load(self.analyzer)
        self.shared.opened += 1

    def close_spider(self) -> None:
        try:
            self.flush()
        finally:
            self.shared.opened -= 1
            self.state.save(self.analyzer)

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
        """Analyse what is buffered now and let those items go on."""
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        pending, self.pending = self.pending, []
        if not pending:
            return
        try:
            results = self.analyzer.analyze([self._item(item) for item, _ in pending])
        except Exception:
            # One bad post must not fail the others: analyse them one by one to find it.
            for item, done in pending:
                try:
                    self._done(item, done, self.analyzer.analyze([self._item(item)])[0])
                except Exception as exc:
                    if not done.done():
                        done.set_exception(exc)
            return
        for (item, done), result in zip(pending, results, strict=True):
            self._done(item, done, result)

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

    @staticmethod
    def _done(item: PostItem, done: asyncio.Future[PostItem], result: Analysis) -> None:
        item.post = apply(item.post, result)
        if not done.done():  # a waiter cancelled (the crawl was stopped) wants nothing
            done.set_result(item)
