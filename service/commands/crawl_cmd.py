"""`yuqing crawl URL|SOURCE_ID`: crawl a site or a configured source now, with progress and a
summary; posts go to the configured index and, with --out, to a JSON-lines file."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from urllib.parse import urlsplit

from core.post import SourceKind
from core.settings import Settings, Source
from core.settings_loader import config_path
from core.urls import site_of
from crawler.middlewares import is_public_host
from crawler.runner import SourceSummary, job_for, run
from service.cli import UserError
from service.wiring import SetupError, settings_from_args


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser(
        "crawl",
        help="crawl a site or a configured source now",
        description="Crawl now: a URL (same-site links, robots.txt, sitemaps; feed, forum and "
        "article pages recognised) or the id of a configured source. Posts are "
        "written to the configured index.",
    )
    p.add_argument("target", metavar="URL|SOURCE_ID", help="an http(s) URL or a source id")
    p.add_argument("--out", type=Path, help="also write every post to this JSON-lines file")
    p.add_argument("--max-pages", type=int, help="stop after this many pages (default 200)")
    p.add_argument("--depth", type=int, help="follow links this deep (default 3)")
    p.set_defaults(func=handle)


def resolve_target(
    settings: Settings, target: str, max_pages: int | None, depth: int | None
) -> Source:
    """The source to crawl: a configured one by id, or an ad-hoc site source for a URL."""
    caps: dict[str, int] = {}
    for name, value in (("max_pages", max_pages), ("max_depth", depth)):
        if value is not None:
            if value < (1 if name == "max_pages" else 0):
                raise UserError(
                    f"--{name.replace('max_', '').replace('_', '-')} must be "
                    f"{'at least 1' if name == 'max_pages' else '0 or more'}"
                )
            caps[name] = value
    known = {s.id: s for s in settings.sources}
    if target in known:
        return known[target].model_copy(update=caps)
    parts = urlsplit(target)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        hint = f"; configured sources: {', '.join(sorted(known))}" if known else ""
        raise UserError(f"{target!r} is neither an http(s) URL nor a configured source id{hint}")
    if not settings.allow_private_addresses and not is_public_host(parts.hostname):
        raise UserError(
            f"{parts.hostname} is a private or loopback address; set "
            "allow_private_addresses: true in the config to crawl it"
        )
    site = site_of(target) or "site"
    return Source(
        id=f"crawl.{site}"[:64].rstrip(".-_"),
        kind=SourceKind.SITE,
        name=site,
        urls=[target],
        **caps,
    )


def handle(args: argparse.Namespace) -> int:
    try:
        settings = settings_from_args(args, delivers=False)
    except SetupError as exc:
        raise UserError(str(exc)) from None
    source = resolve_target(settings, args.target, args.max_pages, args.depth)
    if args.out is not None:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text("", encoding="utf-8")  # this crawl's posts, not an older one's
    job = job_for(
        settings,
        [source],
        force=True,
        out=args.out,
        log_level="ERROR",
        config=str(config_path(args.config).resolve()),
    )
    print(
        f"crawling {source.id}: {', '.join(source.urls)} (at most {source.max_pages} pages, "
        f"depth {source.max_depth})",
        file=sys.stderr,
    )
    [summary] = run(job, progress=_progress)
    print(file=sys.stderr)
    print(format_summary(summary))
    return 0 if summary.outcome == "finished" else 1


def _progress(source: str, pages: int, posts: int) -> None:
    print(f"\r  {pages} pages, {posts} posts", end="", file=sys.stderr, flush=True)


def format_summary(summary: SourceSummary) -> str:
    lines = [
        f"{summary.source}: {summary.outcome}" + (f" ({summary.detail})" if summary.detail else ""),
        f"  pages {summary.pages}, {summary.bytes / 1024:.0f} KiB, posts {summary.posts}, "
        f"new posts {summary.new_posts}",
    ]
    if summary.errors:
        lines.append("  errors: " + ", ".join(f"{k} {v}" for k, v in summary.errors.items()))
    if summary.warnings:
        lines.append("  warnings: " + ", ".join(f"{k} {v}" for k, v in summary.warnings.items()))
    return "\n".join(lines)
