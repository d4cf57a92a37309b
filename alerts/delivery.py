"""The webhook outbox (ALERTING.md W1, W3, W6): alerts, cases and delivery jobs committed together
before any request; listing, replay, escalation and operational alerts. alerts/sender.py sends."""

from __future__ import annotations

import ipaddress
import logging
import socket
import sqlite3
import uuid
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from urllib.parse import urlsplit

from alerts import adapters
from alerts.cases import CaseBook, utc_iso
from alerts.deadlines import DEFAULT_ZONE, Span
from alerts.escalation import DueStep
from alerts.models import Alert, Delivery, DeliveryState, Destination, priority_of
from alerts.payload import (
    EscalationInfo,
    OperationalEventType,
    Payload,
    case_payload,
    operational_payload,
)
from core.post import Severity
from core.settings import Settings

log = logging.getLogger(__name__)


class DestinationRefused(ValueError):
    """A destination URL the outbox will not call (W6: private address, bad scheme)."""


class OutboxError(ValueError):
    """An operator request on the outbox that cannot be done; the message says why."""


@dataclass
class FaultHooks:
    """Fault injection points for crash tests (T2); production leaves them unset."""

    before_commit: Callable[[], None] | None = None
    after_commit: Callable[[], None] | None = None
    after_send: Callable[[Delivery], None] | None = None


@dataclass(frozen=True)
class Submission:
    case_id: int
    event: str | None
    deliveries: list[str]
    duplicate: bool


def check_address(url: str, allow_private: bool) -> None:
    """Refuse URLs that are not http(s) or, unless allowed, point at private/loopback hosts."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise DestinationRefused(f"webhook URL {url!r} must be http:// or https:// with a host")
    if allow_private:
        return
    host = parts.hostname
    try:
        addresses = [ipaddress.ip_address(host)]
    except ValueError:
        try:
            infos = socket.getaddrinfo(host, parts.port or 443, proto=socket.IPPROTO_TCP)
        except OSError as exc:
            raise ConnectionError(f"cannot resolve {host}: {exc}") from exc
        addresses = [ipaddress.ip_address(info[4][0]) for info in infos]
    for address in addresses:
        if not address.is_global:
            raise DestinationRefused(
                f"webhook host {host} is a private or loopback address ({address}); set "
                "allow_private: true on the webhook to permit it"
            )


def row_to_delivery(row: sqlite3.Row) -> Delivery:
    return Delivery.model_validate(dict(row))


class Outbox:
    """Writes alerts, cases and delivery jobs; lists, replays and escalates."""

    def __init__(
        self,
        cases: CaseBook,
        destinations: Sequence[Destination],
        zone: str = DEFAULT_ZONE,
        allow_private: bool = False,
        hooks: FaultHooks | None = None,
        labels: Mapping[Severity, str] | None = None,
        unit_routes: Mapping[str, str] | None = None,
        office: Sequence[str] | None = None,
        escalate_to: Sequence[str] = (),
        still_late_to: Sequence[str] = (),
        still_late: Span | None = None,
    ) -> None:
        self.cases = cases
        self.db = cases.db
        self.destinations = {d.id: d for d in destinations}
        self.zone = zone
        self.allow_private = allow_private
        self.hooks = hooks or FaultHooks()
        self.labels = labels  # the institution's tier names (core.settings Tier.name)
        # 谁主管谁负责: unit id -> the id of the unit's own destination (its robot). A case of
        # that unit goes there too, with its own delivery state (W4).
        self.unit_routes = dict(unit_routes or {})
        # The office's destinations: given, else every destination that is no unit's own.
        owned = set(self.unit_routes.values())
        self.office = (
            list(office) if office is not None else [d for d in self.destinations if d not in owned]
        )
        self.escalate_to = list(escalate_to)  # 督办 destinations; empty: the office's
        self.still_late_to = list(still_late_to)  # leadership; empty: the 督办 destinations
        self.still_late = still_late  # how long after a deadline "still late" is reported

    @classmethod
    def from_settings(
        cls, cases: CaseBook, settings: Settings, hooks: FaultHooks | None = None
    ) -> Outbox:
        """The outbox of an institution: its webhooks, units' own webhooks, tier names."""
        late = settings.cases.still_late_after
        return cls(
            cases,
            [Destination.from_settings(w) for w in settings.webhooks],
            zone=settings.timezone,
            allow_private=settings.allow_private_addresses,
            hooks=hooks,
            labels={level: settings.tiers[level].name for level in Severity},
            unit_routes={u.id: u.webhook for u in settings.units if u.webhook},
            escalate_to=settings.cases.escalate_to,
            still_late_to=settings.cases.still_late_to,
            still_late=Span.model_validate(late.model_dump()) if late else None,
        )

    def restricted(self, office: Iterable[str], route_units: bool = True) -> Outbox:
        """The same outbox with only ``office`` as the office's destinations (a rule's
        ``destinations``; the storm cap's survivors); units' own destinations kept if asked."""
        return Outbox(
            self.cases,
            list(self.destinations.values()),
            zone=self.zone,
            allow_private=self.allow_private,
            hooks=self.hooks,
            labels=self.labels,
            unit_routes=self.unit_routes if route_units else {},
            office=[d for d in office if d in self.destinations],
            escalate_to=self.escalate_to,
            still_late_to=self.still_late_to,
            still_late=self.still_late,
        )

    def targets(
        self, event: str, severity: Severity, unit: str | None, office: Iterable[str] | None = None
    ) -> list[Destination]:
        """Where a case event goes: the office's destinations and the unit's own, each once,
        those that take it (event family, minimum tier)."""
        chosen = list(self.office if office is None else office)
        own = self.unit_routes.get(unit) if unit else None
        if own is not None and own not in chosen:
            chosen.append(own)
        wanted = (self.destinations.get(i) for i in chosen)
        return [d for d in wanted if d is not None and d.wants(event, severity, unit)]

    def submit(self, alert: Alert, now: datetime) -> Submission:
        """Record ``alert`` (opening or updating its case) and queue its notifications, all in
        one transaction; nothing is sent here (W1)."""
        with self.db.transaction() as conn:
            recorded = self.cases.record_alert(conn, alert, now)
            ids: list[str] = []
            if recorded.event is not None:
                payload = case_payload(
                    recorded.event, recorded.case, alert, now, labels=self.labels
                )
                ids = self._enqueue(
                    conn,
                    payload,
                    recorded.case.severity,
                    recorded.case.unit,
                    recorded.case.id,
                    alert.id,
                    now,
                )
            if self.hooks.before_commit:
                self.hooks.before_commit()
        if self.hooks.after_commit:
            self.hooks.after_commit()
        return Submission(recorded.case.id, recorded.event, ids, recorded.duplicate)

    def _enqueue(
        self,
        conn: sqlite3.Connection,
        payload: Payload,
        severity: Severity,
        unit: str | None,
        case_id: int | None,
        alert_id: str | None,
        now: datetime,
        exclude: Iterable[str] = (),
        office: Sequence[str] | None = None,
    ) -> list[str]:
        skip = set(exclude)
        if payload.type.startswith("operational."):
            # The machinery's own trouble goes to every destination that takes it.
            dests = [d for d in self.destinations.values() if d.wants(payload.type, severity, unit)]
        else:
            dests = self.targets(payload.type, severity, unit, office)
        ids = []
        for dest in dests:
            if dest.id in skip:
                continue
            delivery_id = "msg_" + uuid.uuid4().hex
            conn.execute(
                "INSERT INTO deliveries (id, destination, event, case_id, alert_id, priority, "
                "body, state, attempts, next_attempt_at, created_at) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, 'pending', 0, ?, ?)",
                (
                    delivery_id,
                    dest.id,
                    payload.type,
                    case_id,
                    alert_id,
                    0 if payload.type.startswith("operational.") else priority_of(severity),
                    adapters.render(dest, payload, self.zone),
                    utc_iso(now),
                    utc_iso(now),
                ),
            )
            ids.append(delivery_id)
        return ids

    def escalate(self, now: datetime, near_due_fraction: float = 0.75) -> list[tuple[int, str]]:
        """Queue a 督办 message for each near-due or overdue step, each step once (C4)."""
        done = []
        for step in self.cases.due_steps(now, near_due_fraction, self.still_late):
            if self._escalate_one(step, now):
                done.append((step.case.id, step.step))
        return done

    def _escalate_one(self, step: DueStep, now: datetime) -> bool:
        with self.db.transaction() as conn:
            case = self.cases.load(conn, step.case.id)
            alert = self.cases.opening_alert(case)
            payload = case_payload(
                "case.escalated",
                case,
                alert,
                now,
                EscalationInfo(step=step.step, due=step.due),
                labels=self.labels,
            )
            office = self._escalation_office(step.step)
            wanted = [d.id for d in self.targets(payload.type, case.severity, case.unit, office)]
            if not self.cases.mark_escalated(conn, step, now, wanted):
                return False
            self._enqueue(
                conn, payload, case.severity, case.unit, case.id, alert.id, now, office=office
            )
        return True

    def _escalation_office(self, step: str) -> list[str] | None:
        """督办 goes to ``escalate_to``; "still late" to leadership (``still_late_to``) when
        configured; the unit's own destination always hears of its case."""
        if step.endswith(".still_late") and self.still_late_to:
            return self.still_late_to
        return self.escalate_to or None

    def operational(
        self,
        conn: sqlite3.Connection,
        event: OperationalEventType,
        message: str,
        destination: str,
        now: datetime,
        delivery: Delivery | None = None,
    ) -> None:
        """Raise an operational alert by every other destination that takes them (W3)."""
        log.error("%s: %s", event, message)
        alert_id = "op_" + uuid.uuid4().hex
        payload = operational_payload(
            event,
            message,
            destination,
            now,
            delivery.id if delivery else None,
            delivery.case_id if delivery else None,
        )
        conn.execute(
            "INSERT INTO alerts (id, rule, key, severity, detected_at, case_id, kind, body) "
            "VALUES (?, 'operational', ?, 'major', ?, NULL, 'operational', ?)",
            (alert_id, f"{event}:{destination}", utc_iso(now), payload.model_dump_json()),
        )
        self._enqueue(
            conn, payload, Severity.MAJOR, None, None, alert_id, now, exclude=[destination]
        )

    def operational_alerts(self, limit: int = 100) -> list[dict[str, Any]]:
        rows = (
            self.db.connection()
            .execute(
                "SELECT id, key, detected_at, body FROM alerts WHERE kind = 'operational' "
                "ORDER BY detected_at DESC LIMIT ?",
                (limit,),
            )
            .fetchall()
        )
        return [dict(r) for r in rows]

    # -- operators ---------------------------------------------------------------------------

    def get(self, delivery_id: str) -> Delivery:
        row = (
            self.db.connection()
            .execute("SELECT * FROM deliveries WHERE id = ?", (delivery_id,))
            .fetchone()
        )
        if row is None:
            raise OutboxError(f"no delivery {delivery_id}")
        return row_to_delivery(row)

    def deliveries(
        self, states: Iterable[DeliveryState] = (), case_id: int | None = None, limit: int = 1000
    ) -> list[Delivery]:
        sql, params = "SELECT * FROM deliveries WHERE 1=1", []
        wanted = [s.value for s in states]
        if wanted:
            sql += f" AND state IN ({','.join('?' * len(wanted))})"
            params += wanted
        if case_id is not None:
            sql += " AND case_id = ?"
            params.append(str(case_id))
        sql += " ORDER BY created_at, id LIMIT ?"
        rows = self.db.connection().execute(sql, (*params, limit)).fetchall()
        return [row_to_delivery(r) for r in rows]

    def failures(self) -> list[Delivery]:
        """Deliveries that gave up (exhausted, refused, or their endpoint answered 410)."""
        return self.deliveries([DeliveryState.FAILED, DeliveryState.DISABLED])

    def backlog(self, now: datetime) -> tuple[int, float]:
        """(pending deliveries, age in seconds of the oldest) for the metrics endpoint."""
        row = (
            self.db.connection()
            .execute("SELECT COUNT(*), MIN(created_at) FROM deliveries WHERE state = 'pending'")
            .fetchone()
        )
        oldest = datetime.fromisoformat(row[1]) if row[1] else now
        return int(row[0]), max((now - oldest).total_seconds(), 0.0)

    def disabled_destinations(self) -> dict[str, str]:
        rows = self.db.connection().execute(
            "SELECT id, disabled_reason FROM destinations WHERE disabled_at IS NOT NULL"
        )
        return {r["id"]: r["disabled_reason"] for r in rows}

    def enable_destination(self, destination: str) -> None:
        with self.db.transaction() as conn:
            conn.execute(
                "UPDATE destinations SET disabled_at = NULL, disabled_reason = NULL, "
                "paused_until = NULL WHERE id = ?",
                (destination,),
            )

    def replay(
        self,
        now: datetime,
        ids: Iterable[str] = (),
        destination: str | None = None,
        actor: str = "operator",
    ) -> list[str]:
        """Queue failed deliveries again, keeping their webhook-id; by id or by destination."""
        wanted = list(ids)
        if not wanted and destination is None:
            raise OutboxError("say which failures to replay: delivery ids or a destination")
        disabled = self.disabled_destinations()
        replayed = []
        with self.db.transaction() as conn:
            for failure in self.failures():
                if (wanted and failure.id not in wanted) or (
                    destination and failure.destination != destination
                ):
                    continue
                if failure.destination in disabled:
                    raise OutboxError(
                        f"destination {failure.destination} is disabled "
                        f"({disabled[failure.destination]}); enable it first"
                    )
                conn.execute(
                    "UPDATE deliveries SET state = 'pending', attempts = 0, "
                    "next_attempt_at = ? WHERE id = ?",
                    (utc_iso(now), failure.id),
                )
                if failure.case_id is not None:
                    self.cases.append_event(
                        conn,
                        failure.case_id,
                        "delivery_replayed",
                        actor,
                        now,
                        {"delivery": failure.id, "destination": failure.destination},
                    )
                replayed.append(failure.id)
        missing = set(wanted) - set(replayed)
        if missing:
            raise OutboxError(f"not failed deliveries, nothing to replay: {sorted(missing)}")
        return replayed
