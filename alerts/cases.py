"""Cases: one per event (rule + key), a refusing state machine, deadlines from the tier, the
append-only audit trail and the escalation (督办) steps that are due (ALERTING.md C1–C5)."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Literal

from alerts.deadlines import DEFAULT_ZONE, Span, TierDeadlines, deadlines_for, tiers_from
from alerts.escalation import DueStep, steps_due
from alerts.models import (
    OPEN_STATES,
    SEVERITY_RANK,
    TRANSITIONS,
    Alert,
    Case,
    CaseEvent,
    CaseState,
    Resolution,
)
from core.post import Severity
from core.settings import Settings
from store.state import StateDB


class CaseError(ValueError):
    """A request on a case that cannot be done; the message says why and what is allowed."""


class CaseNotFound(CaseError):
    pass


class TransitionError(CaseError):
    pass


@dataclass(frozen=True)
class Recorded:
    """What ``record_alert`` did: the case, the event to announce (if any), was it seen before."""

    case: Case
    alert: Alert
    event: Literal["case.opened", "case.severity_raised"] | None  # None: a quiet repeat
    duplicate: bool  # the alert had been recorded before (a rule run repeated after a crash)


def utc_iso(value: datetime) -> str:
    return value.astimezone(UTC).isoformat()


def _json_default(value: object) -> str:
    return utc_iso(value) if isinstance(value, datetime) else str(value)


def _dt(value: str | None) -> datetime | None:
    return datetime.fromisoformat(value) if value else None


def is_overdue(case: Case, now: datetime) -> bool:
    """An open case past its respond deadline (not replied yet), still new past the report
    deadline, or past a special report not made yet."""
    if case.state not in OPEN_STATES:
        return False
    return (
        (case.state is CaseState.NEW and case.report_by <= now)
        or (case.state is not CaseState.REPLIED and case.respond_by <= now)
        or (
            case.special_report_at is None
            and case.special_report_by is not None
            and case.special_report_by <= now
        )
    )


def _case(row: sqlite3.Row) -> Case:
    data: dict[str, Any] = dict(row)
    data["second_wave"] = bool(data["second_wave"])
    return Case.model_validate(data)


class CaseBook:
    """Cases in the state database. ``tiers`` and ``zone`` set the deadlines (DOMAIN.md §2);
    a trigger within ``tracking_days`` of a close is a second wave (DOMAIN.md §8)."""

    def __init__(
        self,
        db: StateDB,
        tiers: Mapping[Severity, TierDeadlines] | None = None,
        zone: str = DEFAULT_ZONE,
        tracking_days: float = 7,
        max_extension_days: int = 2,
    ) -> None:
        self.db = db
        self.tiers = tiers
        self.zone = zone
        self.tracking_period = timedelta(days=tracking_days)
        self.max_extension_days = max_extension_days  # DOMAIN.md §5: 3 days, 5 at most

    @classmethod
    def from_settings(cls, db: StateDB, settings: Settings) -> CaseBook:
        """The case book of an institution: its tiers' deadlines, zone and case settings."""
        return cls(
            db,
            tiers=tiers_from(settings.tiers),
            zone=settings.timezone,
            tracking_days=settings.cases.tracking_days,
            max_extension_days=settings.cases.max_extension_days,
        )

    # -- reading ---------------------------------------------------------------------------

    def get(self, case_id: int) -> Case:
        return self.load(self.db.connection(), case_id)

    def find(self, states: Iterable[CaseState] = (), limit: int = 100) -> list[Case]:
        wanted = [s.value for s in states]
        sql = "SELECT * FROM cases"
        if wanted:
            sql += f" WHERE state IN ({','.join('?' * len(wanted))})"
        sql += " ORDER BY id DESC LIMIT ?"
        rows = self.db.connection().execute(sql, (*wanted, limit)).fetchall()
        return [_case(r) for r in rows]

    def events(self, case_id: int) -> list[CaseEvent]:
        rows = (
            self.db.connection()
            .execute("SELECT * FROM case_events WHERE case_id = ? ORDER BY id", (case_id,))
            .fetchall()
        )
        return [
            CaseEvent(
                id=r["id"],
                case_id=r["case_id"],
                at=datetime.fromisoformat(r["at"]),
                kind=r["kind"],
                actor=r["actor"],
                detail=json.loads(r["detail"]),
            )
            for r in rows
        ]

    def opening_alert(self, case: Case) -> Alert:
        row = (
            self.db.connection()
            .execute("SELECT body FROM alerts WHERE id = ?", (case.alert_id,))
            .fetchone()
        )
        return Alert.model_validate_json(row["body"])

    def tracking(self, now: datetime) -> list[Case]:
        """Closed cases still under dynamic tracking (DOMAIN.md §8): the rule engine keeps their
        rule and key watched, and a trigger opens a second-wave case linked to them."""
        since = utc_iso(now - self.tracking_period)
        rows = (
            self.db.connection()
            .execute(
                "SELECT * FROM cases WHERE state IN ('closed', 'archived') AND closed_at >= ? "
                "ORDER BY id",
                (since,),
            )
            .fetchall()
        )
        return [_case(r) for r in rows]

    def overdue(self, now: datetime) -> list[Case]:
        """Open cases past a deadline still to be met (see ``is_overdue``)."""
        return [c for c in self.find(OPEN_STATES, limit=10_000) if is_overdue(c, now)]

    # -- writing ---------------------------------------------------------------------------

    def append_event(
        self,
        conn: sqlite3.Connection,
        case_id: int,
        kind: str,
        actor: str,
        now: datetime,
        detail: Mapping[str, object] | None = None,
    ) -> None:
        conn.execute(
            "INSERT INTO case_events (case_id, at, kind, actor, detail) VALUES (?, ?, ?, ?, ?)",
            (
                case_id,
                utc_iso(now),
                kind,
                actor,
                json.dumps(dict(detail or {}), ensure_ascii=False, default=_json_default),
            ),
        )

    def record_alert(self, conn: sqlite3.Connection, alert: Alert, now: datetime) -> Recorded:
        """Open or update the case of ``alert``, inside the caller's transaction (C1)."""
        seen = conn.execute("SELECT case_id FROM alerts WHERE id = ?", (alert.id,)).fetchone()
        if seen is not None:
            return Recorded(self.load(conn, seen["case_id"]), alert, None, duplicate=True)
        row = conn.execute(
            "SELECT * FROM cases WHERE rule = ? AND key = ? AND state IN (?, ?, ?, ?)",
            (alert.rule, alert.key, *sorted(s.value for s in OPEN_STATES)),
        ).fetchone()
        if row is not None:
            return self._repeat(conn, _case(row), alert, now)
        return self._open(conn, alert, now)

    def _insert_alert(self, conn: sqlite3.Connection, alert: Alert, case_id: int) -> None:
        conn.execute(
            "INSERT INTO alerts (id, rule, key, severity, detected_at, case_id, kind, body) "
            "VALUES (?, ?, ?, ?, ?, ?, 'case', ?)",
            (
                alert.id,
                alert.rule,
                alert.key,
                alert.severity.value,
                utc_iso(alert.detected_at),
                case_id,
                alert.model_dump_json(),
            ),
        )

    def _open(self, conn: sqlite3.Connection, alert: Alert, now: datetime) -> Recorded:
        last = conn.execute(
            "SELECT id, closed_at FROM cases WHERE rule = ? AND key = ? ORDER BY id DESC LIMIT 1",
            (alert.rule, alert.key),
        ).fetchone()
        previous = last["id"] if last else None
        closed_at = _dt(last["closed_at"]) if last else None
        second_wave = (
            closed_at is not None and alert.detected_at - closed_at <= self.tracking_period
        )
        due = deadlines_for(alert.severity, alert.detected_at, self.tiers, self.zone)
        cur = conn.execute(
            "INSERT INTO cases (rule, key, state, severity, title, unit, unit_name, liaison, "
            "detected_at, report_by, respond_by, special_report_by, occurrences, last_seen_at, "
            "previous_case, second_wave, alert_id, created_at, updated_at) "
            "VALUES (?, ?, 'new', ?, ?, ?, ?, ?, ?, ?, ?, ?, 1, ?, ?, ?, ?, ?, ?)",
            (
                alert.rule,
                alert.key,
                alert.severity.value,
                alert.title,
                alert.unit,
                alert.unit_name,
                alert.liaison,
                utc_iso(alert.detected_at),
                utc_iso(due.report_by),
                utc_iso(due.respond_by),
                utc_iso(due.special_report_by) if due.special_report_by else None,
                utc_iso(alert.detected_at),
                previous,
                int(second_wave),
                alert.id,
                utc_iso(now),
                utc_iso(now),
            ),
        )
        case_id = int(cur.lastrowid or 0)
        self._insert_alert(conn, alert, case_id)
        self.append_event(
            conn,
            case_id,
            "opened",
            "system",
            now,
            {
                "alert": alert.id,
                "severity": alert.severity.value,
                "report_by": due.report_by,
                "respond_by": due.respond_by,
                "special_report_by": due.special_report_by,
                "previous_case": previous,
                "second_wave": second_wave,
            },
        )
        return Recorded(self.load(conn, case_id), alert, "case.opened", duplicate=False)

    def _repeat(
        self, conn: sqlite3.Connection, case: Case, alert: Alert, now: datetime
    ) -> Recorded:
        self._insert_alert(conn, alert, case.id)
        last_seen = max(case.last_seen_at, alert.detected_at)
        conn.execute(
            "UPDATE cases SET occurrences = occurrences + 1, last_seen_at = ?, "
            "updated_at = ? WHERE id = ?",
            (utc_iso(last_seen), utc_iso(now), case.id),
        )
        self.append_event(
            conn,
            case.id,
            "occurrence",
            "system",
            now,
            {"alert": alert.id, "severity": alert.severity.value},
        )
        event: Literal["case.severity_raised"] | None = None
        if SEVERITY_RANK[alert.severity] > SEVERITY_RANK[case.severity]:
            # A raised tier tightens the deadlines; it never loosens ones already running.
            due = deadlines_for(alert.severity, alert.detected_at, self.tiers, self.zone)
            report_by, respond_by = (
                min(due.report_by, case.report_by),
                min(due.respond_by, case.respond_by),
            )
            # Raised to major, it now owes a special report (unless one was made already).
            special = min(
                (d for d in (due.special_report_by, case.special_report_by) if d), default=None
            )
            conn.execute(
                "UPDATE cases SET severity = ?, report_by = ?, respond_by = ?, "
                "special_report_by = ? WHERE id = ?",
                (
                    alert.severity.value,
                    utc_iso(report_by),
                    utc_iso(respond_by),
                    utc_iso(special) if special else None,
                    case.id,
                ),
            )
            self.append_event(
                conn,
                case.id,
                "severity_raised",
                "system",
                now,
                {
                    "from": case.severity.value,
                    "to": alert.severity.value,
                    "report_by": report_by,
                    "respond_by": respond_by,
                    "special_report_by": special,
                },
            )
            event = "case.severity_raised"
        return Recorded(self.load(conn, case.id), alert, event, duplicate=False)

    def transition(
        self, case_id: int, to: CaseState, actor: str, now: datetime, **fields: str | None
    ) -> Case:
        """Move a case along the table in models.TRANSITIONS, or refuse with the allowed moves."""
        with self.db.transaction() as conn:
            case = self.load(conn, case_id)
            allowed = TRANSITIONS[case.state]
            if to not in allowed:
                options = ", ".join(sorted(s.value for s in allowed)) or "none (final state)"
                raise TransitionError(
                    f"case {case.ref} is {case.state.value}: cannot go to "
                    f"{to.value}; allowed: {options}"
                )
            sets = {"state": to.value, "updated_at": utc_iso(now), **fields}
            if to is CaseState.CLOSED:
                sets["closed_at"] = utc_iso(now)
            columns = ", ".join(f"{name} = ?" for name in sets)
            conn.execute(f"UPDATE cases SET {columns} WHERE id = ?", (*sets.values(), case_id))
            self.append_event(
                conn,
                case_id,
                "transition",
                actor,
                now,
                {"from": case.state.value, "to": to.value, **fields},
            )
            return self.load(conn, case_id)

    def load(self, conn: sqlite3.Connection, case_id: int) -> Case:
        """The case inside the caller's transaction."""
        row = conn.execute("SELECT * FROM cases WHERE id = ?", (case_id,)).fetchone()
        if row is None:
            raise CaseNotFound(f"no case {case_id}: `yuqing cases list` shows the cases")
        return _case(row)

    def acknowledge(self, case_id: int, actor: str, now: datetime) -> Case:
        return self.transition(case_id, CaseState.ACKNOWLEDGED, actor, now)

    def assign(
        self, case_id: int, assignee: str, actor: str, now: datetime, unit: str | None = None
    ) -> Case:
        """批办: name who handles it; an acknowledged case moves to in_progress."""
        if not assignee.strip():
            raise CaseError("give the person or unit the case is assigned to")
        fields: dict[str, str | None] = {"assignee": assignee.strip()}
        if unit:
            fields["unit"] = unit
        case = self.get(case_id)
        if case.state is CaseState.ACKNOWLEDGED:
            return self.transition(case_id, CaseState.IN_PROGRESS, actor, now, **fields)
        if case.state is not CaseState.IN_PROGRESS:
            raise TransitionError(
                f"case {case.ref} is {case.state.value}: assign works on "
                "acknowledged or in_progress cases (acknowledge it first)"
            )
        with self.db.transaction() as conn:
            columns = ", ".join(f"{name} = ?" for name in fields)
            conn.execute(
                f"UPDATE cases SET {columns}, updated_at = ? WHERE id = ?",
                (*fields.values(), utc_iso(now), case_id),
            )
            self.append_event(conn, case_id, "assigned", actor, now, fields)
            return self.load(conn, case_id)

    def reply(self, case_id: int, text: str, actor: str, now: datetime) -> Case:
        if not text.strip():
            raise CaseError("a reply needs its text (what was published or sent)")
        return self.transition(case_id, CaseState.REPLIED, actor, now, reply=text.strip())

    def close(
        self, case_id: int, resolution: Resolution | str, summary: str, actor: str, now: datetime
    ) -> Case:
        """销号: needs a resolution and a summary (C2)."""
        try:
            value = Resolution(resolution)
        except ValueError as exc:
            raise CaseError(
                f"unknown resolution {resolution!r}: use one of "
                f"{', '.join(r.value for r in Resolution)}"
            ) from exc
        if not summary.strip():
            raise CaseError("closing a case needs a summary of how it was handled")
        return self.transition(
            case_id, CaseState.CLOSED, actor, now, resolution=value.value, summary=summary.strip()
        )

    def archive(self, case_id: int, actor: str, now: datetime) -> Case:
        return self.transition(case_id, CaseState.ARCHIVED, actor, now)

    def special_report_made(
        self, case_id: int, actor: str, now: datetime, report: str | None = None
    ) -> Case:
        """特报: the special report on this case was made (alerts/case_deadlines.py)."""
        from alerts import case_deadlines  # it builds on this module: imported when used

        return case_deadlines.special_report_made(self, case_id, actor, now, report)

    def extend(self, case_id: int, days: int, reason: str, actor: str, now: datetime) -> Case:
        """Extend the reply deadline once, with a reason (alerts/case_deadlines.py)."""
        from alerts import case_deadlines  # it builds on this module: imported when used

        return case_deadlines.extend(self, case_id, days, reason, actor, now)

    # -- escalation (督办) ---------------------------------------------------------------------

    def due_steps(
        self, now: datetime, near_due_fraction: float = 0.75, still_late: Span | None = None
    ) -> list[DueStep]:
        """Escalation steps reached by ``now`` and not yet taken (alerts/escalation.py). Near-due
        is when ``near_due_fraction`` of the time from detection to the deadline has passed;
        still late, ``still_late`` after it (None: no such step)."""
        if not 0 < near_due_fraction < 1:
            raise CaseError("near_due_fraction must be between 0 and 1")
        conn = self.db.connection()
        taken = {
            (r["case_id"], r["step"]) for r in conn.execute("SELECT case_id, step FROM escalations")
        }
        cases = self.find(OPEN_STATES, limit=100_000)
        return steps_due(cases, taken, now, near_due_fraction, still_late, self.zone)

    def mark_escalated(
        self, conn: sqlite3.Connection, step: DueStep, now: datetime, sent_to: Sequence[str]
    ) -> bool:
        """Record ``step`` once; False when another run already took it."""
        cur = conn.execute(
            "INSERT OR IGNORE INTO escalations (case_id, step, at, due) VALUES (?, ?, ?, ?)",
            (step.case.id, step.step, utc_iso(now), utc_iso(step.due)),
        )
        if cur.rowcount == 0:
            return False
        for skipped in step.superseded:
            conn.execute(
                "INSERT OR IGNORE INTO escalations (case_id, step, at, due) VALUES (?, ?, ?, ?)",
                (step.case.id, skipped, utc_iso(now), utc_iso(step.due)),
            )
        self.append_event(
            conn,
            step.case.id,
            "escalated",
            "system",
            now,
            {
                "step": step.step,
                "due": step.due,
                "destinations": list(sent_to),
                "superseded": list(step.superseded),
            },
        )
        return True
