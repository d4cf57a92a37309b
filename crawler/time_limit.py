"""A source's time limit (`crawl.run_timeout`): at it, the source stops now, keeping what it
fetched, while the other sources of the crawl go on.

Scrapy's CLOSESPIDER_TIMEOUT closes a spider only once every request already handed to the
downloader is done, and with a download delay that is up to CONCURRENT_REQUESTS more pages, one
delay apart. Here the queued ones are dropped first; only downloads under way are waited for
(each at most DOWNLOAD_TIMEOUT)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from scrapy import signals
from scrapy.exceptions import IgnoreRequest, NotConfigured
from scrapy.utils.asyncio import call_later
from scrapy.utils.defer import deferred_from_coro

if TYPE_CHECKING:
    from scrapy import Request
    from scrapy.crawler import Crawler

REASON = "time_limit"  # the spider's finish_reason, read by crawler.runner's summary


class PastTimeLimit(IgnoreRequest):
    """A request not sent because its source reached its time limit (counted as skipped)."""


class TimeLimitMiddleware:
    """A downloader middleware, on when YUQING_RUN_TIMEOUT (seconds) is set: at the limit it
    drops the downloader's queued requests and closes the spider; a request that reaches the
    downloader after it (one held by the shared host pace wakes up then) is refused."""

    def __init__(self, crawler: Crawler) -> None:
        self.seconds = crawler.settings.getfloat("YUQING_RUN_TIMEOUT")
        if self.seconds <= 0:
            raise NotConfigured
        self.crawler = crawler
        self.reached = False
        self._call: object = None
        crawler.signals.connect(self.opened, signal=signals.spider_opened)
        crawler.signals.connect(self.closed, signal=signals.spider_closed)

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> TimeLimitMiddleware:
        return cls(crawler)

    def opened(self) -> None:
        self._call = call_later(self.seconds, self.reach)

    def closed(self) -> None:
        cancel = getattr(self._call, "cancel", None)
        if cancel is not None and not self.reached:
            cancel()

    def reach(self) -> None:
        self.reached = True
        engine = self.crawler.engine
        assert engine is not None
        drop = getattr(engine.downloader, "drop_queued", None)
        if drop is not None:  # crawler.downloader.CappedDownloader, every crawl's DOWNLOADER
            drop(PastTimeLimit(f"the source's time limit of {self.seconds:g}s"))
        deferred_from_coro(engine.close_spider_async(reason=REASON))

    def process_request(self, request: Request) -> None:
        if self.reached:
            raise PastTimeLimit("past the source's time limit")
