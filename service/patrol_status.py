"""What the patrol daemon has scheduled, read from the state database without starting it:
each source's next run, current (adaptive) interval and last outcome, and the due/late counts
and alert-rule lag the metrics report. `yuqing patrol --status` prints it."""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from apscheduler.util import utc_timestamp_to_datetime

from core.settings import Settings
from service.pace import PaceBook
from store.state import StateDB

SOURCE_JOB = "source:"


def scheduled_runs(db: StateDB) -> dict[str, datetime | None]:
    """Each stored job's next run (None while paused); empty before the first start."""
    try:
        rows = db.connection().execute("SELECT id, next_run_time FROM scheduler_jobs").fetchall()
    except sqlite3.OperationalError:  # the daemon never ran on this data folder
        return {}
    return {r[0]: utc_timestamp_to_datetime(r[1]) for r in rows}


@dataclass(frozen=True)
class SourceStatus:
    source: str
    schedule: str
    interval_s: float | None
    next_run: datetime | None
    last_outcome: str
    last_new: int
    failures: int

    def due(self, now: datetime) -> bool:
        return self.next_run is not None and self.next_run <= now

    def late(self, now: datetime, run_timeout: timedelta) -> bool:
        """Due longer ago than a crawl may run: the daemon is down or stuck."""
        return self.next_run is not None and self.next_run + run_timeout < now


def sources(settings: Settings, db: StateDB) -> list[SourceStatus]:
    runs = scheduled_runs(db)
    paces = PaceBook(db).all()
    found = []
    for source in settings.sources:
        if not source.enabled:
            continue
        pace = paces.get(source.id)
        found.append(
            SourceStatus(
                source.id,
                pace.schedule if pace else "",
                pace.interval_s if pace else None,
                runs.get(SOURCE_JOB + source.id),
                pace.last_outcome if pace else "never",
                pace.last_new if pace else 0,
                pace.failures if pace else 0,
            )
        )
    return found


def due_and_late(settings: Settings, db: StateDB, now: datetime) -> tuple[int, int]:
    """(sources due, sources late) by the daemon's own schedule, adaptive intervals included."""
    found = sources(settings, db)
    timeout = settings.crawl.run_timeout
    return sum(s.due(now) for s in found), sum(s.late(now, timeout) for s in found)


def _seconds(value: float | None) -> str:
    if value is None:
        return "cron"
    value = int(value)
    return f"{value // 60}m{value % 60:02d}s" if value >= 60 else f"{value}s"


def status_lines(settings: Settings, db: StateDB, now: datetime | None = None) -> list[str]:
    now = now or datetime.now(UTC)
    found = sources(settings, db)
    if not any(s.next_run or s.last_outcome != "never" for s in found):
        return ["the patrol daemon has not run on this data folder yet"]
    zone = ZoneInfo(settings.timezone)
    lines = [f"{'source':<16} {'every':>8}  {'next run':<19}  last run"]
    for s in found:
        when = "-"
        if s.next_run is not None:
            when = s.next_run.astimezone(zone).strftime("%Y-%m-%d %H:%M:%S")
        late = " LATE" if s.late(now, settings.crawl.run_timeout) else ""
        failing = f", {s.failures} failed in a row" if s.failures else ""
        lines.append(
            f"{s.source:<16} {_seconds(s.interval_s):>8}  {when:<19}  "
            f"{s.last_outcome}, {s.last_new} new{failing}{late}"
        )
    return lines
