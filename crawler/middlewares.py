"""Scrapy middlewares: address guard, conditional GET, Retry-After, block pages, encoding
repair, trap guard, and a request fingerprint on the canonical URL (query order is no new page)."""

from __future__ import annotations

import codecs
import hashlib
import importlib
import ipaddress
import re
import socket
import time
from collections import Counter
from datetime import UTC, datetime, timedelta
from email.utils import parsedate_to_datetime
from typing import TYPE_CHECKING, Any, cast
from urllib.parse import urlsplit
from weakref import WeakKeyDictionary

from scrapy import Request
from scrapy.exceptions import IgnoreRequest
from scrapy.http import Response, TextResponse
from scrapy.spidermiddlewares.base import BaseSpiderMiddleware
from scrapy.utils.asyncio import call_later

from core.urls import canonical_url
from crawler.blocking import detect_block
from crawler.encoding import charset_from_content_type, decode_body, sniff_declared
from crawler.host_pace import PACE, host_of
from crawler.items import header_dict

if TYPE_CHECKING:
    from scrapy.crawler import Crawler

    from crawler.spiders.base import SourceSpider


class RefusedAddress(IgnoreRequest):
    """Not http(s), or a private/loopback address while those are not allowed."""


class Blocked(IgnoreRequest):
    """The site served a challenge or block page; the source backs off."""


class TooLongWait(IgnoreRequest):
    """Retry-After asks for longer than a crawl waits; the source is deferred instead."""


def _spider(crawler: Crawler) -> SourceSpider:
    return cast("SourceSpider", crawler.spider)


class CanonicalFingerprinter:
    """Fingerprint on method + canonical URL + body, so ``?a=1&b=2`` and ``?b=2&a=1`` (or a
    tracking parameter) are fetched once."""

    def __init__(self) -> None:
        self._cache: WeakKeyDictionary[Request, bytes] = WeakKeyDictionary()

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> CanonicalFingerprinter:
        return cls()

    def fingerprint(self, request: Request) -> bytes:
        if request not in self._cache:
            digest = hashlib.sha1(request.method.encode())
            digest.update(canonical_url(request.url).encode())
            digest.update(request.body or b"")
            self._cache[request] = digest.digest()
        return self._cache[request]


def is_public_host(host: str) -> bool:
    """True when every address ``host`` resolves to is a public one (no SSRF to the LAN)."""
    try:
        infos = socket.getaddrinfo(host, None)
    except OSError:
        return True  # cannot resolve: the download fails with a DNS error, which says more
    return all(ipaddress.ip_address(str(info[4][0]).split("%")[0]).is_global for info in infos)


class AddressGuardMiddleware:
    """Only http(s); private and loopback addresses refused unless YUQING_ALLOW_PRIVATE."""

    def __init__(self, allow_private: bool) -> None:
        self.allow_private = allow_private
        self._checked: dict[str, bool] = {}

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> AddressGuardMiddleware:
        return cls(crawler.settings.getbool("YUQING_ALLOW_PRIVATE"))

    def process_request(self, request: Request) -> None:
        parts = urlsplit(request.url)
        if parts.scheme not in ("http", "https"):
            raise RefusedAddress(f"only http and https are crawled, not {parts.scheme}:")
        host = parts.hostname or ""
        if self.allow_private:
            return
        if host not in self._checked:
            self._checked[host] = is_public_host(host)
        if not self._checked[host]:
            raise RefusedAddress(
                f"{host} is a private or loopback address (allow_private_addresses"
                " is off in the config)"
            )


class ConditionalGetMiddleware:
    """Sends the ETag / Last-Modified remembered for requests marked ``meta["conditional"]``;
    new validators are kept by the spider and saved only when the crawl finishes, so a crash
    never leaves a 304 hiding posts that were not indexed."""

    def __init__(self, crawler: Crawler) -> None:
        self.crawler = crawler

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> ConditionalGetMiddleware:
        return cls(crawler)

    def process_request(self, request: Request) -> None:
        if not request.meta.get("conditional"):
            return
        known = _spider(self.crawler).state.validators(canonical_url(request.url))
        if known and known.etag:
            request.headers.setdefault("If-None-Match", known.etag)
        if known and known.last_modified:
            request.headers.setdefault("If-Modified-Since", known.last_modified)

    def process_response(self, request: Request, response: Response) -> Response:
        if request.meta.get("conditional") and response.status == 200:
            etag = response.headers.get("ETag")
            modified = response.headers.get("Last-Modified")
            _spider(self.crawler).pending_validators[canonical_url(request.url)] = (
                etag.decode("latin-1") if etag else None,
                modified.decode("latin-1") if modified else None,
            )
        return response


def retry_after_seconds(value: bytes | str | None, now: datetime | None = None) -> float | None:
    """Seconds to wait from a Retry-After header (delta-seconds or an HTTP date), or None."""
    if not value:
        return None
    text = value.decode("latin-1") if isinstance(value, bytes) else value
    text = text.strip()
    if text.isdigit():
        return float(text)
    try:
        when = parsedate_to_datetime(text)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - (now or datetime.now(UTC))).total_seconds())


class RetryAfterMiddleware:
    """Honours Retry-After on 429/503 (Scrapy ignores it) and backs off before other retries
    (Scrapy retries at once): pauses that download slot (the domain) for the time asked, or
    for YUQING_RETRY_BACKOFF × 2^retries seconds; the RetryMiddleware's retry then waits
    behind the pause. A Retry-After longer than YUQING_MAX_WAIT defers the whole source to a
    later patrol instead."""

    def __init__(self, crawler: Crawler) -> None:
        self.crawler = crawler
        settings = crawler.settings
        self.max_wait = settings.getfloat("YUQING_MAX_WAIT")
        self.backoff = settings.getfloat("YUQING_RETRY_BACKOFF")
        self.backoff_max = settings.getfloat("YUQING_RETRY_BACKOFF_MAX")
        self.retry_codes = {int(c) for c in settings.getlist("RETRY_HTTP_CODES")}
        self.max_retries = settings.getint("RETRY_TIMES")
        self.retry_enabled = settings.getbool("RETRY_ENABLED")
        self.paused_until: dict[str, float] = {}

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> RetryAfterMiddleware:
        return cls(crawler)

    def process_response(self, request: Request, response: Response) -> Response:
        wait = None
        if response.status in (429, 503):
            wait = retry_after_seconds(response.headers.get("Retry-After"))
        if wait is None:
            if response.status in self.retry_codes:
                self._back_off(request)
            return response
        source = _spider(self.crawler)
        source.state.defer(
            source.source.id,
            datetime.now(UTC) + timedelta(seconds=wait),
            f"Retry-After {wait:.0f}s on HTTP {response.status}",
        )
        if wait > self.max_wait:
            source.record_event(
                "retry_after",
                response.url,
                f"HTTP {response.status} asks to wait {wait:.0f}s; source deferred",
            )
            raise TooLongWait(f"Retry-After {wait:.0f}s is longer than {self.max_wait:.0f}s")
        self._pause_slot(request, wait)
        assert self.crawler.stats is not None
        self.crawler.stats.inc_value("yuqing/retry_after")
        return response

    def process_exception(self, request: Request, exception: Exception) -> None:
        if not isinstance(exception, IgnoreRequest):
            self._back_off(request)  # a timeout or a dropped connection: the site struggles

    def _back_off(self, request: Request) -> None:
        retries = int(request.meta.get("retry_times", 0))
        if not self.retry_enabled or request.meta.get("dont_retry") or retries >= self.max_retries:
            return  # no retry follows: nothing to wait for
        self._pause_slot(request, min(self.backoff * 2**retries, self.backoff_max))

    def _pause_slot(self, request: Request, wait: float) -> None:
        if wait <= 0:
            return
        PACE.pause(host_of(request), wait)  # other sources of this crawl on the host wait too
        downloader = self.crawler.engine.downloader
        key = downloader.get_slot_key(request)
        slot = downloader.slots.get(key)
        until = time.monotonic() + wait
        if slot is None or until <= self.paused_until.get(key, 0.0):
            return  # already paused at least as long
        self.paused_until[key] = until
        if slot.latercall is not None:
            slot.latercall.cancel()
        # The downloader does not start a slot's queue while latercall is pending: this is its
        # own mechanism for download delays, used here for a longer one.
        slot.latercall = call_later(wait, downloader._latercall, slot)


class BlockPageMiddleware:
    """Challenge and block pages never reach a parser: the source records an operational
    event, backs off (crawl_state) and fetches nothing more in this crawl."""

    def __init__(self, crawler: Crawler) -> None:
        self.crawler = crawler

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> BlockPageMiddleware:
        return cls(crawler)

    def process_request(self, request: Request) -> None:
        if _spider(self.crawler).blocked and not request.meta.get("dont_obey_robotstxt"):
            raise Blocked("the source served a block page earlier in this crawl")

    def process_response(self, request: Request, response: Response) -> Response:
        stats = self.crawler.stats
        assert stats is not None
        if not request.meta.get("dont_obey_robotstxt"):  # robots.txt is not a page of the site
            stats.inc_value("yuqing/pages")
            stats.inc_value("yuqing/bytes", len(response.body))
        headers = header_dict(response)
        block = detect_block(
            response.url,
            response.status,
            headers,
            response.body,
            request.meta.get("redirect_urls", ()),
        )
        if block is None:
            return response
        _spider(self.crawler).on_block(block.kind, response.url, block.detail)
        raise Blocked(block.detail)


class EncodingMiddleware:
    """Decodes pages with crawler.encoding.decode_body (GBK pages that declare nothing, pages
    whose declaration lies) instead of Scrapy's cp1252 fallback."""

    def process_response(self, request: Request, response: Response) -> Response:
        if not isinstance(response, TextResponse) or not response.body:
            return response
        ctype = (response.headers.get("Content-Type") or b"").decode("latin-1")
        if "json" in ctype:
            return response
        _text, encoding = decode_body(
            response.body,
            sniff_declared(response.body),
            http_charset=charset_from_content_type(ctype),
        )
        if _codec(encoding) != _codec(response.encoding):
            return response.replace(encoding=encoding)
        return response


def _codec(name: str) -> str:
    try:
        return codecs.lookup(name).name
    except LookupError:
        return name


# What endless URL families look like: dates (calendars, archives by day) and page counters.
# Article ids (/news/12345.html) are not in this: a news site has thousands of them.
_DATE = re.compile(r"(19|20)\d\d([-/_.]?)(0?[1-9]|1[0-2])(\2(0?[1-9]|[12]\d|3[01]))?(?!\d)")
_PAGING_VALUE = re.compile(
    r"(^|&)(page|p|pn|pg|pageno|start|offset|from|date|day|month|year|d)=\d+", re.I
)


class TrapGuardMiddleware(BaseSpiderMiddleware):
    """Drops followed links that look like traps: over the source's page or depth cap, URLs too
    long, paths repeating a segment (/a/b/a/b/a/b), or too many URLs of one date or paging
    shape (a calendar's /cal/2026/11/22, endless ?page=N)."""

    def __init__(self, crawler: Crawler) -> None:
        super().__init__(crawler)
        self.max_url = crawler.settings.getint("YUQING_MAX_URL_LENGTH")
        self.shape_limit = crawler.settings.getint("YUQING_SAME_SHAPE_LIMIT")
        self.max_pages = crawler.settings.getint("YUQING_MAX_PAGES", 0)
        self.max_depth = crawler.settings.getint("YUQING_MAX_DEPTH", -1)
        self.shapes: Counter[str] = Counter()
        self.seen: set[bytes] = set()  # fingerprints: a duplicate link is not another page

    def get_processed_request(self, request: Request, response: Response | None) -> Request | None:
        fingerprint = self.crawler.request_fingerprinter.fingerprint(request)
        if response is None:
            self.seen.add(fingerprint)  # start requests are the source's own URLs: never traps
            return request
        if fingerprint in self.seen:
            return request  # the scheduler's duplicate filter drops it; nothing to count
        reason = self._trap(request.url)
        if reason is None and 0 <= self.max_depth < request.meta.get("depth", 0):
            reason = "depth_cap"  # also for depth 0, which Scrapy's DEPTH_LIMIT reads as no limit
        if reason is None and self.max_pages and len(self.seen) >= self.max_pages:
            reason = "page_cap"
        if reason:
            assert self.crawler.stats is not None
            self.crawler.stats.inc_value(f"yuqing/skipped/{reason}")
            return None
        self.seen.add(fingerprint)
        return request

    def _trap(self, url: str) -> str | None:
        if len(url) > self.max_url:
            return "url_too_long"
        parts = urlsplit(url)
        segments = [s for s in parts.path.split("/") if s]
        if segments and max(Counter(segments).values()) >= 3:
            return "repeated_path"
        # Dates and page counters become placeholders; other numbers (article ids) stay, so
        # /news/20261122/1.html and /news/20261123/2.html are different shapes.
        path = _DATE.sub("D", parts.path)
        query = _DATE.sub("D", _PAGING_VALUE.sub(r"\1\2=P", parts.query))
        if path == parts.path and query == parts.query:
            return None
        shape = f"{parts.netloc}{path}?" + "&".join(sorted(q for q in query.split("&") if q))
        self.shapes[shape] += 1
        if self.shapes[shape] > self.shape_limit:
            return "same_shape"
        return None


def load_object_path(path: str) -> Any:
    """``module:attribute`` to the object (for settings that name a factory)."""
    module, _, attr = path.partition(":")
    return getattr(importlib.import_module(module), attr)
