"""The embedded post index: SQLite with FTS5 over jieba tokens, in one data folder, no server."""

from __future__ import annotations

import json
import sqlite3
import threading
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from analysis.segment import Segmenter, default_segmenter
from core.post import Post
from store import wal
from store.base import (
    Changes,
    Counts,
    SearchPage,
    SearchQuery,
    SortOrder,
    decode_token,
    encode_token,
)
from store.query import And, Node, Not, Or, Term, parse_query

# 2: units in their own indexed table (filtering by unit read every row's JSON: 170 ms/100k)
SCHEMA_VERSION = 2
_BUCKET_SECONDS = 900  # counts group by quarter hours, so every zone's days come out exact

_SCHEMA = """
CREATE TABLE IF NOT EXISTS posts (
    rowid INTEGER PRIMARY KEY,
    id TEXT NOT NULL UNIQUE,
    seq INTEGER NOT NULL,
    time_us INTEGER NOT NULL,
    source TEXT NOT NULL,
    site TEXT NOT NULL,
    sentiment TEXT,
    category TEXT,
    severity TEXT,
    units TEXT NOT NULL,
    doc TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS posts_time ON posts (time_us, id);
CREATE INDEX IF NOT EXISTS posts_seq ON posts (seq);
CREATE INDEX IF NOT EXISTS posts_source ON posts (source, time_us);
CREATE VIRTUAL TABLE IF NOT EXISTS posts_fts USING fts5(
    title, body, tokenize = 'unicode61 remove_diacritics 0'
);
CREATE TABLE IF NOT EXISTS post_units (
    unit TEXT NOT NULL,
    post INTEGER NOT NULL,
    PRIMARY KEY (unit, post)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS post_units_post ON post_units (post);
"""

# Schema 1 kept the units only in posts.units (JSON): fill the table from it once.
_MIGRATE_1_TO_2 = """
INSERT OR IGNORE INTO post_units (unit, post)
SELECT j.value, p.rowid FROM posts p, json_each(p.units) j
"""


@dataclass(frozen=True)
class IndexTokens:
    """A post's search-mode tokens as the full-text table keeps them (space-joined), cut from
    exactly ``title`` and ``text``: the crawl's analysis worker cuts them beside the reactor
    and the index takes them as they are (``upsert``'s ``tokens``)."""

    title: str
    text: str
    title_tokens: str
    body_tokens: str

    def fits(self, post: Post) -> bool:
        """Cut from this post's title and text as they are now (else the index cuts them)."""
        return post.title == self.title and post.text == self.text


def index_tokens(segmenter: Segmenter, title: str, text: str) -> IndexTokens:
    """What the index writes for a post with ``title`` and ``text`` when its segmenter is
    ``segmenter``: the one place the full-text row is made, by the index and by the worker."""
    return IndexTokens(
        title,
        text,
        " ".join(segmenter.index_tokens(title)),
        " ".join(segmenter.index_tokens(text)),
    )


def _micros(value: datetime) -> int:
    return int(value.timestamp() * 1_000_000)


def _fts_string(tokens: Sequence[str]) -> str:
    """One FTS5 string literal: the tokens as a phrase, with quotes doubled so nothing is syntax."""
    return '"' + " ".join(t.replace('"', '""') for t in tokens) + '"'


def _has_not(node: Node) -> bool:
    if isinstance(node, Not):
        return True
    if isinstance(node, And | Or):
        return any(_has_not(n) for n in node.items)
    return False


def _fts_expression(node: Node) -> str:
    """A NOT-free tree as one FTS5 MATCH expression made only of quoted strings and operators."""
    if isinstance(node, Term):
        if node.phrase:
            return _fts_string(node.tokens)
        return "(" + " AND ".join(_fts_string([t]) for t in node.tokens) + ")"
    if isinstance(node, And):
        return "(" + " AND ".join(_fts_expression(n) for n in node.items) + ")"
    if isinstance(node, Or):
        return "(" + " OR ".join(_fts_expression(n) for n in node.items) + ")"
    raise AssertionError("NOT is compiled as SQL, not as FTS")


def _compile(node: Node, params: list[Any]) -> str:
    """SQL over ``p`` (posts): each NOT-free subtree becomes one FTS5 match; NOT becomes SQL NOT,
    so that a query made only of exclusions ("-广告") still means everything but those."""
    if not _has_not(node):
        params.append(_fts_expression(node))
        return "p.rowid IN (SELECT rowid FROM posts_fts WHERE posts_fts MATCH ?)"
    if isinstance(node, Not):
        return f"NOT ({_compile(node.item, params)})"
    assert isinstance(node, And | Or)
    joiner = " AND " if isinstance(node, And) else " OR "
    return "(" + joiner.join(_compile(n, params) for n in node.items) + ")"


def _positive_terms(node: Node, negated: bool = False) -> list[Term]:
    if isinstance(node, Term):
        return [] if negated else [node]
    if isinstance(node, Not):
        return _positive_terms(node.item, not negated)
    return [t for n in node.items for t in _positive_terms(n, negated)]


class SqliteIndex:
    """PostIndex on SQLite: WAL, so the crawler's processes and the daemon share one file."""

    def __init__(self, data_dir: Path, *, segmenter: Segmenter | None = None) -> None:
        self.data_dir = Path(data_dir)
        self.path = self.data_dir / "posts.sqlite3"
        self.segmenter = segmenter or default_segmenter()
        self._lock = threading.RLock()
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self._db = wal.connect(self.path, check_same_thread=False)  # guarded by self._lock
        self._is_ready = False

    # -- writing ---------------------------------------------------------------------------

    def init(self) -> None:
        with self._write() as db:  # one writer: two processes starting never migrate twice
            version = db.execute("PRAGMA user_version").fetchone()[0]
            if version > SCHEMA_VERSION:
                raise RuntimeError(
                    f"{self.path} was written by a newer Yuqing (schema {version}); upgrade Yuqing"
                )
            if version < SCHEMA_VERSION:
                for statement in _SCHEMA.split(";"):
                    if statement.strip():
                        db.execute(statement)
                if version == 1:
                    db.execute(_MIGRATE_1_TO_2)
                db.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
        self._is_ready = True

    @contextmanager
    def _write(self) -> Iterator[sqlite3.Connection]:
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                yield self._db
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
            self._db.execute("COMMIT")

    def upsert(
        self, posts: Iterable[Post], tokens: Sequence[IndexTokens | None] | None = None
    ) -> int:
        """``tokens``, one per post (or None), are its full-text tokens already cut with this
        index's segmenter (``index_tokens``); a post without them, or whose title or text no
        longer fits them, is cut here."""
        batch = list(posts)
        if not batch:
            return 0
        if tokens is not None and len(tokens) != len(batch):
            raise ValueError(f"{len(tokens)} token rows for {len(batch)} posts")
        if not self._ready():
            self.init()
        given = tokens if tokens is not None else [None] * len(batch)
        rows = [
            t if t is not None and t.fits(p) else index_tokens(self.segmenter, p.title, p.text)
            for p, t in zip(batch, given, strict=True)
        ]
        with self._write() as db:
            seq = db.execute("SELECT COALESCE(MAX(seq), 0) FROM posts").fetchone()[0]
            for post, row in zip(batch, rows, strict=True):
                seq += 1
                old = db.execute("SELECT rowid FROM posts WHERE id = ?", (post.id,)).fetchone()
                values = (
                    post.id,
                    seq,
                    _micros(post.time),
                    post.source,
                    post.site,
                    post.sentiment,
                    post.category,
                    post.severity,
                    json.dumps(post.units, ensure_ascii=False),
                    post.model_dump_json(),
                )
                if old is None:
                    rowid = db.execute(
                        "INSERT INTO posts (id, seq, time_us, source, site, sentiment, category,"
                        " severity, units, doc) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                        values,
                    ).lastrowid
                else:
                    rowid = old[0]
                    db.execute(
                        "UPDATE posts SET id = ?, seq = ?, time_us = ?, source = ?, site = ?,"
                        " sentiment = ?, category = ?, severity = ?, units = ?, doc = ?"
                        " WHERE rowid = ?",
                        (*values, rowid),
                    )
                    db.execute("DELETE FROM posts_fts WHERE rowid = ?", (rowid,))
                    db.execute("DELETE FROM post_units WHERE post = ?", (rowid,))
                db.execute(
                    "INSERT INTO posts_fts (rowid, title, body) VALUES (?, ?, ?)",
                    (rowid, row.title_tokens, row.body_tokens),
                )
                db.executemany(
                    "INSERT OR IGNORE INTO post_units (unit, post) VALUES (?, ?)",
                    [(unit, rowid) for unit in post.units],
                )
        return len(batch)

    def reindex(self) -> int:
        """Segment every stored post again (after the institution's dictionary changed).

        Returns how many posts were re-segmented; their ``seq`` is kept, so alert rules do not
        see them as new posts.
        """
        if not self._ready():
            self.init()
        done = 0
        last = 0
        while True:
            with self._lock:
                rows = self._db.execute(
                    "SELECT rowid, doc FROM posts WHERE rowid > ? ORDER BY rowid LIMIT 500",
                    (last,),
                ).fetchall()
            if not rows:
                return done
            tokens = []
            for rowid, doc in rows:
                post = Post.model_validate_json(doc)
                row = index_tokens(self.segmenter, post.title, post.text)
                tokens.append((rowid, row.title_tokens, row.body_tokens))
            with self._write() as db:
                for rowid, title, body in tokens:
                    db.execute("DELETE FROM posts_fts WHERE rowid = ?", (rowid,))
                    db.execute(
                        "INSERT INTO posts_fts (rowid, title, body) VALUES (?, ?, ?)",
                        (rowid, title, body),
                    )
            done += len(rows)
            last = rows[-1][0]

    def _ready(self) -> bool:
        """True once the tables exist at this schema; an older file is upgraded on first use."""
        with self._lock:
            if self._is_ready:
                return True
            if not self._db.execute("SELECT 1 FROM sqlite_master WHERE name = 'posts'").fetchone():
                return False
            if self._db.execute("PRAGMA user_version").fetchone()[0] != SCHEMA_VERSION:
                self.init()  # upgrades, or refuses a newer file with a clear error
            self._is_ready = True
            return True

    # -- reading ---------------------------------------------------------------------------

    def get(self, post_id: str) -> Post | None:
        with self._lock:
            row = self._db.execute("SELECT doc FROM posts WHERE id = ?", (post_id,)).fetchone()
        return Post.model_validate_json(row[0]) if row else None

    def _where(self, query: SearchQuery) -> tuple[str, list[Any], Node | None]:
        clauses: list[str] = []
        params: list[Any] = []
        node = parse_query(query.text, self.segmenter.cut)
        if node is not None:
            clauses.append(_compile(node, params))
        if query.since is not None:
            clauses.append("p.time_us >= ?")
            params.append(_micros(query.since))
        if query.until is not None:
            clauses.append("p.time_us < ?")
            params.append(_micros(query.until))
        for column, values in (
            ("source", query.sources),
            ("site", query.sites),
            ("sentiment", query.sentiments),
            ("category", query.categories),
            ("severity", query.severities),
        ):
            if values:
                clauses.append(f"p.{column} IN ({', '.join('?' * len(values))})")
                params.extend(str(v) for v in values)
        if query.units:
            clauses.append(
                "p.rowid IN (SELECT post FROM post_units WHERE unit IN "
                f"({', '.join('?' * len(query.units))}))"
            )
            params.extend(query.units)
        return (" AND ".join(clauses) or "1"), params, node

    def search(self, query: SearchQuery) -> SearchPage:
        where, params, node = self._where(query)
        limit = max(1, min(query.limit, 1000))
        after = decode_token(query.page_token) if query.page_token else None
        with self._lock:
            if not self._ready():
                return SearchPage([], 0, None)
            total = self._db.execute(
                f"SELECT COUNT(*) FROM posts p WHERE {where}", params
            ).fetchone()[0]
            positive = _positive_terms(node) if node is not None else []
            if query.sort is SortOrder.RELEVANCE and positive:
                rank_expr = " OR ".join(_fts_expression(t) for t in positive)
                sql = (
                    "SELECT p.rowid, COALESCE(s.rank, 0.0) AS score, p.id FROM posts p"
                    " LEFT JOIN (SELECT rowid, bm25(posts_fts) AS rank FROM posts_fts"
                    " WHERE posts_fts MATCH ?) s ON s.rowid = p.rowid"
                    f" WHERE {where}"
                )
                args: list[Any] = [rank_expr, *params]
                if after is not None:
                    sql += (
                        " AND (COALESCE(s.rank, 0.0) > ? OR (COALESCE(s.rank, 0.0) = ?"
                        " AND p.id > ?))"
                    )
                    args += [after[0], after[0], after[1]]
                sql += " ORDER BY score ASC, p.id ASC LIMIT ?"
            else:
                sql = f"SELECT p.rowid, p.time_us, p.id FROM posts p WHERE {where}"
                args = list(params)
                if after is not None:
                    sql += " AND (p.time_us < ? OR (p.time_us = ? AND p.id < ?))"
                    args += [after[0], after[0], after[1]]
                sql += " ORDER BY p.time_us DESC, p.id DESC LIMIT ?"
            # Sort keys first, documents after: sorting thousands of matches with their whole
            # JSON documents attached was most of a broad query's time.
            rows = self._db.execute(sql, [*args, limit + 1]).fetchall()
            more = len(rows) > limit
            rows = rows[:limit]
            docs = dict(
                self._db.execute(
                    f"SELECT rowid, doc FROM posts WHERE rowid IN ({', '.join('?' * len(rows))})",
                    [r[0] for r in rows],
                ).fetchall()
            )
        token = encode_token([rows[-1][1], rows[-1][2]]) if more and rows else None
        return SearchPage([Post.model_validate_json(docs[r[0]]) for r in rows], total, token)

    def counts(self, query: SearchQuery, tz: str = "Asia/Shanghai") -> Counts:
        where, params, _ = self._where(query)
        zone = ZoneInfo(tz)
        with self._lock:
            if not self._ready():
                return Counts(total=0)
            by: dict[str, dict[str, int]] = {}
            for column in ("source", "sentiment", "severity"):
                rows = self._db.execute(
                    f"SELECT COALESCE(p.{column}, 'none'), COUNT(*) FROM posts p WHERE {where}"
                    f" GROUP BY 1",
                    params,
                ).fetchall()
                by[column] = {str(k): int(v) for k, v in rows}
            buckets = self._db.execute(
                f"SELECT p.time_us / {_BUCKET_SECONDS * 1_000_000}, COUNT(*) FROM posts p"
                f" WHERE {where} GROUP BY 1",
                params,
            ).fetchall()
        by_day: dict[str, int] = {}
        for bucket, n in buckets:
            day: date = (
                datetime.fromtimestamp(bucket * _BUCKET_SECONDS, UTC).astimezone(zone).date()
            )
            by_day[day.isoformat()] = by_day.get(day.isoformat(), 0) + n
        return Counts(
            total=sum(by["source"].values()),
            by_day=dict(sorted(by_day.items())),
            by_source=by["source"],
            by_sentiment=by["sentiment"],
            by_severity=by["severity"],
        )

    def changes_since(self, cursor: str | None, limit: int = 500) -> Changes:
        seq = int(str(decode_token(cursor)[0])) if cursor else 0
        with self._lock:
            if not self._ready():
                return Changes([], encode_token([seq]))
            rows = self._db.execute(
                "SELECT doc, seq FROM posts WHERE seq > ? ORDER BY seq LIMIT ?",
                (seq, max(1, limit)),
            ).fetchall()
        last = rows[-1][1] if rows else seq
        return Changes([Post.model_validate_json(r[0]) for r in rows], encode_token([last]))

    def status(self) -> dict[str, object]:
        with self._lock:
            count = (
                self._db.execute("SELECT COUNT(*) FROM posts").fetchone()[0] if self._ready() else 0
            )
            version = self._db.execute("PRAGMA user_version").fetchone()[0]
        return {
            "backend": "sqlite",
            "location": str(self.path),
            "posts": count,
            "schema_version": version,
        }

    def close(self) -> None:
        with self._lock:
            self._db.close()
