"""The feed spider: RSS 0.9x/1.0/2.0 and Atom fetched by Scrapy with conditional GET and parsed
from the bytes by feedparser; each entry is a Post, optionally with its article's full text."""

from __future__ import annotations

import calendar
import re
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import feedparser
from lxml import html as lxml_html  # type: ignore[import-untyped]  # lxml ships no types
from scrapy.http import Response
from twisted.python.failure import Failure

from core.post import SourceKind
from core.urls import canonical_url
from crawler.items import PostItem
from crawler.spiders.base import SourceSpider

_MAX_AGE = re.compile(r"max-age\s*=\s*(\d+)", re.I)
_HTML_START = re.compile(rb"^\s*(<!--.*?-->\s*)*(<!doctype\s+html|<html)", re.I | re.S)
# Feeds that ask to be fetched less than daily still get a patrol a day (DOMAIN.md §1).
MAX_FEED_WAIT = timedelta(hours=24)


def html_to_text(fragment: str) -> str:
    """Plain text of an HTML fragment (feed summaries and content are HTML)."""
    if "<" not in fragment:
        return fragment.strip()
    try:
        root = lxml_html.fragment_fromstring(fragment, create_parent="div")
    except (ValueError, TypeError):  # lxml's ParserError is a ValueError
        return fragment.strip()
    for bad in root.xpath(".//script|.//style"):
        bad.drop_tree()
    text = root.text_content()
    return re.sub(r"[ \t\r\f\v]+", " ", re.sub(r"\n\s*\n+", "\n", text)).strip()


def entry_time(entry: Any) -> datetime | None:
    for key in ("published_parsed", "updated_parsed", "created_parsed"):
        parsed: time.struct_time | None = entry.get(key)
        if parsed:
            return datetime.fromtimestamp(calendar.timegm(parsed), UTC)
    return None


def looks_like_html(body: bytes) -> bool:
    return bool(_HTML_START.match(body[:2048]))


def refetch_after(response: Response, feed_ttl: str | None) -> timedelta | None:
    """How long the server asks us not to fetch again: the larger of the feed's ``ttl``
    (minutes) and ``Cache-Control: max-age``, at most a day."""
    waits = []
    if feed_ttl and str(feed_ttl).strip().isdigit():
        waits.append(timedelta(minutes=int(str(feed_ttl).strip())))
    cache = (response.headers.get("Cache-Control") or b"").decode("latin-1")
    match = _MAX_AGE.search(cache)
    if match and "no-cache" not in cache and "no-store" not in cache:
        waits.append(timedelta(seconds=int(match.group(1))))
    return min(max(waits), MAX_FEED_WAIT) if waits else None


class FeedSpider(SourceSpider):
    kind = SourceKind.FEED
    # A published feed is an invitation to fetch it: robots.txt is for crawling pages.
    custom_settings = {"ROBOTSTXT_OBEY": False}  # noqa: RUF012  # Scrapy declares it so

    def parse_start(self, response: Response) -> Iterator[Any]:
        if response.status == 304:
            assert self.crawler.stats is not None
            self.crawler.stats.inc_value("yuqing/not_modified")
            self._defer(response, None)
            return
        parsed = feedparser.parse(
            response.body,
            response_headers={
                "content-type": (response.headers.get("Content-Type") or b"").decode("latin-1"),
                "content-location": response.url,
            },
        )
        if not parsed.get("version") and not parsed.entries:
            # Not remembered: the next patrol must fetch it again, not be told "not modified".
            self.pending_validators.pop(canonical_url(response.url), None)
            what = "an HTML page" if looks_like_html(response.body) else "not a feed"
            self.record_error(
                "not_a_feed",
                response.url,
                f"the URL of feed source {self.source.id!r} serves {what}; check its "
                "address in the sources config",
                event=True,
            )
            return
        if parsed.get("bozo"):
            self.record_warning(
                "bozo_feed",
                response.url,
                f"feed is malformed ({parsed.get('bozo_exception')}); "
                f"kept the {len(parsed.entries)} entries that could be read",
            )
        self._defer(response, parsed.feed.get("ttl"))
        follow = self.source.profile == "article"
        for entry in parsed.entries:
            item = self._entry_item(response, entry)
            if item is None:
                continue
            if follow and item.post.url != response.url:
                yield self.request(
                    item.post.url, self.parse_article, item=item, errback=self._article_failed
                )
            else:
                yield item

    def _entry_item(self, response: Response, entry: Any) -> PostItem | None:
        link = entry.get("link")
        url = response.urljoin(link) if link else response.url
        anchor = None if link else (entry.get("id") or entry.get("title"))
        if not link and not anchor:
            self.record_warning(
                "feed_entry_skipped", response.url, "entry without link, id or title"
            )
            return None
        content = entry.get("content") or []
        body = content[0].get("value", "") if content else entry.get("summary", "")
        return self.post_item(
            response,
            url=url,
            anchor=anchor,
            title=html_to_text(entry.get("title", "")),
            text=html_to_text(body),
            author=entry.get("author") or None,
            published=entry_time(entry),
        )

    def parse_article(self, response: Response) -> Iterator[PostItem]:
        """The entry's page: keep the longer of the feed's text and the page's main text."""
        item: PostItem = response.meta["item"]
        text = article_text(response)
        if text and len(text) > len(item.post.text):
            item.post.text = text
            item.page = self.page(response)
        yield item

    def _article_failed(self, failure: Failure) -> Iterator[PostItem]:
        """The entry is still a post when its page cannot be fetched: keep the feed's text."""
        self.on_error(failure)
        yield failure.request.meta["item"]  # type: ignore[attr-defined]  # Scrapy sets .request

    def _defer(self, response: Response, feed_ttl: str | None) -> None:
        wait = refetch_after(response, feed_ttl)
        if wait:
            self.state.defer(self.source.id, datetime.now(UTC) + wait, "feed ttl / max-age")


def article_text(response: Response) -> str:
    """Main text of an article page, by trafilatura (measured as the better extractor)."""
    import trafilatura

    try:
        text = trafilatura.extract(response.text, url=response.url, favor_recall=True)
    except (ValueError, AttributeError):
        return ""
    return str(text or "")
