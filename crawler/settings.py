"""Scrapy settings for every Yuqing crawl: polite by default, capped against hostile sites.

Built by a function, never read at import time; the runner adds the per-run values (data dir,
whether private addresses are allowed) as YUQING_* settings.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

USER_AGENT = "Mozilla/5.0 (compatible; YuqingBot/0.1; +https://github.com/yuqing/yuqing)"

BASE: dict[str, Any] = {
    "BOT_NAME": "yuqing",
    "SPIDER_MODULES": ["crawler.spiders"],
    "USER_AGENT": USER_AGENT,
    # The asyncio reactor (Scrapy's default): one process runs one crawl; the daemon starts a
    # child process per crawl, so the reactor never has to restart.
    "TWISTED_REACTOR": "twisted.internet.asyncioreactor.AsyncioSelectorReactor",
    "REQUEST_FINGERPRINTER_CLASS": "crawler.middlewares.CanonicalFingerprinter",
    # Scrapy's own, with the per-domain cap made to hold under load (see the module).
    "DOWNLOADER": "crawler.downloader.CappedDownloader",
    "ROBOTSTXT_OBEY": True,
    # Politeness: few requests per site at a time, a delay AutoThrottle adapts to the server.
    "CONCURRENT_REQUESTS": 16,
    "CONCURRENT_REQUESTS_PER_DOMAIN": 2,
    "DOWNLOAD_DELAY": 0.5,
    "DOWNLOAD_DELAY_JITTER": 0.5,  # ±50%: no clockwork rhythm for a WAF to spot
    "AUTOTHROTTLE_ENABLED": True,
    "AUTOTHROTTLE_START_DELAY": 1.0,
    "AUTOTHROTTLE_MAX_DELAY": 30.0,
    "AUTOTHROTTLE_TARGET_CONCURRENCY": 1.0,
    "RETRY_ENABLED": True,
    "RETRY_TIMES": 2,
    "RETRY_HTTP_CODES": [500, 502, 503, 504, 522, 524, 408, 429],
    # Hostile sites: caps on size, time, redirects and depth.
    "DOWNLOAD_MAXSIZE": 8 * 1024 * 1024,
    "DOWNLOAD_WARNSIZE": 2 * 1024 * 1024,
    "DOWNLOAD_TIMEOUT": 30,
    "REDIRECT_MAX_TIMES": 8,
    "DEPTH_LIMIT": 5,
    "DEPTH_PRIORITY": 1,  # breadth-first: a trap deep in one branch cannot starve the rest
    "SCHEDULER_DISK_QUEUE": "scrapy.squeues.PickleFifoDiskQueue",
    "SCHEDULER_MEMORY_QUEUE": "scrapy.squeues.FifoMemoryQueue",
    # Scrapy 2.19 on the asyncio reactor starts this many tasks for every response, whatever it
    # yields (100 by default: 0.7 ms of the reactor per page, a tenth of bare Scrapy's own
    # work; 32: 0.24 ms). An article page yields one post and a few links; a forum page (10-20
    # replies in Discuz!, 30 in Tieba) is still taken in at once, so its link to the next page
    # is not held up behind its posts' analysis.
    "CONCURRENT_ITEMS": 32,
    "COOKIES_ENABLED": True,
    "TELNETCONSOLE_ENABLED": False,
    "LOG_LEVEL": "INFO",
    "FEED_EXPORT_ENCODING": "utf-8",
    "DOWNLOADER_MIDDLEWARES": {
        "crawler.middlewares.AddressGuardMiddleware": 50,
        "crawler.middlewares.ConditionalGetMiddleware": 80,
        "crawler.middlewares.RetryAfterMiddleware": 555,
        "crawler.middlewares.BlockPageMiddleware": 560,
        "crawler.middlewares.EncodingMiddleware": 570,
        # Last before the download: a request dropped on the way never books a start.
        "crawler.host_pace.SharedHostPaceMiddleware": 880,
        # A source's own time limit (YUQING_RUN_TIMEOUT, from crawl.run_timeout): see the module.
        "crawler.time_limit.TimeLimitMiddleware": 890,
    },
    "SPIDER_MIDDLEWARES": {
        "crawler.middlewares.TrapGuardMiddleware": 800,
    },
    "ITEM_PIPELINES": {
        # The analysis first: with the worker it reads article pages too, and drops one with
        # too little text, whose page is then not kept as evidence.
        "pipelines.analysis.AnalysisPipeline": 500,
        "pipelines.evidence.EvidencePipeline": 600,
        "pipelines.index.IndexPipeline": 800,
    },
    # Ours: see crawler/middlewares.py and pipelines/.
    "YUQING_DATA_DIR": "data",
    "YUQING_ALLOW_PRIVATE": False,
    "YUQING_EVIDENCE_DAYS": 180,
    "YUQING_INDEX_BATCH": 200,
    # "module:callable" taking (crawler settings) and returning a store.base.PostIndex.
    "YUQING_POST_INDEX": "pipelines.index:open_configured_index",
    "YUQING_ELASTICSEARCH": [],
    "YUQING_INDEX_PREFIX": "yuqing",
    "YUQING_MAX_WAIT": 300,  # longest Retry-After a crawl waits out; longer defers the source
    "YUQING_RETRY_BACKOFF": 2.0,  # seconds before the first retry, doubling for each next one
    "YUQING_RETRY_BACKOFF_MAX": 60.0,
    "YUQING_SAME_SHAPE_LIMIT": 60,  # URLs differing only in numbers: calendar/pagination traps
    "YUQING_MAX_URL_LENGTH": 512,
    "YUQING_EXTRACT_IN_WORKER": False,  # set by the runner when the analysis worker runs
}


def crawl_settings(overrides: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """The settings for one crawl: BASE with ``overrides`` on top (middleware dicts merged)."""
    settings = {k: (dict(v) if isinstance(v, dict) else v) for k, v in BASE.items()}
    for key, value in (overrides or {}).items():
        if isinstance(value, dict) and isinstance(settings.get(key), dict):
            settings[key].update(value)
        else:
            settings[key] = value
    return settings
