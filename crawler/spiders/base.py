"""The base of every source spider: one spider crawls one configured Source, records errors by
kind and operational events, and yields PostItems that carry the page they came from."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, ClassVar

import scrapy
from scrapy.crawler import Crawler
from scrapy.http import Response
from scrapy.spidermiddlewares.httperror import HttpError
from twisted.python.failure import Failure

from core.post import Post, SourceKind
from core.settings import Source
from crawler.items import Page, PostItem, header_dict
from crawler.time_limit import PastTimeLimit
from store.crawl_state import CrawlState
from store.patrol_log import PatrolLog

# Failure class name -> error kind in the summary and the patrol log.
_ERROR_KINDS = {
    "DownloadTimeoutError": "timeout",
    "TimeoutError": "timeout",
    "TCPTimedOutError": "timeout",
    "CannotResolveHostError": "dns",
    "DNSLookupError": "dns",
    "DownloadConnectionRefusedError": "connection",
    "ConnectionRefusedError": "connection",
    "ConnectError": "connection",
    "ConnectionLost": "connection",
    "ResponseNeverReceived": "connection",
    "ResponseFailed": "connection",
    "DownloadFailedError": "connection",
    "ResponseDataLossError": "truncated",
    "DownloadCancelledError": "too_large",
    "RefusedAddress": "refused_address",
    "Blocked": "blocked",
    "TooLongWait": "retry_after",
}


class SourceSpider(scrapy.Spider):
    """Subclasses set ``kind`` and implement ``parse_start`` for the source's own URLs."""

    kind: ClassVar[SourceKind]
    # Send the ETag / Last-Modified remembered for the source's own URLs (feeds: yes).
    conditional: ClassVar[bool] = False
    state: CrawlState
    patrol_log: PatrolLog

    def __init__(self, source: Source, *, force: bool = False, **kwargs: Any) -> None:
        super().__init__(name=f"{self.kind.value}:{source.id}", **kwargs)
        self.source = source
        self.force = force  # an on-demand crawl ignores the source's backoff and ttl
        self.blocked = False
        self.skipped_reason: str | None = None
        self.pending_validators: dict[str, tuple[str | None, str | None]] = {}
        self._pages: dict[int, Page] = {}

    @classmethod
    def from_crawler(cls, crawler: Crawler, *args: Any, **kwargs: Any) -> SourceSpider:
        spider: SourceSpider = super().from_crawler(crawler, *args, **kwargs)
        data_dir = Path(crawler.settings.get("YUQING_DATA_DIR"))
        spider.state = CrawlState(data_dir)
        spider.patrol_log = PatrolLog(data_dir)
        return spider

    # -- start ----------------------------------------------------------------------------------
    async def start(self) -> AsyncIterator[Any]:
        wait = self.state.wait(self.source.id)
        if not self.force and wait and wait.not_before > datetime.now(UTC):
            self.skipped_reason = (
                f"waiting until {wait.not_before:%Y-%m-%d %H:%M} UTC ({wait.reason})"
            )
            self.logger.info("%s skipped: %s", self.source.id, self.skipped_reason)
            return
        for url in self.source.urls:
            yield self.request(
                url,
                self.parse_start,
                conditional=self.conditional,
                depth=0,
                handle_httpstatus_list=[304],
            )

    def parse_start(self, response: Response) -> Any:
        raise NotImplementedError

    def request(
        self,
        url: str,
        callback: Callable[..., Any],
        *,
        priority: int = 0,
        dont_filter: bool = False,
        errback: Callable[[Failure], Any] | None = None,
        **meta: Any,
    ) -> scrapy.Request:
        """A request with this spider's error handling and ``meta`` (``conditional=True`` to
        send remembered ETag/Last-Modified)."""
        return scrapy.Request(
            url,
            callback=callback,
            errback=errback or self.on_error,
            meta=meta,
            priority=priority,
            dont_filter=dont_filter,
        )

    # -- items ----------------------------------------------------------------------------------
    def page(self, response: Response) -> Page:
        """The evidence record of ``response``, built once however many posts it yields."""
        key = id(response)
        if key not in self._pages:
            if len(self._pages) > 64:
                self._pages.clear()
            self._pages[key] = Page(
                response.url,
                response.status,
                header_dict(response),
                response.body,
            )
        return self._pages[key]

    def post_item(
        self, response: Response, *, url: str, anchor: str | int | None = None, **fields: Any
    ) -> PostItem:
        post = Post.create(url=url, source=self.source.id, anchor=anchor, **fields)
        return PostItem(post=post, page=self.page(response))

    # -- errors and events ----------------------------------------------------------------------
    def record_error(self, kind: str, url: str, detail: str, *, event: bool = False) -> None:
        assert self.crawler.stats is not None
        self.crawler.stats.inc_value(f"yuqing/errors/{kind}")
        self.logger.warning("%s: %s %s", kind, url, detail)
        if event:
            self.record_event(kind, url, detail)

    def record_warning(self, kind: str, url: str, detail: str) -> None:
        assert self.crawler.stats is not None
        self.crawler.stats.inc_value(f"yuqing/warnings/{kind}")
        self.logger.warning("%s: %s %s", kind, url, detail)
        self.record_event(kind, url, detail)

    def record_event(self, kind: str, url: str, detail: str) -> None:
        self.patrol_log.event(self.source.id, kind, url, detail)

    def on_block(self, kind: str, url: str, detail: str) -> None:
        """Called by BlockPageMiddleware: back off and record it once for the operator."""
        if not self.blocked:
            until = self.state.block(self.source.id, f"{kind}: {detail}")
            self.record_event(
                "blocked", url, f"{detail}; backing off until {until:%Y-%m-%d %H:%M} UTC"
            )
        self.blocked = True

    def on_error(self, failure: Failure) -> None:
        request = getattr(failure, "request", None)
        url = request.url if request is not None else ""
        if isinstance(failure.value, HttpError):
            status = failure.value.response.status
            self.record_error(f"http_{status}", url, f"HTTP {status}")
            return
        name = type(failure.value).__name__
        if isinstance(failure.value, PastTimeLimit):  # not fetched: the summary says why
            assert self.crawler.stats is not None
            self.crawler.stats.inc_value("yuqing/skipped/time_limit")
            return
        if "robots.txt" in str(failure.value):
            assert self.crawler.stats is not None
            self.crawler.stats.inc_value("yuqing/skipped/robots")  # the site's wish, no error
            return
        kind = _ERROR_KINDS.get(name, "other")
        if kind == "other" and "redirections" in str(failure.value):
            kind = "redirect_loop"
        self.record_error(kind, url, f"{name}: {failure.value}")

    def closed(self, reason: str) -> None:
        if reason == "finished":
            for url, (etag, modified) in self.pending_validators.items():
                self.state.save_validators(url, etag, modified)
            if not self.blocked and self.skipped_reason is None:
                self.state.clear_blocks(self.source.id)
        self.state.close()
        self.patrol_log.close()
