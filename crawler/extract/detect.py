"""What kind of page this is — feed, forum thread, forum list, article or other — so that
``yuqing extract --kind auto`` and the on-demand site crawl apply the right extractor."""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import StrEnum

from lxml import etree  # type: ignore[import-untyped]  # lxml ships no type stubs
from parsel import Selector

from crawler.extract.article import container_text
from crawler.extract.forum import recognise
from crawler.extract.profiles import ForumProfile
from crawler.extract.text import select

_FEED_ROOT = re.compile(
    rb"^(?:\xef\xbb\xbf)?\s*(?:<\?xml[^>]*>\s*)?(?:<!--.*?-->\s*|<\?xml-stylesheet[^>]*>\s*"
    rb"|<!DOCTYPE[^>]*>\s*)*<(?:rss|feed|rdf:RDF)[\s>]",
    re.DOTALL | re.IGNORECASE,
)
_FEED_TYPES = ("application/rss+xml", "application/atom+xml", "application/rdf+xml")
_MIN_ARTICLE = 150  # characters of paragraph text in one block: less is a hub or index page


class PageKind(StrEnum):
    FEED = "feed"
    FORUM_THREAD = "forum_thread"
    FORUM_LIST = "forum_list"
    ARTICLE = "article"
    OTHER = "other"


@dataclass(frozen=True)
class Detection:
    kind: PageKind
    profile: ForumProfile | None = None  # for forum pages: the profile that reads them


def is_feed(body: bytes, content_type: str | None = None) -> bool:
    """True for RSS/Atom/RDF bytes; the Content-Type alone is not trusted (HTML is often served
    as text/xml and feeds as text/html)."""
    if content_type and content_type.split(";")[0].strip().lower() in _FEED_TYPES:
        return bool(_FEED_ROOT.match(body[:2048])) or b"<rss" in body[:2048]
    return bool(_FEED_ROOT.match(body[:2048]))


def detect(
    body: bytes,
    text: str,
    url: str | None = None,
    *,
    content_type: str | None = None,
    profiles: tuple[ForumProfile, ...] = (),
    page: Selector | None = None,
) -> Detection:
    """Classify a fetched page; ``text`` is its decoded form, ``profiles`` extra forum profiles
    from config tried before the built-in ones, ``page`` the text already parsed, if it is."""
    if is_feed(body, content_type):
        return Detection(PageKind.FEED)
    page = page if page is not None else Selector(text=text)
    for profile in profiles:
        if profile.post_item and select(page, profile.post_item):
            return Detection(PageKind.FORUM_THREAD, profile)
        if profile.thread_item and select(page, profile.thread_item):
            return Detection(PageKind.FORUM_LIST, profile)
    found = recognise(text, url, page=page)
    if found is not None:
        profile, what = found
        return Detection(
            PageKind.FORUM_THREAD if what == "thread" else PageKind.FORUM_LIST, profile
        )
    # A known CMS's body element counts too: WeChat writes paragraphs as <section>, not <p>.
    if _paragraph_chars(page) >= _MIN_ARTICLE or len(container_text(page)) >= _MIN_ARTICLE:
        return Detection(PageKind.ARTICLE)
    return Detection(PageKind.OTHER)


def _paragraph_chars(page: Selector) -> int:
    """The most paragraph text any one element holds in its direct ``<p>`` children (one walk
    over the tree's paragraphs with lxml: this runs on every page a crawl fetches)."""
    root = page.root
    if not isinstance(root, etree._Element):
        return 0
    totals: dict[etree._Element, int] = {}
    for p in root.iter("p"):
        parent = p.getparent()
        if parent is not None:
            totals[parent] = totals.get(parent, 0) + len("".join(p.itertext()).strip())
    return max(totals.values(), default=0)
