"""One pace per site across the sources of one crawl: two sources on one host share its delay
and its Retry-After pauses instead of each taking its own (Scrapy's download slots are per
crawler, and a crawl runs one crawler per source)."""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from typing import TYPE_CHECKING

from scrapy import Request
from scrapy.exceptions import NotConfigured
from scrapy.utils.defer import maybe_deferred_to_future
from scrapy.utils.httpobj import urlparse_cached
from twisted.internet.task import deferLater

if TYPE_CHECKING:
    from scrapy.crawler import Crawler


class HostPace:
    """Per host: which sources have asked for it, and when the next request to it may start.

    A host only one source uses is left to that source's own download slot (its delay, jitter,
    AutoThrottle and Retry-After pauses), so a crawl of separate sites runs as before. Once a
    second source asks for the same host, every request to it books a start at least one delay
    after the one before, whichever source sent it."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self.clock = clock
        self._users: dict[str, set[int]] = {}
        self._next: dict[str, float] = {}  # the earliest start of the host's next request

    def reserve(self, host: str, user: object, delay: float, jitter: float = 0.0) -> float:
        """Book a request to ``host`` by ``user`` (a source's middleware); returns the seconds
        it must wait before it goes on."""
        now = self.clock()
        users = self._users.setdefault(host, set())
        users.add(id(user))
        booked = self._next.get(host, 0.0)
        start = max(now, booked) if len(users) > 1 else now
        spacing = delay * random.uniform(1 - jitter, 1 + jitter) if jitter else delay
        self._next[host] = max(booked, start + spacing)
        return start - now

    def pause(self, host: str, seconds: float) -> None:
        """The host asked to wait (Retry-After, or a back-off before a retry): no request to
        it from any source sharing it starts before then."""
        self._next[host] = max(self._next.get(host, 0.0), self.clock() + seconds)


# One per crawl process: every crawler of the process (one per source) shares it.
PACE = HostPace()


def host_of(request: Request) -> str:
    return urlparse_cached(request).hostname or ""  # lower case already


class SharedHostPaceMiddleware:
    """Holds a request back while another source of this crawl has just sent one to the same
    host (DOWNLOAD_DELAY, with DOWNLOAD_DELAY_JITTER, between any two); does nothing when the
    source has no delay or its hosts are its own."""

    def __init__(self, crawler: Crawler, pace: HostPace = PACE) -> None:
        self.delay = crawler.settings.getfloat("DOWNLOAD_DELAY")
        if self.delay <= 0:
            raise NotConfigured  # nothing to share: not on the path of every request at all
        self.crawler = crawler
        self.pace = pace
        self.jitter = crawler.settings.getfloat("DOWNLOAD_DELAY_JITTER")

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> SharedHostPaceMiddleware:
        return cls(crawler)

    async def process_request(self, request: Request) -> None:
        wait = self.pace.reserve(host_of(request), self, self.delay, self.jitter)
        if wait > 0:
            assert self.crawler.stats is not None
            self.crawler.stats.inc_value("yuqing/shared_host_waits")
            # Imported here: importing it installs a reactor, and Scrapy installs its own first.
            from twisted.internet import reactor

            await maybe_deferred_to_future(deferLater(reactor, wait))
