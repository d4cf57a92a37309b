"""Item pipeline running the analysis on every post before it is indexed, and the one place an
Analyzer is built from an institution's settings (the CLI's `yuqing analyze` uses it too)."""

from __future__ import annotations

import fcntl
import json
import logging
from collections.abc import Iterator
from contextlib import contextmanager
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


def build_analyzer(settings: Settings | None, segmenter: Segmenter | None = None) -> Analyzer:
    """The institution's analyzer: its dictionary, watch rules, unit directory, tier names.
    An invalid watch rule is left out (and logged), never stopping the others (ALERTING R5)."""
    if settings is None:
        return Analyzer(segmenter=segmenter or Segmenter(), sentiment=SentimentModel.load())
    segmenter = segmenter or Segmenter(settings.dictionary_words())
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


class AnalysisPipeline:
    def __init__(self, analyzer: Analyzer, state: AnalysisState, source_kind: str) -> None:
        self.analyzer = analyzer
        self.state = state
        self.site_kind = _NEWS_KINDS.get(source_kind, "")

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> AnalysisPipeline:
        settings = crawler.settings
        config = settings.get("YUQING_CONFIG")
        institution = load_settings(config) if config else None
        words = settings.getlist("YUQING_DICTIONARY_WORDS")
        analyzer = build_analyzer(institution, Segmenter(words) if words else None)
        state = AnalysisState(Path(settings.get("YUQING_DATA_DIR")))
        return cls(analyzer, state, settings.get("YUQING_SOURCE_KIND", ""))

    def open_spider(self) -> None:
        self.state.load(self.analyzer)

    def close_spider(self) -> None:
        self.state.save(self.analyzer)

    def process_item(self, item: PostItem) -> PostItem:
        post = item.post
        result = self.analyzer.analyze(
            [
                Item(
                    text=post.text,
                    title=post.title,
                    id=post.id,
                    site=post.site,
                    time=post.time,
                    replies=post.reply_count or 0,
                    site_kind=self.site_kind,
                )
            ]
        )[0]
        item.post = apply(post, result)
        return item
