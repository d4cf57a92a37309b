"""An article page's title, main text and publish time: trafilatura first, a paragraph-density
fallback when it finds nothing, and the publish time from meta tags or the byline."""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from datetime import datetime
from zoneinfo import ZoneInfo

import trafilatura
from lxml import etree  # type: ignore[import-untyped]  # lxml ships no type stubs
from parsel import Selector

from crawler.extract.text import element_text
from crawler.extract.times import DEFAULT_ZONE, parse_time

# trafilatura logs every page it finds too short at WARNING; that is our fallback's cue, not news.
logging.getLogger("trafilatura").setLevel(logging.ERROR)

_MIN_TEXT = 40  # characters: below this trafilatura probably missed the body
_META_TIME = (
    "//meta[@property='article:published_time']/@content",
    "//meta[@name='publishdate' or @name='PubDate' or @name='pubdate' or @name='publish_date']"
    "/@content",
    "//meta[@itemprop='datePublished']/@content",
    "//time[@datetime]/@datetime",
)
# Bylines: "发布时间：2026-11-20 10:32", "2026年11月18日 09:15 来源：…"
_BYLINE_TIME = re.compile(
    r"(?:发布|发表|更新)?(?:时间|日期)?[:：]?\s*"
    r"(\d{4}\s*[-/年.]\s*\d{1,2}\s*[-/月.]\s*\d{1,2}\s*日?(?:\s*\d{1,2}[:：]\d{2}(?:[:：]\d{2})?)?)"
)
_TITLE_XPATHS = ("//h1", "//meta[@property='og:title']/@content", "//title")


@dataclass(frozen=True)
class Article:
    title: str
    text: str
    published: datetime | None
    extractor: str  # "trafilatura" or "fallback": which one produced the text


def extract_article(
    html: str, url: str | None = None, *, zone: ZoneInfo = DEFAULT_ZONE, now: datetime | None = None
) -> Article:
    """Main text, title and publish time of an article page (an empty text if there is none)."""
    doc = trafilatura.bare_extraction(
        html, url=url, with_metadata=True, include_comments=False, include_tables=False
    )
    page = Selector(text=html)
    text = _tidy(getattr(doc, "text", None) or "")
    extractor = "trafilatura"
    if len(text) < _MIN_TEXT:
        fallback = _densest_block(page)
        if len(fallback) > len(text):
            text, extractor = fallback, "fallback"
    title = _title(page) or (getattr(doc, "title", None) or "").strip()
    published = _published(page, zone, now)
    date = getattr(doc, "date", None)
    if published is None and date:
        published = parse_time(str(date), zone=zone, now=now)
    return Article(title=title, text=text, published=published, extractor=extractor)


def _tidy(text: str) -> str:
    """Trim each line, including the full-width spaces Chinese pages indent paragraphs with."""
    lines = (line.strip(" \t\u3000\u00a0") for line in text.splitlines())
    return "\n".join(line for line in lines if line)


def _title(page: Selector) -> str:
    for xpath in _TITLE_XPATHS:
        value = page.xpath(xpath)
        if not value:
            continue
        root = value[0].root
        text = element_text(root) if isinstance(root, etree._Element) else str(root)
        text = text.strip()
        if xpath == "//title":
            # "<title>_<site>": the site name after the separator is not the title.
            text = re.split(r"\s*(?:_|\s-\s|\s\|\s)\s*", text, maxsplit=1)[0]
        if text:
            return text
    return ""


def _published(page: Selector, zone: ZoneInfo, now: datetime | None) -> datetime | None:
    for xpath in _META_TIME:
        for value in page.xpath(xpath).getall():
            found = parse_time(value, zone=zone, now=now)
            if found is not None:
                return found
    # The byline sits near the top of the body: look at the first few kilobytes of text only.
    body = page.xpath("//body")
    if not body:
        return None
    root = body[0].root
    visible = element_text(root)[:3000] if isinstance(root, etree._Element) else ""
    match = _BYLINE_TIME.search(visible)
    return parse_time(match.group(1), zone=zone, now=now) if match else None


def _densest_block(page: Selector) -> str:
    """The text of the element whose direct paragraphs hold the most characters."""
    best = ""
    for parent in page.xpath("//*[p]"):
        paragraphs = [
            element_text(p.root) for p in parent.xpath("./p") if isinstance(p.root, etree._Element)
        ]
        text = "\n".join(p for p in paragraphs if p)
        if len(text) > len(best):
            best = text
    return best
