"""The patrol log (巡查记录, DOMAIN.md §6): one row per crawl of a source, plus operational
events (blocks, broken feeds) that an operator or the daily report should see."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from store import wal

_SCHEMA = """
CREATE TABLE IF NOT EXISTS patrols (
    id INTEGER PRIMARY KEY, source TEXT NOT NULL, started TEXT NOT NULL, ended TEXT NOT NULL,
    pages INTEGER NOT NULL, bytes INTEGER NOT NULL, posts INTEGER NOT NULL,
    new_posts INTEGER NOT NULL, errors TEXT NOT NULL, warnings TEXT NOT NULL,
    outcome TEXT NOT NULL);
CREATE INDEX IF NOT EXISTS patrols_started ON patrols (started);
CREATE TABLE IF NOT EXISTS events (
    id INTEGER PRIMARY KEY, time TEXT NOT NULL, source TEXT NOT NULL, kind TEXT NOT NULL,
    url TEXT NOT NULL, detail TEXT NOT NULL);
CREATE INDEX IF NOT EXISTS events_time ON events (time);
"""


@dataclass(frozen=True)
class Patrol:
    """What one crawl of one source did. ``outcome``: finished, failed, skipped (waiting)."""

    source: str
    started: datetime
    ended: datetime
    pages: int = 0
    bytes: int = 0
    posts: int = 0
    new_posts: int = 0
    errors: dict[str, int] = field(default_factory=dict)
    warnings: dict[str, int] = field(default_factory=dict)
    outcome: str = "finished"


@dataclass(frozen=True)
class Event:
    time: datetime
    source: str
    kind: str  # blocked, not_a_feed, bozo_feed, retry_after, ...
    url: str
    detail: str


def _iso(value: datetime) -> str:
    return value.astimezone(UTC).isoformat()


class PatrolLog:
    """SQLite ``patrol_log.db`` in the data dir."""

    def __init__(self, data_dir: Path) -> None:
        data_dir.mkdir(parents=True, exist_ok=True)
        self.path = data_dir / "patrol_log.db"
        self._db = wal.connect(self.path, schema=_SCHEMA)

    def close(self) -> None:
        self._db.close()

    def record(self, patrol: Patrol) -> None:
        self._db.execute(
            "INSERT INTO patrols (source, started, ended, pages, bytes, posts, new_posts, errors,"
            " warnings, outcome) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (
                patrol.source,
                _iso(patrol.started),
                _iso(patrol.ended),
                patrol.pages,
                patrol.bytes,
                patrol.posts,
                patrol.new_posts,
                json.dumps(patrol.errors, sort_keys=True),
                json.dumps(patrol.warnings, sort_keys=True),
                patrol.outcome,
            ),
        )

    def patrols(
        self,
        since: datetime | None = None,
        until: datetime | None = None,
        source: str | None = None,
    ) -> list[Patrol]:
        """Patrols started in [since, until), oldest first."""
        sql, args = (
            "SELECT source, started, ended, pages, bytes, posts, new_posts, errors, "
            "warnings, outcome FROM patrols WHERE 1=1",
            list[str](),
        )
        if since:
            sql, args = sql + " AND started >= ?", [*args, _iso(since)]
        if until:
            sql, args = sql + " AND started < ?", [*args, _iso(until)]
        if source:
            sql, args = sql + " AND source = ?", [*args, source]
        rows = self._db.execute(sql + " ORDER BY started, id", args).fetchall()
        return [
            Patrol(
                r[0],
                datetime.fromisoformat(r[1]),
                datetime.fromisoformat(r[2]),
                r[3],
                r[4],
                r[5],
                r[6],
                json.loads(r[7]),
                json.loads(r[8]),
                r[9],
            )
            for r in rows
        ]

    def event(
        self, source: str, kind: str, url: str, detail: str, time: datetime | None = None
    ) -> None:
        self._db.execute(
            "INSERT INTO events (time, source, kind, url, detail) VALUES (?, ?, ?, ?, ?)",
            (_iso(time or datetime.now(UTC)), source, kind, url, detail),
        )

    def events(
        self, since: datetime | None = None, source: str | None = None, kind: str | None = None
    ) -> list[Event]:
        sql, args = "SELECT time, source, kind, url, detail FROM events WHERE 1=1", list[str]()
        if since:
            sql, args = sql + " AND time >= ?", [*args, _iso(since)]
        if source:
            sql, args = sql + " AND source = ?", [*args, source]
        if kind:
            sql, args = sql + " AND kind = ?", [*args, kind]
        rows = self._db.execute(sql + " ORDER BY time, id", args).fetchall()
        return [Event(datetime.fromisoformat(r[0]), r[1], r[2], r[3], r[4]) for r in rows]
