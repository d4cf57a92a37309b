"""Forum pages to data: a list page gives threads, a thread page gives replies and the next page."""

from __future__ import annotations

import copy
import re
from dataclasses import dataclass, field
from datetime import datetime
from urllib.parse import parse_qsl, urlencode, urljoin, urlsplit, urlunsplit
from zoneinfo import ZoneInfo

from lxml import etree  # type: ignore[import-untyped]  # lxml ships no type stubs
from parsel import Selector

from core.urls import canonical_url
from crawler.extract.profiles import BUILT_IN, ForumProfile
from crawler.extract.text import element_text, select
from crawler.extract.times import DEFAULT_ZONE, parse_time

# Discuz! names the first floors instead of numbering them.
_FLOOR_NAMES = {"楼主": 1, "沙发": 2, "板凳": 3, "地板": 4}
_DIGITS = re.compile(r"\d+")
_PID = re.compile(r"pid=(\d+)")
_COUNT = re.compile(r"(\d+(?:\.\d+)?)\s*(万)?")
_REWRITTEN_THREAD = re.compile(r"thread-(\d+)-\d+-(\d+)\.html")
# Query parameters that only say which page of a thread or how we got there.
_PAGING_PARAMS = frozenset({"page", "pn", "extra", "ordertype", "from"})


@dataclass(frozen=True)
class ThreadRef:
    """A thread as a list page shows it: enough to decide whether it changed since last time."""

    url: str
    title: str
    reply_count: int | None
    last_reply: datetime | None


@dataclass(frozen=True)
class Reply:
    """One reply on a thread page. ``anchor`` is its own id (pid) where the page shows one;
    ``reply_to`` the anchor of the reply it quotes or sits under, where shown."""

    floor: int | None
    author: str | None
    time: datetime | None
    text: str
    anchor: str | None = None
    reply_to: str | None = None


@dataclass
class ListPage:
    threads: list[ThreadRef] = field(default_factory=list)
    next_url: str | None = None


@dataclass
class ThreadPage:
    title: str
    thread_url: str  # the thread's first page, canonical: the same for every page of it
    replies: list[Reply] = field(default_factory=list)
    next_url: str | None = None


def thread_url(url: str) -> str:
    """The canonical first page of the thread ``url`` is a page of (any page, any URL style)."""
    parts = urlsplit(url)
    path = _REWRITTEN_THREAD.sub(lambda m: f"thread-{m.group(1)}-1-{m.group(2)}.html", parts.path)
    query = [
        (k, v)
        for k, v in parse_qsl(parts.query, keep_blank_values=True)
        if k.lower() not in _PAGING_PARAMS
    ]
    return canonical_url(urlunsplit((parts.scheme, parts.netloc, path, urlencode(query), "")))


def page_url(thread: str, number: int, profile: ForumProfile) -> str:
    """The URL of page ``number`` of a thread, from its canonical first page."""
    parts = urlsplit(thread)
    if _REWRITTEN_THREAD.search(parts.path):
        path = _REWRITTEN_THREAD.sub(
            lambda m: f"thread-{m.group(1)}-{number}-{m.group(2)}.html", parts.path
        )
        return urlunsplit((parts.scheme, parts.netloc, path, parts.query, ""))
    if number <= 1:
        return thread
    query = [*parse_qsl(parts.query, keep_blank_values=True), (profile.page_param, str(number))]
    return urlunsplit((parts.scheme, parts.netloc, parts.path, urlencode(query), ""))


def _string(node: Selector, expr: str) -> str | None:
    """The first match as text: an attribute or text node as is, an element as its visible text."""
    for hit in select(node, expr):
        root = hit.root
        value = element_text(root) if isinstance(root, etree._Element) else str(root)
        value = value.strip()
        if value:
            return value
    return None


def _time(node: Selector, expr: str, zone: ZoneInfo, now: datetime | None) -> datetime | None:
    for hit in select(node, expr):
        # Discuz! prints "3 天前" and keeps the exact time in a title attribute.
        for candidate in [*hit.xpath(".//@title").getall(), _string(hit, "./self::*") or hit.get()]:
            found = parse_time(candidate, zone=zone, now=now)
            if found is not None:
                return found
    return None


def _floor(value: str | None) -> int | None:
    if not value:
        return None
    for name, number in _FLOOR_NAMES.items():
        if name in value:
            return number
    match = _DIGITS.search(value)
    return int(match.group()) if match else None


def _count(value: str | None) -> int | None:
    """A reply count as boards print it: "12", "1,234", "1.2万"."""
    match = _COUNT.search((value or "").replace(",", ""))
    if not match:
        return None
    number = float(match.group(1))
    return int(number * 10000) if match.group(2) else int(number)


def _anchor(value: str | None) -> str | None:
    if not value:
        return None
    match = _PID.search(value) or _DIGITS.search(value)
    return match.group(match.lastindex or 0) if match else None


def _reply_text(node: Selector, expr: str, remove: tuple[str, ...]) -> str:
    hits = select(node, expr)
    parts: list[str] = []
    for hit in hits:
        root = hit.root
        if not isinstance(root, etree._Element):
            parts.append(str(root))
            continue
        # Work on a copy: the quote is still needed afterwards to read reply_to.
        clone = copy.deepcopy(root)
        for pattern in remove:
            for junk in select(Selector(root=clone), pattern):
                if isinstance(junk.root, etree._Element) and junk.root.getparent() is not None:
                    _drop_keep_tail(junk.root)
        parts.append(element_text(clone))
    return "\n".join(p.strip() for p in parts if p.strip())


def _drop_keep_tail(element: etree._Element) -> None:
    """Remove an element but not the text that follows it, which belongs to its parent."""
    parent = element.getparent()
    assert parent is not None
    tail = element.tail or ""
    previous = element.getprevious()
    if previous is not None:
        previous.tail = (previous.tail or "") + tail
    else:
        parent.text = (parent.text or "") + tail
    parent.remove(element)


def _next(page: Selector, expr: str, base: str) -> str | None:
    href = _string(page, expr)
    if not href or href.startswith(("javascript:", "#")):
        return None
    return urljoin(base, href)


def parse_list(
    html: str,
    url: str,
    profile: ForumProfile,
    *,
    zone: ZoneInfo = DEFAULT_ZONE,
    now: datetime | None = None,
) -> ListPage:
    """The threads a board's list page shows, in page order, and its next page."""
    page = Selector(text=html)
    result = ListPage(next_url=_next(page, profile.list_next, url))
    seen: set[str] = set()
    for row in select(page, profile.thread_item):
        links = select(row, profile.thread_link)
        if not links:
            continue
        href = links[0].attrib.get("href") or _string(links[0], "./@href")
        if not href:
            continue
        target = thread_url(urljoin(url, href))
        if target in seen:
            continue
        seen.add(target)
        count = _string(row, profile.thread_replies)
        result.threads.append(
            ThreadRef(
                url=target,
                title=_string(links[0], "./@title") or _string(links[0], "./self::*") or "",
                reply_count=_count(count),
                last_reply=_time(row, profile.thread_last, zone, now),
            )
        )
    return result


def parse_thread(
    html: str,
    url: str,
    profile: ForumProfile,
    *,
    zone: ZoneInfo = DEFAULT_ZONE,
    now: datetime | None = None,
) -> ThreadPage:
    """The replies on one page of a thread (quotes of earlier replies removed) and its next page."""
    page = Selector(text=html)
    title = _string(page, profile.thread_title) or _title_from_head(page)
    result = ThreadPage(
        title=title, thread_url=thread_url(url), next_url=_next(page, profile.thread_next, url)
    )
    for item in select(page, profile.post_item):
        text = _reply_text(item, profile.post_text, profile.remove)
        anchor = _anchor(_string(item, profile.post_anchor))
        reply = Reply(
            floor=_floor(_string(item, profile.post_floor)),
            author=_string(item, profile.post_author),
            time=_time(item, profile.post_time, zone, now),
            text=text,
            anchor=anchor,
            reply_to=_anchor(_string(item, profile.post_reply_to)),
        )
        if text or reply.author:
            result.replies.append(reply)
        for child in select(item, profile.child_item):
            child_text = _reply_text(child, profile.child_text, profile.remove)
            if not child_text:
                continue
            result.replies.append(
                Reply(
                    floor=None,
                    author=_string(child, profile.child_author),
                    time=_time(child, profile.child_time, zone, now),
                    text=child_text,
                    anchor=_anchor(_string(child, profile.child_anchor)),
                    reply_to=anchor,
                )
            )
    return result


def _title_from_head(page: Selector) -> str:
    title = (page.xpath("//title/text()").get() or "").strip()
    # "<thread> - <board> - <site> - Powered by Discuz!": the thread's own title comes first.
    return re.split(r"\s[-_|]\s|_", title, maxsplit=1)[0].strip()


def profile_named(name: str) -> ForumProfile:
    """A built-in profile by name; a clear error listing the names otherwise."""
    try:
        return BUILT_IN[name]
    except KeyError:
        raise KeyError(
            f"no built-in forum profile {name!r}; built-in: {', '.join(sorted(BUILT_IN))}"
        ) from None


def recognise(
    html: str, url: str | None = None, *, page: Selector | None = None
) -> tuple[ForumProfile, str] | None:
    """Which built-in profile fits a page, and whether the page is a ``thread`` or a ``list``
    (``page``: ``html`` already parsed, if it is)."""
    page = page if page is not None else Selector(text=html)
    for profile in BUILT_IN.values():
        url_says = None
        if url:
            if profile.thread_url and re.search(profile.thread_url, url):
                url_says = "thread"
            elif profile.list_url and re.search(profile.list_url, url):
                url_says = "list"
        if not (url_says or page.xpath(profile.marker)):
            continue
        if page.xpath(profile.post_item):
            return profile, "thread"
        if page.xpath(profile.thread_item):
            return profile, "list"
    return None


def parse_page(
    html: str,
    url: str,
    profile: ForumProfile,
    *,
    zone: ZoneInfo = DEFAULT_ZONE,
    now: datetime | None = None,
) -> ListPage | ThreadPage:
    """A thread page when the profile finds replies on it, else a list page."""
    if profile.post_item and select(Selector(text=html), profile.post_item):
        return parse_thread(html, url, profile, zone=zone, now=now)
    return parse_list(html, url, profile, zone=zone, now=now)
