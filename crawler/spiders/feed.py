"""The feed spider: RSS 0.9x/1.0/2.0 and Atom fetched by Scrapy with conditional GET and parsed
from the bytes (crawler.extract.feed, feedparser); each entry is a Post, optionally with the full
text of the article it links to."""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

from scrapy.http import Response
from twisted.python.failure import Failure

from core.post import SourceKind
from core.urls import canonical_url
from crawler.extract.article import extract_article
from crawler.extract.feed import Entry, NotAFeed, parse_feed
from crawler.items import PostItem
from crawler.spiders.base import SourceSpider

_MAX_AGE = re.compile(r"max-age\s*=\s*(\d+)", re.I)
# Feeds that ask to be fetched less than daily still get a patrol a day (DOMAIN.md §1).
MAX_FEED_WAIT = timedelta(hours=24)


def refetch_after(response: Response, ttl_minutes: int | None) -> timedelta | None:
    """How long the server asks us not to fetch again: the larger of the feed's ``ttl``
    (minutes) and ``Cache-Control: max-age``, at most a day."""
    waits = [timedelta(minutes=ttl_minutes)] if ttl_minutes and ttl_minutes > 0 else []
    cache = (response.headers.get("Cache-Control") or b"").decode("latin-1")
    match = _MAX_AGE.search(cache)
    if match and "no-cache" not in cache and "no-store" not in cache:
        waits.append(timedelta(seconds=int(match.group(1))))
    return min(max(waits), MAX_FEED_WAIT) if waits else None


class FeedSpider(SourceSpider):
    kind = SourceKind.FEED
    conditional = True
    # A published feed is an invitation to fetch it: robots.txt is for crawling pages.
    custom_settings = {"ROBOTSTXT_OBEY": False}  # noqa: RUF012  # Scrapy declares it so

    def parse_start(self, response: Response) -> Iterator[Any]:
        if response.status == 304:
            assert self.crawler.stats is not None
            self.crawler.stats.inc_value("yuqing/not_modified")
            self._defer(response, None)
            return
        yield from self.parse_feed(response, follow=self.source.profile == "article")

    def parse_feed(self, response: Response, *, follow: bool = False) -> Iterator[Any]:
        """Entries of the feed in ``response`` as posts (the site spider uses this too)."""
        ctype = (response.headers.get("Content-Type") or b"").decode("latin-1")
        try:
            feed = parse_feed(response.body, response.url, ctype or None)
        except NotAFeed as exc:
            # Not remembered: the next patrol must fetch it again, not be told "not modified".
            self.pending_validators.pop(canonical_url(response.url), None)
            what = "serves an HTML page" if "HTML" in str(exc) else "is not a feed"
            self.record_error(
                "not_a_feed",
                response.url,
                f"the URL of source {self.source.id!r} {what}, not RSS or Atom; check its address"
                " in the sources config",
                event=True,
            )
            return
        if feed.bozo:
            self.record_warning(
                "bozo_feed",
                response.url,
                f"feed is malformed ({feed.bozo_reason}); kept the {len(feed.entries)} entries"
                " that could be read",
            )
        self._defer(response, feed.ttl_minutes)
        for entry in feed.entries:
            item = self._entry_item(response, entry)
            if item is None:
                continue
            if follow and item.post.url != response.url:
                yield self.request(
                    item.post.url, self.parse_article, item=item, errback=self._article_failed
                )
            else:
                yield item

    def _entry_item(self, response: Response, entry: Entry) -> PostItem | None:
        link = response.urljoin(entry.url) if entry.url else ""
        if link.startswith(("http://", "https://")):
            url, anchor = link, None
        else:  # no usable link (an Atom id such as tag:...): the feed URL plus the entry's id
            url, anchor = response.url, entry.id or entry.title or None
        if anchor is None and url == response.url:
            self.record_warning(
                "feed_entry_skipped", response.url, "entry without link, id or title"
            )
            return None
        return self.post_item(
            response,
            url=url,
            anchor=anchor,
            title=entry.title,
            text=entry.text,
            author=entry.author,
            published=entry.published,
        )

    def parse_article(self, response: Response) -> Iterator[PostItem]:
        """The entry's page: keep the longer of the feed's text and the page's main text."""
        item: PostItem = response.meta["item"]
        article = extract_article(response.text, response.url)
        if len(article.text) > len(item.post.text):
            item.post.text = article.text
            item.page = self.page(response)
        yield item

    def _article_failed(self, failure: Failure) -> Iterator[PostItem]:
        """The entry is still a post when its page cannot be fetched: keep the feed's text."""
        self.on_error(failure)
        yield failure.request.meta["item"]  # type: ignore[attr-defined]  # Scrapy sets .request

    def _defer(self, response: Response, ttl_minutes: int | None) -> None:
        wait = refetch_after(response, ttl_minutes)
        if wait:
            self.state.defer(self.source.id, datetime.now(UTC) + wait, "feed ttl / max-age")
