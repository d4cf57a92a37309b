"""``yuqing extract FILE``: print as JSON what the extractors find in one saved page."""

from __future__ import annotations

import argparse
import json
import sys
from datetime import datetime
from pathlib import Path
from typing import Any

from crawler.encoding import decode_page
from crawler.extract.article import extract_article
from crawler.extract.comments import parse_embedded_comments
from crawler.extract.detect import PageKind, detect
from crawler.extract.feed import NotAFeed, parse_feed
from crawler.extract.forum import ListPage, parse_page, profile_named, recognise
from crawler.extract.profiles import BUILT_IN, ForumProfile

_KINDS = ("auto", "article", "forum", "feed")


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = sub.add_parser(
        "extract",
        help="print as JSON what the extractors find in one saved page",
        description="Run the extractors on one saved file (HTML page or feed) and print JSON: "
        "title and text; posts (author, time, text, floor) for forum pages; entries (title, "
        "url, published, text) for feeds.",
    )
    parser.add_argument("file", metavar="FILE", help="the saved page or feed")
    parser.add_argument(
        "--url",
        default=None,
        help="the URL the page was fetched from (helps recognise forum pages)",
    )
    parser.add_argument(
        "--kind",
        choices=_KINDS,
        default="auto",
        help="which extractor to apply (default: recognise the page)",
    )
    parser.add_argument(
        "--profile",
        choices=sorted(BUILT_IN),
        default=None,
        help="forum profile to use instead of recognising one",
    )
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    try:
        body = Path(args.file).read_bytes()
    except OSError as exc:
        print(f"yuqing extract: cannot read {args.file}: {exc.strerror or exc}", file=sys.stderr)
        return 2
    try:
        result = extract_file(body, url=args.url, kind=args.kind, profile=args.profile)
    except (NotAFeed, ValueError) as exc:
        print(f"yuqing extract: {args.file}: {exc}", file=sys.stderr)
        return 1
    try:
        json.dump(result, sys.stdout, ensure_ascii=False, indent=2, default=_jsonable)
        sys.stdout.write("\n")
        sys.stdout.flush()
    except BrokenPipeError:  # piped into `head`: the reader has what it wanted
        sys.stderr.close()
    return 0


def extract_file(
    body: bytes, *, url: str | None = None, kind: str = "auto", profile: str | None = None
) -> dict[str, Any]:
    """What ``yuqing extract`` prints, as a dict (also used by bench/extract_bench.py)."""
    text, encoding = decode_page(body)
    forced = profile_named(profile) if profile else None
    detection = detect(body, text, url, profiles=(forced,) if forced else ())
    if kind == "auto":
        kind = {
            PageKind.FEED: "feed",
            PageKind.FORUM_THREAD: "forum",
            PageKind.FORUM_LIST: "forum",
        }.get(detection.kind, "article")
    out: dict[str, Any] = {"kind": kind, "encoding": encoding}
    if kind == "feed":
        feed = parse_feed(body, url)
        out.update(
            title=feed.title,
            text="\n".join(e.text for e in feed.entries if e.text),
            format=feed.version,
            bozo=feed.bozo,
            bozo_reason=feed.bozo_reason,
            entries=[
                {
                    "title": e.title,
                    "url": e.url,
                    "published": e.published,
                    "text": e.text,
                    "author": e.author,
                }
                for e in feed.entries
            ],
        )
    elif kind == "forum":
        chosen = forced or detection.profile or _any_profile(text, url)
        page = parse_page(text, url or "", chosen)
        out["profile"] = chosen.name
        if isinstance(page, ListPage):
            out.update(
                page="list",
                title="",
                text="",
                next_url=page.next_url,
                threads=[
                    {
                        "url": t.url,
                        "title": t.title,
                        "reply_count": t.reply_count,
                        "last_reply": t.last_reply,
                    }
                    for t in page.threads
                ],
            )
        else:
            out.update(
                page="thread",
                title=page.title,
                thread_url=page.thread_url,
                next_url=page.next_url,
                text="\n".join(r.text for r in page.replies),
                posts=[
                    {
                        "floor": r.floor,
                        "author": r.author,
                        "time": r.time,
                        "text": r.text,
                        "anchor": r.anchor,
                        "reply_to": r.reply_to,
                    }
                    for r in page.replies
                ],
            )
    else:
        article = extract_article(text, url)
        out.update(
            title=article.title,
            text=article.text,
            published=article.published,
            extractor=article.extractor,
            comments=[
                {"author": c.author, "time": c.time, "text": c.text, "id": c.id}
                for c in parse_embedded_comments(text)
            ],
        )
    return out


def _any_profile(text: str, url: str | None) -> ForumProfile:
    found = recognise(text, url)
    if found is None:
        raise ValueError(
            f"not a page of a known forum (try --profile {'|'.join(sorted(BUILT_IN))})"
        )
    return found[0]


def _jsonable(value: object) -> str:
    if isinstance(value, datetime):
        return value.isoformat()
    raise TypeError(f"{type(value).__name__} is not JSON serialisable")
