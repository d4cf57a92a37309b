"""Silences (ALERTING.md D3): matchers on an alert's fields, a start, an end, an author and a
comment, kept in the state database; an alert a live silence matches is not sent."""

from __future__ import annotations

import fnmatch
import json
import sqlite3
from dataclasses import dataclass
from datetime import UTC, datetime

from alerts.models import Alert
from store.state import StateDB

# The alert fields a matcher may name; values are shell-style patterns (``cluster:*``).
MATCH_FIELDS = ("rule", "key", "severity", "unit", "site", "title")


class SilenceError(ValueError):
    """A silence that cannot be added or expired as asked; the message says why."""


@dataclass(frozen=True)
class Silence:
    id: int
    matchers: dict[str, str]
    starts_at: datetime
    ends_at: datetime
    author: str
    comment: str
    created_at: datetime

    def active(self, now: datetime) -> bool:
        return self.starts_at <= now < self.ends_at

    def matches(self, alert: Alert) -> bool:
        for name, pattern in self.matchers.items():
            if name == "site":
                values = alert.sites
            elif name == "unit":
                values = [alert.unit or ""]
            else:
                values = [str(getattr(alert, name))]
            if not any(fnmatch.fnmatchcase(v, pattern) for v in values):
                return False
        return True


def parse_matchers(items: list[str]) -> dict[str, str]:
    """``["rule=negative-canteen", "key=cluster:*"]`` -> a matcher dict, or SilenceError."""
    matchers: dict[str, str] = {}
    for item in items:
        name, sep, pattern = item.partition("=")
        name = name.strip()
        if not sep or not pattern.strip():
            raise SilenceError(f"matcher {item!r}: write FIELD=PATTERN, e.g. rule=negative-canteen")
        if name not in MATCH_FIELDS:
            raise SilenceError(f"matcher {item!r}: FIELD is one of {', '.join(MATCH_FIELDS)}")
        matchers[name] = pattern.strip()
    if not matchers:
        raise SilenceError("a silence needs at least one matcher (FIELD=PATTERN)")
    return matchers


def _iso(value: datetime) -> str:
    if value.tzinfo is None:
        raise SilenceError("naive datetime: give a time zone (stored times are UTC)")
    return value.astimezone(UTC).isoformat()


def _silence(row: sqlite3.Row) -> Silence:
    return Silence(
        id=row["id"],
        matchers=json.loads(row["matchers"]),
        starts_at=datetime.fromisoformat(row["starts_at"]),
        ends_at=datetime.fromisoformat(row["ends_at"]),
        author=row["author"],
        comment=row["comment"],
        created_at=datetime.fromisoformat(row["created_at"]),
    )


class SilenceBook:
    def __init__(self, db: StateDB) -> None:
        self.db = db

    def add(
        self,
        matchers: dict[str, str],
        starts_at: datetime,
        ends_at: datetime,
        author: str,
        comment: str,
        now: datetime,
    ) -> Silence:
        if ends_at <= starts_at:
            raise SilenceError("a silence must end after it starts")
        if not author.strip() or not comment.strip():
            raise SilenceError("a silence needs an author and a comment (say why it is quiet)")
        bad = set(matchers) - set(MATCH_FIELDS)
        if not matchers or bad:
            raise SilenceError(f"matchers must name some of {', '.join(MATCH_FIELDS)}")
        with self.db.transaction() as conn:
            cur = conn.execute(
                "INSERT INTO silences (matchers, starts_at, ends_at, author, comment, created_at)"
                " VALUES (?, ?, ?, ?, ?, ?)",
                (
                    json.dumps(matchers, ensure_ascii=False, sort_keys=True),
                    _iso(starts_at),
                    _iso(ends_at),
                    author.strip(),
                    comment.strip(),
                    _iso(now),
                ),
            )
            silence_id = int(cur.lastrowid or 0)
        return self.get(silence_id)

    def get(self, silence_id: int) -> Silence:
        row = (
            self.db.connection()
            .execute("SELECT * FROM silences WHERE id = ?", (silence_id,))
            .fetchone()
        )
        if row is None:
            raise SilenceError(f"no silence {silence_id}")
        return _silence(row)

    def all(self, now: datetime | None = None) -> list[Silence]:
        """Every silence, or with ``now`` only those not yet ended."""
        rows = self.db.connection().execute("SELECT * FROM silences ORDER BY id").fetchall()
        found = [_silence(r) for r in rows]
        return [s for s in found if now is None or s.ends_at > now]

    def expire(self, silence_id: int, now: datetime) -> Silence:
        """End a silence now (the row stays, as the record of who silenced what and when)."""
        silence = self.get(silence_id)
        if silence.ends_at <= now:
            raise SilenceError(f"silence {silence_id} already ended at {silence.ends_at}")
        with self.db.transaction() as conn:
            conn.execute(
                "UPDATE silences SET ends_at = ? WHERE id = ?",
                (_iso(max(now, silence.starts_at)), silence_id),
            )
        return self.get(silence_id)

    def silencing(self, alert: Alert, now: datetime) -> Silence | None:
        for silence in self.all(now):
            if silence.active(now) and silence.matches(alert):
                return silence
        return None
