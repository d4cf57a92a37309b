"""Feeds (RSS 0.9x/1.0/2.0, Atom) from the fetched bytes with feedparser, so it sees the XML
encoding declaration itself; a feed it calls bozo still gives what it could read, flagged."""

from __future__ import annotations

import calendar
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import feedparser
from lxml import etree  # type: ignore[import-untyped]  # lxml ships no type stubs
from lxml import html as lxml_html

from crawler.extract.text import element_text


class NotAFeed(ValueError):
    """The bytes are not a feed at all (typically an HTML page served at the feed URL)."""


@dataclass(frozen=True)
class Entry:
    title: str
    url: str
    published: datetime | None
    text: str
    author: str | None = None
    id: str | None = None


@dataclass
class Feed:
    title: str
    version: str  # feedparser's name for the format: rss20, rss091u, rss10, atom10, ...
    entries: list[Entry] = field(default_factory=list)
    bozo: bool = False
    bozo_reason: str | None = None  # why feedparser found it malformed, for the warning recorded
    ttl_minutes: int | None = None  # RSS <ttl>: how long the publisher asks us to wait


def parse_feed(body: bytes, url: str | None = None, content_type: str | None = None) -> Feed:
    """Parse feed bytes; raise :class:`NotAFeed` when there is no feed in them."""
    # Without a Content-Type feedparser marks every feed bozo; XML lets the declaration decide.
    headers = {"content-type": content_type or "application/xml", "content-location": url or ""}
    parsed: Any = feedparser.parse(body, response_headers=headers)
    version = parsed.get("version") or ""
    if not version and not parsed.entries:
        head = body[:512].lstrip().lower()
        what = "an HTML page" if head.startswith((b"<!doctype html", b"<html")) else "not a feed"
        reason = parsed.get("bozo_exception")
        raise NotAFeed(f"{what}: no RSS or Atom found" + (f" ({reason})" if reason else ""))
    feed = Feed(
        title=_plain(parsed.feed.get("title", "")),
        version=version or "unknown",
        bozo=bool(parsed.get("bozo")),
        bozo_reason=str(parsed.get("bozo_exception")) if parsed.get("bozo") else None,
        ttl_minutes=_int(parsed.feed.get("ttl")),
    )
    for item in parsed.entries:
        feed.entries.append(
            Entry(
                title=_plain(item.get("title", "")),
                url=item.get("link") or item.get("id") or "",
                published=_when(item),
                text=_entry_text(item),
                author=item.get("author") or None,
                id=item.get("id") or item.get("link") or None,
            )
        )
    return feed


def _when(item: Any) -> datetime | None:
    for key in ("published_parsed", "updated_parsed", "created_parsed"):
        value = item.get(key)
        if value:
            # feedparser normalises to a UTC struct_time.
            return datetime.fromtimestamp(calendar.timegm(value), UTC)
    return None


def _entry_text(item: Any) -> str:
    contents = item.get("content") or []
    candidates = [c.get("value", "") for c in contents] + [item.get("summary", "")]
    texts = [_plain(c) for c in candidates if c]
    return max(texts, key=len) if texts else ""


def _plain(value: str) -> str:
    if "<" not in value:
        return value.strip()
    try:
        root = lxml_html.fragment_fromstring(value, create_parent="div")
    except (etree.ParserError, ValueError):
        return value.strip()
    return element_text(root)


def _int(value: object) -> int | None:
    try:
        return int(str(value).strip()) if value is not None else None
    except ValueError:
        return None
