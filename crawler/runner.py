"""Run one or more sources in a Scrapy CrawlerProcess in this process, one crawler per source (so
one failing source never stops another), record each in the patrol log and return summaries.

``python -m crawler.runner JOB.json`` runs a CrawlJob in a fresh process (the reactor cannot
restart) and prints the summaries as one JSON line: the daemon and the tests use this.
"""

from __future__ import annotations

import json
import logging
import sys
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError
from scrapy import Spider, signals
from scrapy.crawler import Crawler, CrawlerProcess
from scrapy.settings import Settings as ScrapySettings
from twisted.python.failure import Failure

from core.post import SourceKind
from core.settings import Crawl, Settings, Source
from crawler import time_limit
from crawler.middlewares import load_object_path
from crawler.settings import crawl_settings
from store.patrol_log import Patrol, PatrolLog

# The spider for each kind of source: an explicit registry, imported when a source needs it.
SPIDERS: dict[SourceKind, str] = {
    SourceKind.FEED: "crawler.spiders.feed:FeedSpider",
    SourceKind.SITE: "crawler.spiders.site:SiteSpider",
    SourceKind.FORUM: "crawler.spiders.forum:ForumSpider",
    SourceKind.COMMENTS: "crawler.spiders.comments:CommentsSpider",
}

logger = logging.getLogger(__name__)

Progress = Callable[[str, int, int], None]  # (source id, pages so far, posts so far)


class CrawlJob(BaseModel):
    """One crawl: which sources, where the data lives, and the few knobs a run may turn."""

    model_config = ConfigDict(extra="forbid")

    sources: list[Source]
    data_dir: Path = Path("data")
    allow_private_addresses: bool = False
    force: bool = False  # an on-demand crawl: ignore the sources' backoff and feed ttl
    out: Path | None = None  # JSON lines of every post, for `yuqing crawl --out`
    elasticsearch: list[str] = Field(default_factory=list)
    index_prefix: str = "yuqing"
    evidence_days: int = 180
    settings: dict[str, Any] = Field(default_factory=dict)  # Scrapy settings on top of ours
    # Per source id: Scrapy settings from the config's politeness (see job_for).
    source_settings: dict[str, dict[str, Any]] = Field(default_factory=dict)
    dictionary_words: list[str] = Field(default_factory=list)  # for the index's segmenter
    # The institution's config, for the analysis pipeline (watch rules, units, tiers); without
    # it posts are analysed with no institution rules (sentiment, category, severity only).
    config: str | None = None
    log_level: str = "WARNING"
    # The analysis in a worker process beside the reactor ("auto": when there are 2+ cores).
    analysis_worker: bool | Literal["auto"] = "auto"


class SourceSummary(BaseModel):
    source: str
    kind: str
    outcome: str  # finished, blocked, skipped, failed
    started: datetime
    ended: datetime
    pages: int = 0
    bytes: int = 0
    posts: int = 0
    new_posts: int = 0
    not_modified: int = 0
    errors: dict[str, int] = Field(default_factory=dict)
    warnings: dict[str, int] = Field(default_factory=dict)
    detail: str = ""


def _settings_for(
    job: CrawlJob, source: Source, spidercls: type[Spider], extract_in_worker: bool = False
) -> ScrapySettings:
    """Per-source settings at "cmdline" priority: CrawlerProcess merges its own settings into
    every crawler it runs, and only a higher priority keeps these."""
    values = crawl_settings(
        {
            "LOG_LEVEL": job.log_level,
            "YUQING_DATA_DIR": str(job.data_dir),
            "YUQING_ALLOW_PRIVATE": job.allow_private_addresses,
            "YUQING_EVIDENCE_DAYS": job.evidence_days,
            "YUQING_ELASTICSEARCH": job.elasticsearch,
            "YUQING_INDEX_PREFIX": job.index_prefix,
            "YUQING_OUT": str(job.out) if job.out else None,
            "YUQING_MAX_PAGES": source.max_pages,
            "DEPTH_LIMIT": source.max_depth,
            "YUQING_MAX_DEPTH": source.max_depth,
            "YUQING_DICTIONARY_WORDS": job.dictionary_words,
            "YUQING_CONFIG": job.config,
            "YUQING_SOURCE_KIND": source.kind.value,
            "YUQING_EXTRACT_IN_WORKER": extract_in_worker,
            **job.source_settings.get(source.id, {}),
            **(spidercls.custom_settings or {}),
            **job.settings,
        }
    )
    settings = ScrapySettings()
    settings.setdict(values, priority="cmdline")
    return settings


def politeness_settings(crawl: Crawl) -> dict[str, Any]:
    """The config's politeness for one source as Scrapy settings."""
    return {
        "USER_AGENT": crawl.user_agent,
        "DOWNLOAD_DELAY": crawl.delay.total_seconds(),
        "CONCURRENT_REQUESTS_PER_DOMAIN": crawl.concurrency,
        "DOWNLOAD_TIMEOUT": crawl.timeout.total_seconds(),
        "RETRY_TIMES": crawl.retries,
        "ROBOTSTXT_OBEY": crawl.obey_robots,
        "DOWNLOAD_MAXSIZE": crawl.max_page_bytes,
        "DOWNLOAD_WARNSIZE": min(crawl.max_page_bytes, 2 * 1024 * 1024),
        # The source's own time limit (crawler/time_limit.py): it stops, keeping what it has
        # fetched, while the other sources of the job go on.
        "YUQING_RUN_TIMEOUT": crawl.run_timeout.total_seconds(),
    }


def job_for(settings: Settings, sources: list[Source], **job: Any) -> CrawlJob:
    """A job for ``sources`` under the institution's ``settings`` (storage, politeness)."""
    storage = settings.storage
    return CrawlJob(
        sources=sources,
        data_dir=storage.data_dir,
        allow_private_addresses=settings.allow_private_addresses,
        elasticsearch=list(storage.elasticsearch),
        index_prefix=storage.index_prefix,
        evidence_days=storage.evidence_days,
        source_settings={s.id: politeness_settings(settings.politeness(s)) for s in sources},
        dictionary_words=settings.dictionary_words(),
        **{"analysis_worker": settings.crawl.analysis_worker, **job},
    )


def _summary(
    source: Source, crawler: Crawler | None, failure: str | None, started: datetime
) -> SourceSummary:
    stats: dict[str, Any] = crawler.stats.get_stats() if crawler and crawler.stats else {}
    spider = getattr(crawler, "spider", None) if crawler else None

    def by_prefix(prefix: str) -> dict[str, int]:
        return {
            k.removeprefix(prefix): int(v) for k, v in sorted(stats.items()) if k.startswith(prefix)
        }

    errors = by_prefix("yuqing/errors/")
    for count in by_prefix("spider_exceptions/").values():
        errors["parse"] = errors.get("parse", 0) + count  # a parser bug, shown as such
    warnings = by_prefix("yuqing/warnings/")
    warnings.update({f"skipped_{k}": v for k, v in by_prefix("yuqing/skipped/").items()})
    outcome, detail = "finished", ""
    if failure:
        outcome, detail = "failed", failure
    elif getattr(spider, "skipped_reason", None):
        outcome, detail = "skipped", str(spider.skipped_reason)  # type: ignore[union-attr]
    elif getattr(spider, "blocked", False):
        outcome, detail = "blocked", "served a block page; backing off"
    elif stats.get("finish_reason") == time_limit.REASON:
        limit = timedelta(seconds=crawler.settings.getfloat("YUQING_RUN_TIMEOUT"))  # type: ignore[union-attr]  # stats came from it
        outcome = "failed"
        detail = f"stopped at its time limit of {limit}; the pages fetched until then are kept"
    elif stats.get("finish_reason", "finished") != "finished":
        outcome, detail = "failed", f"crawl ended: {stats.get('finish_reason')}"
    return SourceSummary(
        source=source.id,
        kind=source.kind.value,
        outcome=outcome,
        started=stats.get("start_time", started),
        ended=stats.get("finish_time", datetime.now(UTC)),
        pages=stats.get("yuqing/pages", 0),
        bytes=stats.get("yuqing/bytes", 0),
        posts=stats.get("yuqing/posts", 0),
        new_posts=stats.get("yuqing/new_posts", 0),
        not_modified=stats.get("yuqing/not_modified", 0),
        errors=errors,
        warnings=warnings,
        detail=detail,
    )


def preload(job: CrawlJob) -> None:
    """Build what every crawl for ``job``'s institution needs (the analyzer with its
    dictionaries and models: seconds of CPU; the index's segmenter) so that a pre-loaded
    worker's ``run`` starts at once; ``run`` builds it itself when nobody called this. Only
    ``config``, ``dictionary_words`` and ``elasticsearch`` of the job matter here."""
    # The pipelines import the analysis stack; the site spider imports trafilatura, which the
    # analysis worker forked by each run reads article pages with.
    import crawler.spiders.site  # noqa: F401
    from pipelines.analysis import shared_analyzer, warm_index_segmenter

    shared_analyzer(job.config, job.dictionary_words)
    if not job.elasticsearch:
        warm_index_segmenter(job.dictionary_words)


def wants_worker(job: CrawlJob) -> bool:
    """Whether ``job``'s analysis runs in a worker process: as asked, or ("auto") when this
    process may use two cores or more (on one core a worker only adds its overhead)."""
    if job.analysis_worker == "auto":
        from pipelines.analysis_worker import cores

        return cores() >= 2
    return job.analysis_worker


def run(job: CrawlJob, progress: Progress | None = None) -> list[SourceSummary]:
    """Crawl every source of ``job`` concurrently; returns one summary per source, in order."""
    shared = None
    if wants_worker(job) and any(s.urls for s in job.sources):
        from pipelines.analysis import shared_analyzer, warm_index_segmenter

        # Forked now, before the reactor and its threads exist, from this process with the
        # analyzer built (a pre-loaded process has it already): the worker starts warm. It
        # cuts the embedded index's full-text tokens too, with the index's segmenter.
        try:
            shared = shared_analyzer(job.config, job.dictionary_words)
            if not job.elasticsearch:
                warm_index_segmenter(job.dictionary_words)
            shared.start_worker()
        except Exception as exc:  # a bad config: each source's pipeline reports it, as before
            logger.warning("no analysis worker, analysing in this process: %s", exc)
            shared = None
    try:
        return _run(job, progress, extract_in_worker=shared is not None)
    finally:
        if shared is not None:
            shared.stop_worker()


def _run(
    job: CrawlJob, progress: Progress | None, *, extract_in_worker: bool
) -> list[SourceSummary]:
    started = datetime.now(UTC)
    process = CrawlerProcess(crawl_settings({"LOG_LEVEL": job.log_level}))
    crawlers: dict[str, Crawler] = {}
    failures: dict[str, str] = {}
    for source in job.sources:
        if not source.urls:
            failures[source.id] = "the source has no URLs"
            continue
        try:
            spidercls = load_object_path(SPIDERS[source.kind])
        except (KeyError, ImportError, AttributeError):
            failures[source.id] = f"no spider for {source.kind.value} sources yet"
            continue
        # The first crawler installs the reactor its settings name (the same for all).
        settings = _settings_for(job, source, spidercls, extract_in_worker)
        crawler = Crawler(spidercls, settings, init_reactor=not crawlers)
        if progress is not None:
            _connect_progress(crawler, source.id, progress)
        crawlers[source.id] = crawler
        deferred = process.crawl(crawler, source=source, force=job.force)
        deferred.addErrback(_failed, failures, source.id)
    if crawlers:
        process.start()
    summaries = [_summary(s, crawlers.get(s.id), failures.get(s.id), started) for s in job.sources]
    log = PatrolLog(job.data_dir)
    try:
        for summary in summaries:
            log.record(
                Patrol(
                    summary.source,
                    summary.started,
                    summary.ended,
                    summary.pages,
                    summary.bytes,
                    summary.posts,
                    summary.new_posts,
                    summary.errors,
                    summary.warnings,
                    summary.outcome,
                )
            )
    finally:
        log.close()
    return summaries


def _failed(failure: Failure, failures: dict[str, str], source_id: str) -> None:
    failures[source_id] = f"{type(failure.value).__name__}: {failure.value}"


def _connect_progress(crawler: Crawler, source_id: str, progress: Progress) -> None:
    counts = {"pages": 0, "posts": 0}

    def on_response(**_: Any) -> None:
        counts["pages"] += 1
        progress(source_id, counts["pages"], counts["posts"])

    def on_item(**_: Any) -> None:
        counts["posts"] += 1
        if counts["posts"] % 20 == 0:
            progress(source_id, counts["pages"], counts["posts"])

    # Scrapy keeps weak references to receivers: the closures live as long as the crawler.
    crawler._yuqing_progress = (on_response, on_item)  # type: ignore[attr-defined]
    crawler.signals.connect(on_response, signal=signals.response_received)
    crawler.signals.connect(on_item, signal=signals.item_scraped)


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 1:
        print("usage: python -m crawler.runner JOB.json", file=sys.stderr)
        return 2
    try:
        job = CrawlJob.model_validate_json(Path(args[0]).read_text(encoding="utf-8"))
    except (OSError, ValidationError) as exc:
        print(f"crawler.runner: cannot read the job {args[0]}: {exc}", file=sys.stderr)
        return 2
    summaries = run(job)
    print(
        json.dumps({"sources": [s.model_dump(mode="json") for s in summaries]}, ensure_ascii=False)
    )
    return 1 if any(s.outcome == "failed" for s in summaries) else 0


if __name__ == "__main__":
    sys.exit(main())
