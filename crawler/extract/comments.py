"""News comments: from a JSON comment API described in config by dotted paths, or embedded in
the article's HTML (selectors from config, or common markup)."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from urllib.parse import urljoin
from zoneinfo import ZoneInfo

from lxml import etree  # type: ignore[import-untyped]  # lxml ships no type stubs
from parsel import Selector

from crawler.extract.text import element_text, select
from crawler.extract.times import DEFAULT_ZONE, parse_time

_JSON_KEYS = ("api", "article_id", "list", "text", "author", "time", "id", "reply_to", "next")
_HTML_KEYS = ("html_item", "html_text", "html_author", "html_time", "html_id")
# Markup news sites commonly use when they render comments into the page.
_DEFAULT_HTML = {
    "html_item": "//*[self::li or self::div][contains(concat(' ',normalize-space(@class),' '),"
    " ' comment-item ') or contains(concat(' ',normalize-space(@class),' '),' comment ')]",
    "html_text": ".//*[contains(@class,'comment-text') or contains(@class,'comment-content')"
    " or contains(@class,'cmt-txt')]",
    "html_author": ".//*[contains(@class,'nick') or contains(@class,'user-name') or "
    "contains(@class,'author')]",
    "html_time": ".//*[contains(@class,'time') or contains(@class,'date')]",
    "html_id": "./@id",
}
_PATH_PART = re.compile(r"[^.\[\]]+|\[\d+\]")


class CommentConfigError(ValueError):
    """A comment configuration that cannot work; the message names the key and the fix."""


@dataclass(frozen=True)
class Comment:
    text: str
    author: str | None = None
    time: datetime | None = None
    id: str | None = None
    reply_to: str | None = None


@dataclass
class CommentPage:
    comments: list[Comment] = field(default_factory=list)
    next_url: str | None = None


@dataclass(frozen=True)
class CommentConfig:
    """How one site serves comments. JSON paths are dotted (``data.comments``, ``user.nickname``,
    ``items[0].text``); ``api`` (or ``url``) is a URL template with ``{id}`` (or
    ``{article_id}``: the article id, taken from the article URL by the ``article_id`` regex's
    first group) and ``{page}``."""

    api: str = ""
    article_id: str = r"(\d+)(?:\.s?html?)?$"
    list: str = ""
    text: str = ""
    author: str = ""
    time: str = ""
    id: str = ""
    reply_to: str = ""
    next: str = ""
    html_item: str = ""
    html_text: str = ""
    html_author: str = ""
    html_time: str = ""
    html_id: str = ""

    @classmethod
    def from_mapping(cls, source: str, values: dict[str, str]) -> CommentConfig:
        values = dict(values)
        if "url" in values:  # the name the configuration docs use for the API template
            if "api" in values:
                raise CommentConfigError(
                    f"source {source!r}: give the comments 'url' or 'api', not both"
                )
            values["api"] = values.pop("url")
        if "api" in values:
            values["api"] = values["api"].replace("{article_id}", "{id}")
        unknown = sorted(set(values) - set(_JSON_KEYS) - set(_HTML_KEYS))
        if unknown:
            raise CommentConfigError(
                f"source {source!r}: unknown comments key(s) {', '.join(unknown)}; known keys: "
                f"url, {', '.join(_JSON_KEYS + _HTML_KEYS)}"
            )
        if values.get("api") and not (values.get("list") and values.get("text")):
            raise CommentConfigError(
                f"source {source!r}: a comment api needs 'list' and 'text' paths into its JSON"
            )
        if values.get("api") and "{id}" not in values["api"] and "{page}" not in values["api"]:
            raise CommentConfigError(
                f"source {source!r}: comments api {values['api']!r} has neither {{id}} nor {{page}}"
            )
        try:
            re.compile(values.get("article_id", cls.article_id))
        except re.error as exc:
            raise CommentConfigError(
                f"source {source!r}: article_id is not a regex: {exc}"
            ) from None
        return cls(**values)


def dig(data: Any, path: str) -> Any:
    """The value at a dotted path (``data.list[0].user.name``); None where the path breaks."""
    if not path:
        return data
    for part in _PATH_PART.findall(path):
        if part.startswith("["):
            index = int(part[1:-1])
            data = (
                data[index] if isinstance(data, list) and -len(data) <= index < len(data) else None
            )
        elif isinstance(data, dict):
            data = data.get(part)
        elif isinstance(data, list) and part.isdigit() and int(part) < len(data):
            data = data[int(part)]
        else:
            data = None
        if data is None:
            return None
    return data


def first_api_url(config: CommentConfig, article_url: str) -> str | None:
    """The comment API URL for an article's first page of comments, or None if not configured."""
    if not config.api:
        return None
    match = re.search(config.article_id, article_url.split("?")[0])
    if "{id}" in config.api and not match:
        return None
    article = match.group(1) if match and match.groups() else (match.group(0) if match else "")
    return urljoin(article_url, config.api.replace("{id}", article).replace("{page}", "1"))


def parse_comment_json(
    body: bytes | str,
    config: CommentConfig,
    url: str,
    *,
    page: int = 1,
    zone: ZoneInfo = DEFAULT_ZONE,
    now: datetime | None = None,
) -> CommentPage:
    """One page of a JSON comment API. Raises ValueError when the body is not JSON (an error page,
    a JSONP wrapper is unwrapped) or the configured list path is not a list."""
    data = json.loads(_unwrap_jsonp(body.decode("utf-8-sig") if isinstance(body, bytes) else body))
    items = dig(data, config.list)
    if items is None:
        return CommentPage()
    if not isinstance(items, list):
        raise ValueError(f"comments: path {config.list!r} is a {type(items).__name__}, not a list")
    result = CommentPage()
    for item in items:
        text = dig(item, config.text)
        if not isinstance(text, str) or not text.strip():
            continue
        result.comments.append(
            Comment(
                text=_plain(text),
                author=_str(dig(item, config.author)) if config.author else None,
                time=parse_time(dig(item, config.time), zone=zone, now=now)
                if config.time
                else None,
                id=_str(dig(item, config.id)) if config.id else None,
                reply_to=_str(dig(item, config.reply_to)) if config.reply_to else None,
            )
        )
    result.next_url = _next(data, config, url, page, bool(items))
    return result


def _next(data: Any, config: CommentConfig, url: str, page: int, had_items: bool) -> str | None:
    if config.next:
        value = dig(data, config.next)
        if value in (None, "", False, 0):
            return None
        if isinstance(value, str) and (value.startswith(("http", "/", "?"))):
            return urljoin(url, value)
        if "{page}" in config.api and str(value).isdigit():
            return urljoin(url, config.api.replace("{page}", str(value)))
        return None
    # No next path: keep counting pages while they have comments.
    if "{page}" in config.api and had_items:
        return url.replace(f"page={page}", f"page={page + 1}") if f"page={page}" in url else None
    return None


def parse_embedded_comments(
    html: str,
    config: CommentConfig | None = None,
    *,
    zone: ZoneInfo = DEFAULT_ZONE,
    now: datetime | None = None,
) -> list[Comment]:
    """Comments rendered into an article page, by configured selectors or common markup."""
    page = Selector(text=html)
    chosen = {k: (getattr(config, k) if config else "") or _DEFAULT_HTML[k] for k in _HTML_KEYS}
    found: list[Comment] = []
    for item in select(page, chosen["html_item"]):
        text = _text(item, chosen["html_text"])
        if not text:
            continue
        found.append(
            Comment(
                text=text,
                author=_text(item, chosen["html_author"]) or None,
                time=parse_time(_text(item, chosen["html_time"]), zone=zone, now=now),
                id=_text(item, chosen["html_id"]) or None,
            )
        )
    return found


def _text(node: Selector, expr: str) -> str:
    for hit in select(node, expr):
        root = hit.root
        value = element_text(root) if isinstance(root, etree._Element) else str(root)
        if value.strip():
            return value.strip()
    return ""


def _unwrap_jsonp(text: str) -> str:
    stripped = text.strip()
    match = re.fullmatch(r"[\w$.]+\s*\(\s*(.*)\s*\)\s*;?", stripped, re.DOTALL)
    return match.group(1) if match else stripped


def _plain(text: str) -> str:
    if "<" not in text:
        return text.strip()
    return element_text(Selector(text=f"<div>{text}</div>").xpath("//div")[0].root)


def _str(value: Any) -> str | None:
    return None if value is None or value == "" else str(value)
