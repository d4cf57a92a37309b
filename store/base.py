"""The PostIndex contract: what every post store (Elasticsearch, embedded SQLite) offers."""

from __future__ import annotations

import base64
import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Protocol, runtime_checkable

from core.post import Post


class IndexUnavailable(RuntimeError):
    """The index cannot be reached or refused the write; the caller spools and retries."""


class PostsRejected(IndexUnavailable):
    """The index took every post of a write but these, which it will never take as they are
    (a 4xx for the document itself, such as a term too long to index). Retrying cannot help;
    the caller sets them aside for the operator. ``rejected`` maps post id to the reason."""

    def __init__(self, rejected: dict[str, str]) -> None:
        self.rejected = dict(rejected)
        shown = "; ".join(f"{pid} ({why})" for pid, why in list(self.rejected.items())[:10])
        more = "; ..." if len(self.rejected) > 10 else ""
        super().__init__(f"the index refused {len(self.rejected)} post(s) for good: {shown}{more}")


class SortOrder(StrEnum):
    TIME = "time"  # newest first
    RELEVANCE = "relevance"


@dataclass(frozen=True)
class SearchQuery:
    """A search: ``text`` in the search language (store/query.py) plus filters that must all hold.

    Each list filter matches any of its values; an empty list does not filter.
    """

    text: str = ""
    since: datetime | None = None
    until: datetime | None = None
    sources: Sequence[str] = ()
    sites: Sequence[str] = ()
    sentiments: Sequence[str] = ()
    categories: Sequence[str] = ()
    severities: Sequence[str] = ()
    units: Sequence[str] = ()
    sort: SortOrder = SortOrder.TIME
    limit: int = 20
    page_token: str | None = None


@dataclass(frozen=True)
class SearchPage:
    posts: list[Post]
    total: int
    next_page_token: str | None


@dataclass(frozen=True)
class Counts:
    """Post counts for a query's filters; ``by_day`` keys are local dates (YYYY-MM-DD)."""

    total: int
    by_day: dict[str, int] = field(default_factory=dict)
    by_source: dict[str, int] = field(default_factory=dict)
    by_sentiment: dict[str, int] = field(default_factory=dict)
    by_severity: dict[str, int] = field(default_factory=dict)


@dataclass(frozen=True)
class Changes:
    """Posts indexed after a cursor, in indexing order, and the cursor to ask from next time."""

    posts: list[Post]
    cursor: str


@runtime_checkable
class PostIndex(Protocol):
    def init(self) -> None:
        """Create what the store needs (tables, template, alias); safe to call again."""

    def upsert(self, posts: Iterable[Post]) -> int:
        """Write posts by id (writing one twice leaves one); returns how many were written.
        Raises IndexUnavailable when the store cannot take them."""

    def get(self, post_id: str) -> Post | None: ...

    def search(self, query: SearchQuery) -> SearchPage:
        """Raises store.query.QueryError for a malformed query, with its position."""

    def counts(self, query: SearchQuery, tz: str = "Asia/Shanghai") -> Counts: ...

    def changes_since(self, cursor: str | None, limit: int = 500) -> Changes:
        """Posts indexed (or re-indexed) after ``cursor`` (None: from the beginning)."""

    def status(self) -> dict[str, object]:
        """What an operator wants to see: backend, location, post count, schema version."""

    def close(self) -> None: ...


def encode_token(values: Sequence[object]) -> str:
    return base64.urlsafe_b64encode(json.dumps(list(values)).encode()).decode().rstrip("=")


def decode_token(token: str) -> list[object]:
    """Decode a page token or cursor; a damaged one raises ValueError with a clear message."""
    try:
        padded = token + "=" * (-len(token) % 4)
        values = json.loads(base64.urlsafe_b64decode(padded.encode()))
    except (ValueError, UnicodeDecodeError) as exc:
        raise ValueError("the page token or cursor is damaged; start again without it") from exc
    if not isinstance(values, list):
        raise ValueError("the page token or cursor is damaged; start again without it")
    return values
