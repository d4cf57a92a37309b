"""An article page's title, main text and publish time: the body container of a known CMS when
the page has one, else trafilatura, else a paragraph-density fallback; the publish time from meta
tags or the byline."""

from __future__ import annotations

import copy
import logging
import re
from dataclasses import dataclass
from datetime import datetime
from zoneinfo import ZoneInfo

import trafilatura
from lxml import etree  # type: ignore[import-untyped]  # lxml ships no type stubs
from lxml.html import HtmlElement  # type: ignore[import-untyped]  # lxml ships no type stubs
from parsel import Selector

from crawler.extract.text import element_text
from crawler.extract.times import DEFAULT_ZONE, parse_time

# trafilatura logs every page it finds too short at WARNING; that is our fallback's cue, not news.
logging.getLogger("trafilatura").setLevel(logging.ERROR)

_MIN_TEXT = 40  # characters: below this trafilatura probably missed the body
_MIN_CONTAINER = 80  # characters: a known body element this short is an empty shell
# The elements Chinese CMSs put an article's body in, and nothing else: VSB/博达 and WebPlus
# (universities), TRS (government, People's Daily), WeChat articles, Sina, NetEase, Tencent, Sohu.
_CONTAINERS = (
    "//div[@class='v_news_content']",
    "//div[@id='vsb_content']",
    "//div[contains(concat(' ', @class, ' '), ' wp_articlecontent ')]",
    "//div[contains(concat(' ', @class, ' '), ' TRS_Editor ')]",
    "//div[@id='js_content']",
    "//div[@id='artibody']",
    "//div[@id='endText']",
    "//div[contains(concat(' ', @class, ' '), ' post_body ')]",
    "//div[contains(concat(' ', @class, ' '), ' rm_txt_con ')]",
    "//div[@class='content-article']",
    "//article[@id='mp-editor']",
)
# Inside such an element: hidden text, scripts, share bars, editor/source notes, ad slots.
_CONTAINER_JUNK = (
    ".//*[contains(translate(@style, ' ', ''), 'display:none')]"
    " | .//script | .//style"
    " | .//*[re:test(@class, '(^|[ _-])(share|bdsharebuttonbox|ep-source|show_author|"
    "edit|ad|adv|ads|statement|copyright|paper_num)([ _-]|$)', 'i')]"
)
_EXSLT = {"re": "http://exslt.org/regular-expressions"}
_BLOCKS = ("p", "div", "section", "li", "ul", "ol", "table", "h2", "h3", "h4")
# Lines of a body element that are not the article: who edited, checked or supplied it
# ("责任编辑：…", WeChat's "编辑｜小江"), the newspaper edition ("《 人民日报 》（ 2026年11月20日
# 13 版）"), WeChat's "点击蓝字 关注我们".
_NOT_BODY = re.compile(
    r"^[（(【\[]?\s*(?:责任编辑|责编|编辑|审核|初审|复审|终审|校对|来源|稿源|作者|文字|图文|"
    r"摄影|排版|美编|设计)\s*[:：|｜丨]"
    r"|^《\s*[^》]{2,12}\s*》\s*[（(]\s*\d{4}\s*年.*版\s*[）)]$"
    r"|^(?:点击|点)(?:上方|下方)?\s*[“\"]?蓝字[”\"]?\s*(?:一键)?关注"
)
# WeChat articles fill in their time by script, from the Unix seconds in `var ct = "…"`.
_WECHAT_TIME = re.compile(r"""\bvar\s+ct\s*=\s*["'](\d{10})["']""")
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
    # "container" (a known CMS's body element), "trafilatura" or "fallback": which produced it
    extractor: str


def extract_article(
    html: str,
    url: str | None = None,
    *,
    page: Selector | None = None,
    zone: ZoneInfo = DEFAULT_ZONE,
    now: datetime | None = None,
) -> Article:
    """Main text, title and publish time of an article page (an empty text if there is none).
    ``page`` is ``html`` already parsed (a spider's ``response.selector``): parsed once."""
    page = page if page is not None else Selector(text=html)
    text, extractor = container_text(page), "container"
    if len(text) < _MIN_CONTAINER:
        # trafilatura's fast mode (no second pass through readability/jusText) and no metadata:
        # half the time of its defaults, the same text on our saved pages; the title and date
        # come from our own look-ups below, trafilatura's metadata only when they find nothing.
        # (It gets the string, not our tree: its own checks turn away bytes that are no HTML.)
        doc = trafilatura.bare_extraction(
            html, url=url, fast=True, include_comments=False, include_tables=False
        )
        text, extractor = _tidy(getattr(doc, "text", None) or ""), "trafilatura"
        if len(text) < _MIN_TEXT:
            fallback = _densest_block(page)
            if len(fallback) > len(text):
                text, extractor = fallback, "fallback"
    title = _title(page)
    published = _published(page, html, zone, now)
    if (not title or published is None) and isinstance(page.root, HtmlElement):
        meta = trafilatura.extract_metadata(copy.deepcopy(page.root), url)
        title = title or (meta.title or "").strip()
        if published is None and meta.date:
            published = parse_time(str(meta.date), zone=zone, now=now)
    return Article(title=title, text=text, published=published, extractor=extractor)


def container_text(page: Selector) -> str:
    """The text of the body element a known CMS writes articles into, without what such
    elements also hold on real sites: share bars, editor and source lines, hidden text
    ("" when the page has no such element, or an empty one)."""
    for xpath in _CONTAINERS:
        found = page.xpath(xpath)
        if not found or not isinstance(found[0].root, etree._Element):
            continue
        body = copy.deepcopy(found[0].root)
        for junk in body.xpath(_CONTAINER_JUNK, namespaces=_EXSLT):
            junk.drop_tree()  # keeps the text that follows the element
        for block in [b for b in body.iter(*_BLOCKS) if b is not body and _mostly_links(b)]:
            block.drop_tree()  # "返回搜狐，查看更多", "相关阅读 …": links, not the article
        lines = [
            line for line in _tidy(element_text(body)).splitlines() if not _NOT_BODY.match(line)
        ]
        text = "\n".join(lines)
        if len(text) >= _MIN_CONTAINER:
            return text
    return ""


def _mostly_links(block: etree._Element) -> bool:
    """At least half of the block's visible characters are link text."""
    chars = sum(len("".join(t.split())) for t in block.itertext())
    if not chars:
        return False
    linked = sum(len("".join(t.split())) for a in block.iter("a") for t in a.itertext())
    return linked * 2 >= chars


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


def _published(page: Selector, html: str, zone: ZoneInfo, now: datetime | None) -> datetime | None:
    day_only: datetime | None = None  # a meta tag with a date and no time ("2026-11-20")
    for xpath in _META_TIME:
        for value in page.xpath(xpath).getall():
            found = parse_time(value, zone=zone, now=now)
            if found is not None and len(value.strip()) <= 10:
                day_only = day_only or found
            elif found is not None:
                return found
    # The byline sits near the top of the body: look at the first few kilobytes of text only.
    body = page.xpath("//body")
    root = body[0].root if body else None
    visible = element_text(root)[:3000] if isinstance(root, etree._Element) else ""
    match = _BYLINE_TIME.search(visible)
    byline = parse_time(match.group(1), zone=zone, now=now) if match else None
    if byline is not None and (day_only is None or _same_day(byline, day_only, zone)):
        return byline  # the byline's time of day on the meta tag's day
    if day_only is not None:
        return day_only
    wechat = _WECHAT_TIME.search(html)
    return parse_time(wechat.group(1), zone=zone, now=now) if wechat else None


def _same_day(a: datetime, b: datetime, zone: ZoneInfo) -> bool:
    return a.astimezone(zone).date() == b.astimezone(zone).date()


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
