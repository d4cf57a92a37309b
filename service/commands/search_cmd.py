"""`yuqing search`: the archive by words, time, source, site, sentiment, category, severity."""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from core.post import SENTIMENT_LABELS, Category, Post, Sentiment, Severity
from core.settings import Settings
from service.cli import UserError
from service.timespec import parse_when
from service.wiring import SetupError, open_index, settings_from_args
from store.base import IndexUnavailable, SearchQuery, SortOrder
from store.query import QueryError

# What an analyst may type for each filter, in English or Chinese, to the stored value.
_CATEGORY_NAMES = {
    "询问": Category.APPEAL,
    "质疑": Category.APPEAL,
    "诉求": Category.APPEAL,
    "询问/质疑/诉求": Category.APPEAL,
    "炒作": Category.HYPE,
    "恶意传播": Category.HYPE,
    "恶意传播/炒作": Category.HYPE,
    "捏造": Category.DEFAMATION,
    "诽谤": Category.DEFAMATION,
    "煽动": Category.DEFAMATION,
    "捏造/歪曲/诽谤/煽动": Category.DEFAMATION,
    "建议": Category.SUGGESTION,
    "其他": Category.OTHER,
}
_SENTIMENT_NAMES = {label: Sentiment(value) for value, label in SENTIMENT_LABELS.items()}


def _choice(value: str, enum: type[Any], names: dict[str, Any], what: str) -> str:
    if value in names:
        return str(names[value].value)
    try:
        return str(enum(value.lower()).value)
    except ValueError:
        allowed = ", ".join([*(e.value for e in enum), *names])
        raise UserError(f"{what} {value!r} is not one of: {allowed}") from None


def _severity_names(settings: Settings) -> dict[str, Severity]:
    names: dict[str, Severity] = {
        "一般": Severity.GENERAL,
        "重大": Severity.MAJOR,
        "较大": Severity.MAJOR,
        "特别重大": Severity.ESPECIALLY_MAJOR,
    }
    for level in Severity:
        tier = getattr(settings.tiers, level.value, None)
        name = getattr(tier, "name", None)
        if isinstance(name, str):
            names[name] = level
    return names


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser(
        "search",
        help="search the archive",
        description='Search posts. Words must all occur; "quoted phrases" must occur as '
        "written; AND, OR, NOT (or +word, -word) and parentheses combine them. "
        "Filters may be repeated and take English or Chinese names.",
    )
    p.add_argument("query", nargs="?", default="", help='e.g. 食堂 卫生 -广告, or "期末考试 泄题"')
    p.add_argument("--since", help="from this time: 2026-03-01, '2026-03-01 08:30', 24h, 7d")
    p.add_argument("--until", help="up to (not including) this time")
    p.add_argument("--source", action="append", default=[], help="source id")
    p.add_argument("--site", action="append", default=[], help="host, e.g. tieba.baidu.com")
    p.add_argument("--sentiment", action="append", default=[], help="negative/负面, ...")
    p.add_argument("--category", action="append", default=[], help="appeal/诉求, hype/炒作, ...")
    p.add_argument("--severity", action="append", default=[], help="general/一般, major/重大, ...")
    p.add_argument("--unit", action="append", default=[], help="responsible unit id")
    p.add_argument("--sort", choices=[s.value for s in SortOrder], default="time")
    p.add_argument("--limit", type=int, default=20, help="posts per page (1-1000)")
    p.add_argument("--page", dest="page_token", help="the page token printed by the last search")
    p.add_argument("--json", action="store_true", help="machine-readable output")
    p.set_defaults(func=run)


def build_query(args: argparse.Namespace, settings: Settings) -> SearchQuery:
    if not 1 <= args.limit <= 1000:
        raise UserError("--limit must be between 1 and 1000")
    try:
        since = parse_when(args.since, settings.tz) if args.since else None
        until = parse_when(args.until, settings.tz) if args.until else None
    except ValueError as exc:
        raise UserError(str(exc)) from None
    if since and until and since >= until:
        raise UserError("--since must be before --until")
    severity_names = _severity_names(settings)
    return SearchQuery(
        text=args.query,
        since=since,
        until=until,
        sources=args.source,
        sites=args.site,
        sentiments=[_choice(v, Sentiment, _SENTIMENT_NAMES, "sentiment") for v in args.sentiment],
        categories=[_choice(v, Category, _CATEGORY_NAMES, "category") for v in args.category],
        severities=[_choice(v, Severity, severity_names, "severity") for v in args.severity],
        units=args.unit,
        sort=SortOrder(args.sort),
        limit=args.limit,
        page_token=args.page_token,
    )


def _line(post: Post, settings: Settings) -> str:
    when = post.time.astimezone(settings.tz).strftime("%Y-%m-%d %H:%M")
    mood = SENTIMENT_LABELS.get(post.sentiment, "") if post.sentiment else ""
    head = (post.title or post.text).replace("\n", " ").strip()
    head = head[:60] + ("…" if len(head) > 60 else "")
    tags = " ".join(t for t in (post.source, mood, post.severity or "") if t)
    return f"{when}  [{tags}]  {head}\n                  {post.url}"


def run(args: argparse.Namespace) -> int:
    try:
        settings = settings_from_args(args, delivers=False)
        query = build_query(args, settings)
        index = open_index(settings)
        try:
            page = index.search(query)
        finally:
            index.close()
    except SetupError as exc:
        raise UserError(str(exc)) from None
    except QueryError as exc:
        raise UserError(f"the query does not parse: {exc}") from None
    except IndexUnavailable as exc:
        raise UserError(f"the index is not reachable: {exc}") from None
    except ValueError as exc:  # a damaged page token
        raise UserError(str(exc)) from None
    if args.json:
        json.dump(
            {
                "total": page.total,
                "next_page": page.next_page_token,
                "posts": [p.model_dump(mode="json") for p in page.posts],
            },
            sys.stdout,
            ensure_ascii=False,
        )
        print()
        return 0
    print(f"{page.total} posts" + (f", showing {len(page.posts)}" if page.posts else ""))
    for post in page.posts:
        print(_line(post, settings))
    if page.next_page_token:
        print(f"more: add --page {page.next_page_token}")
    return 0
