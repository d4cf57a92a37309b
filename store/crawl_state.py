"""What a crawler remembers between patrols: conditional-GET validators, when a source may be
fetched again (feed ttl, Retry-After, backoff after a block), per-thread progress, posts seen."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from store import wal

_SCHEMA = """
CREATE TABLE IF NOT EXISTS validators (
    url TEXT PRIMARY KEY, etag TEXT, last_modified TEXT, updated TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS source_wait (
    source TEXT PRIMARY KEY, not_before TEXT NOT NULL, reason TEXT NOT NULL,
    blocks INTEGER NOT NULL DEFAULT 0);
CREATE TABLE IF NOT EXISTS threads (
    source TEXT NOT NULL, thread TEXT NOT NULL, reply_count INTEGER, last_reply TEXT,
    max_floor INTEGER, updated TEXT NOT NULL, PRIMARY KEY (source, thread));
CREATE TABLE IF NOT EXISTS seen (
    source TEXT NOT NULL, post TEXT NOT NULL, first_seen TEXT NOT NULL,
    PRIMARY KEY (source, post));
"""

# After a block the source waits 30 min, doubling per consecutive block, at most a day.
BLOCK_BACKOFF = timedelta(minutes=30)
MAX_BACKOFF = timedelta(days=1)


@dataclass(frozen=True)
class Validators:
    etag: str | None
    last_modified: str | None


@dataclass(frozen=True)
class Wait:
    not_before: datetime
    reason: str
    blocks: int


@dataclass(frozen=True)
class ThreadState:
    """How far a forum thread had got when last fetched: refetch only when this changes."""

    reply_count: int | None = None
    last_reply: datetime | None = None
    max_floor: int | None = None

    def changed(self, reply_count: int | None, last_reply: datetime | None) -> bool:
        """True when a list page shows something this state has not seen (or shows nothing)."""
        if reply_count is None and last_reply is None:
            return True
        return (reply_count is not None and reply_count != self.reply_count) or (
            last_reply is not None and last_reply != self.last_reply
        )


def _now() -> datetime:
    return datetime.now(UTC)


def _iso(value: datetime | None) -> str | None:
    return value.astimezone(UTC).isoformat() if value else None


def _dt(value: str | None) -> datetime | None:
    return None if value is None else datetime.fromisoformat(value)


class CrawlState:
    """SQLite ``crawl_state.db`` in the data dir; safe to share between crawl processes."""

    def __init__(self, data_dir: Path) -> None:
        data_dir.mkdir(parents=True, exist_ok=True)
        self.path = data_dir / "crawl_state.db"
        self._db = wal.connect(self.path, schema=_SCHEMA)

    def close(self) -> None:
        self._db.close()

    # -- conditional GET ------------------------------------------------------------------------
    def validators(self, url: str) -> Validators | None:
        row = self._db.execute(
            "SELECT etag, last_modified FROM validators WHERE url = ?", (url,)
        ).fetchone()
        return Validators(row[0], row[1]) if row else None

    def save_validators(self, url: str, etag: str | None, last_modified: str | None) -> None:
        if not etag and not last_modified:
            self._db.execute("DELETE FROM validators WHERE url = ?", (url,))
            return
        self._db.execute(
            "INSERT OR REPLACE INTO validators VALUES (?, ?, ?, ?)",
            (url, etag, last_modified, _iso(_now())),
        )

    # -- when a source may be fetched again -----------------------------------------------------
    def wait(self, source: str) -> Wait | None:
        row = self._db.execute(
            "SELECT not_before, reason, blocks FROM source_wait WHERE source = ?", (source,)
        ).fetchone()
        return Wait(datetime.fromisoformat(row[0]), row[1], row[2]) if row else None

    def may_fetch(self, source: str, now: datetime | None = None) -> bool:
        wait = self.wait(source)
        return wait is None or wait.not_before <= (now or _now())

    def defer(self, source: str, until: datetime, reason: str) -> None:
        """Not before ``until`` (a feed's ttl, a Retry-After); keeps a later wait already set."""
        wait = self.wait(source)
        if wait and wait.not_before >= until:
            return
        self._db.execute(
            "INSERT OR REPLACE INTO source_wait VALUES (?, ?, ?, ?)",
            (source, _iso(until), reason, wait.blocks if wait else 0),
        )

    def block(self, source: str, reason: str, now: datetime | None = None) -> datetime:
        """A block page was served: back off exponentially; returns when to try again."""
        now = now or _now()
        wait = self.wait(source)
        blocks = (wait.blocks if wait else 0) + 1
        until = now + min(BLOCK_BACKOFF * (1 << min(blocks - 1, 16)), MAX_BACKOFF)
        self._db.execute(
            "INSERT OR REPLACE INTO source_wait VALUES (?, ?, ?, ?)",
            (source, _iso(until), reason, blocks),
        )
        return until

    def clear_blocks(self, source: str) -> None:
        """A patrol went through unblocked: the next block starts the backoff afresh."""
        self._db.execute("UPDATE source_wait SET blocks = 0 WHERE source = ?", (source,))

    # -- forum threads --------------------------------------------------------------------------
    def thread(self, source: str, thread: str) -> ThreadState | None:
        row = self._db.execute(
            "SELECT reply_count, last_reply, max_floor FROM threads"
            " WHERE source = ? AND thread = ?",
            (source, thread),
        ).fetchone()
        return ThreadState(row[0], _dt(row[1]), row[2]) if row else None

    def save_thread(self, source: str, thread: str, state: ThreadState) -> None:
        self._db.execute(
            "INSERT OR REPLACE INTO threads VALUES (?, ?, ?, ?, ?, ?)",
            (
                source,
                thread,
                state.reply_count,
                _iso(state.last_reply),
                state.max_floor,
                _iso(_now()),
            ),
        )

    # -- posts seen -----------------------------------------------------------------------------
    def seen(self, source: str, post_ids: Iterable[str]) -> set[str]:
        """Those of ``post_ids`` already seen for ``source``; marks nothing (see new_posts)."""
        ids = list(dict.fromkeys(post_ids))
        found: set[str] = set()
        for start in range(0, len(ids), 500):
            chunk = ids[start : start + 500]
            marks = ",".join("?" * len(chunk))
            rows = self._db.execute(
                f"SELECT post FROM seen WHERE source = ? AND post IN ({marks})", (source, *chunk)
            ).fetchall()
            found.update(row[0] for row in rows)
        return found

    def new_posts(self, source: str, post_ids: Iterable[str]) -> set[str]:
        """Mark ``post_ids`` seen for ``source``; returns those not seen before."""
        ids = list(dict.fromkeys(post_ids))
        now = _iso(_now())
        fresh: set[str] = set()
        self._db.execute("BEGIN IMMEDIATE")
        try:
            for pid in ids:
                cur = self._db.execute(
                    "INSERT OR IGNORE INTO seen VALUES (?, ?, ?)", (source, pid, now)
                )
                if cur.rowcount:
                    fresh.add(pid)
            self._db.execute("COMMIT")
        except BaseException:
            self._db.execute("ROLLBACK")
            raise
        return fresh
