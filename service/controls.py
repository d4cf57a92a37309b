"""Operator controls kept in the state database, not in the YAML: sources switched on or off
and incident watches (7x24 during an event, DOMAIN.md §1). The API writes them; the daemon reads."""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Literal

from store.state import StateDB

# Our own tables beside the state database's migrated ones: IF NOT EXISTS makes creating them
# idempotent, and they never change another table, so the schema version stays the alert
# engine's to advance.
_SCHEMA = (
    """CREATE TABLE IF NOT EXISTS source_overrides (
    source TEXT PRIMARY KEY, enabled INTEGER NOT NULL, actor TEXT NOT NULL, at TEXT NOT NULL,
    reason TEXT NOT NULL DEFAULT '')""",
    """CREATE TABLE IF NOT EXISTS incident_watches (
    id INTEGER PRIMARY KEY AUTOINCREMENT, target_kind TEXT NOT NULL, target TEXT NOT NULL,
    starts TEXT NOT NULL, ends TEXT NOT NULL, interval_s INTEGER NOT NULL, actor TEXT NOT NULL,
    reason TEXT NOT NULL DEFAULT '', created_at TEXT NOT NULL, ended_at TEXT)""",
    "CREATE INDEX IF NOT EXISTS incident_watches_ends ON incident_watches(ends)",
)

TargetKind = Literal["source", "watch_rule"]


def _iso(value: datetime) -> str:
    return value.astimezone(UTC).isoformat()


@dataclass(frozen=True)
class Override:
    source: str
    enabled: bool
    actor: str
    at: datetime
    reason: str


@dataclass(frozen=True)
class IncidentWatch:
    """Poll ``target`` (a source, or every source a watch rule's hits came from) every
    ``interval_s`` seconds from ``starts`` until ``ends`` (or until ended early)."""

    id: int
    target_kind: TargetKind
    target: str
    starts: datetime
    ends: datetime
    interval_s: int
    actor: str
    reason: str
    created_at: datetime
    ended_at: datetime | None

    def active(self, now: datetime) -> bool:
        end = min(self.ends, self.ended_at) if self.ended_at else self.ends
        return self.starts <= now < end


def _watch(row: sqlite3.Row) -> IncidentWatch:
    return IncidentWatch(
        id=row["id"],
        target_kind=row["target_kind"],
        target=row["target"],
        starts=datetime.fromisoformat(row["starts"]),
        ends=datetime.fromisoformat(row["ends"]),
        interval_s=row["interval_s"],
        actor=row["actor"],
        reason=row["reason"],
        created_at=datetime.fromisoformat(row["created_at"]),
        ended_at=datetime.fromisoformat(row["ended_at"]) if row["ended_at"] else None,
    )


class Controls:
    def __init__(self, db: StateDB) -> None:
        self.db = db
        with db.transaction() as conn:
            for statement in _SCHEMA:
                conn.execute(statement)

    # -- sources switched on or off ------------------------------------------------------------

    def set_enabled(
        self, source: str, enabled: bool, actor: str, now: datetime, reason: str = ""
    ) -> Override:
        with self.db.transaction() as conn:
            conn.execute(
                "INSERT INTO source_overrides (source, enabled, actor, at, reason) "
                "VALUES (?, ?, ?, ?, ?) ON CONFLICT(source) DO UPDATE SET enabled = excluded."
                "enabled, actor = excluded.actor, at = excluded.at, reason = excluded.reason",
                (source, int(enabled), actor, _iso(now), reason),
            )
        return Override(source, enabled, actor, now.astimezone(UTC), reason)

    def overrides(self) -> dict[str, Override]:
        rows = self.db.connection().execute("SELECT * FROM source_overrides").fetchall()
        return {
            r["source"]: Override(
                r["source"],
                bool(r["enabled"]),
                r["actor"],
                datetime.fromisoformat(r["at"]),
                r["reason"],
            )
            for r in rows
        }

    def is_enabled(self, source: str, configured: bool) -> bool:
        """The operator's override if there is one, else what the YAML says."""
        override = self.overrides().get(source)
        return override.enabled if override else configured

    # -- incident watches ----------------------------------------------------------------------

    def start_watch(
        self,
        target_kind: TargetKind,
        target: str,
        starts: datetime,
        ends: datetime,
        interval_s: int,
        actor: str,
        now: datetime,
        reason: str = "",
    ) -> IncidentWatch:
        if ends <= starts:
            raise ValueError("an incident watch must end after it starts")
        if interval_s < 10:
            raise ValueError("an incident watch polls at most every 10 seconds")
        with self.db.transaction() as conn:
            cur = conn.execute(
                "INSERT INTO incident_watches (target_kind, target, starts, ends, interval_s, "
                "actor, reason, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    target_kind,
                    target,
                    _iso(starts),
                    _iso(ends),
                    interval_s,
                    actor,
                    reason,
                    _iso(now),
                ),
            )
            row = conn.execute(
                "SELECT * FROM incident_watches WHERE id = ?", (cur.lastrowid,)
            ).fetchone()
        return _watch(row)

    def end_watch(self, watch_id: int, now: datetime) -> IncidentWatch:
        with self.db.transaction() as conn:
            row = conn.execute(
                "SELECT * FROM incident_watches WHERE id = ?", (watch_id,)
            ).fetchone()
            if row is None:
                raise KeyError(f"no incident watch {watch_id}")
            if row["ended_at"] is None:
                conn.execute(
                    "UPDATE incident_watches SET ended_at = ? WHERE id = ?", (_iso(now), watch_id)
                )
            row = conn.execute(
                "SELECT * FROM incident_watches WHERE id = ?", (watch_id,)
            ).fetchone()
        return _watch(row)

    def watches(self, now: datetime | None = None) -> list[IncidentWatch]:
        """Every watch, newest first; with ``now``, only those running at that moment."""
        rows = (
            self.db.connection()
            .execute("SELECT * FROM incident_watches ORDER BY id DESC")
            .fetchall()
        )
        found = [_watch(r) for r in rows]
        return [w for w in found if w.active(now)] if now else found
