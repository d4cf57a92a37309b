"""Adaptive polling: each source's current interval, kept in the state database. Faster while a
source yields new posts, slower while it is quiet or failing, always within its schedule's
min_interval..max_interval; a Retry-After the crawler recorded pushes the next run later."""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from core.settings import Schedule
from crawler.runner import SourceSummary
from store.state import StateDB

_SCHEMA = """CREATE TABLE IF NOT EXISTS source_pace (
    source TEXT PRIMARY KEY, schedule TEXT NOT NULL, interval_s REAL, failures INTEGER NOT NULL,
    last_outcome TEXT NOT NULL, last_new INTEGER NOT NULL, next_at TEXT, updated TEXT NOT NULL)"""

QUICKEN = 0.5  # a run with new posts halves the interval (down to min_interval)
SLACKEN = 1.5  # a quiet run stretches it by half (up to max_interval)
FAILED = ("failed", "blocked")


def failing(summary: SourceSummary) -> bool:
    """Failed, blocked, or "finished" without one page read (every request errored)."""
    return summary.outcome in FAILED or (not summary.pages and bool(summary.errors))


def signature(schedule: Schedule) -> str:
    """The configured schedule as text: a change in the YAML resets the pace."""
    parts = [
        f"interval={schedule.interval.total_seconds():g}" if schedule.interval else "",
        f"cron={schedule.cron}" if schedule.cron else "",
        f"min={schedule.min_interval.total_seconds():g}" if schedule.min_interval else "",
        f"max={schedule.max_interval.total_seconds():g}" if schedule.max_interval else "",
    ]
    return " ".join(p for p in parts if p)


def bounds(schedule: Schedule) -> tuple[float, float]:
    """(min, max) seconds; without bounds polling stays at ``interval``."""
    assert schedule.interval is not None  # only interval schedules adapt
    base = schedule.interval.total_seconds()
    low = schedule.min_interval.total_seconds() if schedule.min_interval else base
    high = schedule.max_interval.total_seconds() if schedule.max_interval else base
    return low, high


def next_interval(schedule: Schedule, current: float, summary: SourceSummary) -> float:
    """The interval after a run that ended as ``summary`` did."""
    low, high = bounds(schedule)
    if failing(summary):
        wanted = current * 2  # exponential backoff while the site fails or blocks us
    elif summary.new_posts > 0:
        wanted = current * QUICKEN
    else:
        wanted = current * SLACKEN
    return min(high, max(low, wanted))


@dataclass(frozen=True)
class Pace:
    source: str
    schedule: str
    interval_s: float | None  # None for a cron schedule
    failures: int  # consecutive failed runs
    last_outcome: str
    last_new: int
    next_at: datetime | None
    updated: datetime


class PaceBook:
    def __init__(self, db: StateDB) -> None:
        self.db = db
        with db.transaction() as conn:
            conn.execute(_SCHEMA)

    def get(self, source: str) -> Pace | None:
        row = (
            self.db.connection()
            .execute("SELECT * FROM source_pace WHERE source = ?", (source,))
            .fetchone()
        )
        return _pace(row) if row else None

    def all(self) -> dict[str, Pace]:
        rows = self.db.connection().execute("SELECT * FROM source_pace").fetchall()
        return {r["source"]: _pace(r) for r in rows}

    def reset(self, source: str, schedule: Schedule, now: datetime) -> Pace:
        """A new source or a changed schedule: start again at the configured interval."""
        interval = schedule.interval.total_seconds() if schedule.interval else None
        self._write(Pace(source, signature(schedule), interval, 0, "new", 0, now, now))
        pace = self.get(source)
        assert pace is not None
        return pace

    def forget(self, source: str) -> None:
        with self.db.transaction() as conn:
            conn.execute("DELETE FROM source_pace WHERE source = ?", (source,))

    def record(
        self,
        source: str,
        schedule: Schedule,
        summary: SourceSummary,
        now: datetime,
        not_before: datetime | None = None,
    ) -> Pace:
        """Adapt after a run; returns the new pace, whose ``next_at`` is the next run for an
        interval schedule (None for cron: the cron line decides, see Patrol)."""
        old = self.get(source)
        if old is None or old.schedule != signature(schedule):
            old = self.reset(source, schedule, now)
        failures = old.failures + 1 if failing(summary) else 0
        interval = old.interval_s
        next_at: datetime | None = None
        if schedule.interval is not None:
            interval = next_interval(
                schedule, interval or schedule.interval.total_seconds(), summary
            )
            next_at = now + timedelta(seconds=interval)
        if not_before is not None and (next_at is None or not_before > next_at):
            next_at = not_before  # Retry-After (or a feed's ttl): asking earlier is wasted
        pace = Pace(
            source,
            old.schedule,
            interval,
            failures,
            summary.outcome,
            summary.new_posts,
            next_at,
            now,
        )
        self._write(pace)
        return pace

    def _write(self, pace: Pace) -> None:
        with self.db.transaction() as conn:
            conn.execute(
                "INSERT OR REPLACE INTO source_pace VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    pace.source,
                    pace.schedule,
                    pace.interval_s,
                    pace.failures,
                    pace.last_outcome,
                    pace.last_new,
                    _iso(pace.next_at),
                    _iso(pace.updated),
                ),
            )


def _iso(value: datetime | None) -> str | None:
    return value.astimezone(UTC).isoformat() if value else None


def _pace(r: sqlite3.Row) -> Pace:
    return Pace(
        r["source"],
        r["schedule"],
        r["interval_s"],
        r["failures"],
        r["last_outcome"],
        r["last_new"],
        datetime.fromisoformat(r["next_at"]) if r["next_at"] else None,
        datetime.fromisoformat(r["updated"]),
    )
