"""The webhook outbox (ALERTING.md W1–W4, W6): alerts, cases and delivery jobs committed together
before any request; a worker that sends due jobs by priority, retries, and reports failures."""

from __future__ import annotations

import email.utils
import ipaddress
import logging
import random
import socket
import sqlite3
import uuid
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

import httpx

from alerts import adapters
from alerts.cases import CaseBook, DueStep
from alerts.deadlines import DEFAULT_ZONE
from alerts.models import Alert, Clock, Delivery, DeliveryState, Destination, priority_of
from alerts.payload import (
    EscalationInfo,
    OperationalEventType,
    Payload,
    case_payload,
    operational_payload,
)
from core.post import Severity

log = logging.getLogger(__name__)

# Delays after each failed attempt (the Standard Webhooks / Svix schedule): 8 attempts over
# about 27.5 hours, so an endpoint down for a whole day still gets the message.
RETRY_SCHEDULE: tuple[timedelta, ...] = (
    timedelta(seconds=5),
    timedelta(minutes=5),
    timedelta(minutes=30),
    timedelta(hours=2),
    timedelta(hours=5),
    timedelta(hours=10),
    timedelta(hours=10),
)
MAX_RETRY_AFTER = timedelta(days=1)


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


@dataclass
class RunStats:
    sent: int = 0
    failed: int = 0
    skipped: int = 0
    outcomes: list[tuple[str, str]] = field(default_factory=list)  # (delivery id, outcome)


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
                "allow_private on the destination (or allow_private_addresses) to permit it"
            )


def _retry_after(value: str | None, now: datetime) -> timedelta | None:
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return min(timedelta(seconds=int(value)), MAX_RETRY_AFTER)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return min(max(when - now, timedelta(0)), MAX_RETRY_AFTER)


def _iso(value: datetime) -> str:
    return value.astimezone(UTC).isoformat()


def _delivery(row: sqlite3.Row) -> Delivery:
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
    ) -> None:
        self.cases = cases
        self.db = cases.db
        self.destinations = {d.id: d for d in destinations}
        self.zone = zone
        self.allow_private = allow_private
        self.hooks = hooks or FaultHooks()

    def submit(self, alert: Alert, now: datetime) -> Submission:
        """Record ``alert`` (opening or updating its case) and queue its notifications, all in
        one transaction; nothing is sent here (W1)."""
        with self.db.transaction() as conn:
            recorded = self.cases.record_alert(conn, alert, now)
            ids: list[str] = []
            if recorded.event in ("case.opened", "case.severity_raised"):
                payload = case_payload(recorded.event, recorded.case, alert, now)  # type: ignore[arg-type]  # narrowed by the tuple above
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
    ) -> list[str]:
        skip = set(exclude)
        ids = []
        for dest in self.destinations.values():
            if dest.id in skip or not dest.wants(payload.type, severity, unit):
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
                    _iso(now),
                    _iso(now),
                ),
            )
            ids.append(delivery_id)
        return ids

    def escalate(self, now: datetime, near_due_fraction: float = 0.75) -> list[tuple[int, str]]:
        """Queue a 督办 message for each near-due or overdue step, each step once (C4)."""
        done = []
        for step in self.cases.due_steps(now, near_due_fraction):
            if self._escalate_one(step, now):
                done.append((step.case.id, step.step))
        return done

    def _escalate_one(self, step: DueStep, now: datetime) -> bool:
        with self.db.transaction() as conn:
            case = self.cases._get(conn, step.case.id)
            alert = self.cases.opening_alert(case)
            payload = case_payload(
                "case.escalated", case, alert, now, EscalationInfo(step=step.step, due=step.due)
            )
            wanted = [
                d.id
                for d in self.destinations.values()
                if d.wants(payload.type, case.severity, case.unit)
            ]
            if not self.cases.mark_escalated(conn, step, now, wanted):
                return False
            self._enqueue(conn, payload, case.severity, case.unit, case.id, alert.id, now)
        return True

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
            (alert_id, f"{event}:{destination}", _iso(now), payload.model_dump_json()),
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
        return _delivery(row)

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
        return [_delivery(r) for r in rows]

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
                    (_iso(now), failure.id),
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


@dataclass(frozen=True)
class _Outcome:
    kind: str  # delivered | retry | pause | gone | refused
    status: int | None = None
    error: str | None = None
    wait: timedelta | None = None


class Worker:
    """Sends due deliveries: lowest priority number first (especially major = 0); after one
    failure a destination is skipped for the rest of the run, so it costs one timeout per run
    and never holds up the others (W4)."""

    def __init__(
        self,
        outbox: Outbox,
        clock: Clock,
        client: httpx.Client | None = None,
        rng: random.Random | None = None,
        jitter: float = 0.2,
        schedule: Sequence[timedelta] = RETRY_SCHEDULE,
    ) -> None:
        self.outbox = outbox
        self.db = outbox.db
        self.clock = clock
        self.client = client or httpx.Client(follow_redirects=False, trust_env=False)
        self.rng = rng or random.Random()
        self.jitter = jitter
        self.schedule = tuple(schedule)

    def close(self) -> None:
        self.client.close()

    def backoff(self, attempts: int) -> timedelta | None:
        """Delay before the next attempt after ``attempts`` failures; None when exhausted."""
        if attempts > len(self.schedule):
            return None
        base = self.schedule[attempts - 1]
        return base * (1 + self.rng.uniform(-self.jitter, self.jitter))

    def run_once(self, limit: int = 100, max_priority: int | None = None) -> RunStats:
        """One pass over due deliveries; ``max_priority=0`` makes an urgent-only lane."""
        stats = RunStats()
        now = self.clock()
        conn = self.db.connection()
        sql = (
            "SELECT * FROM deliveries WHERE state = 'pending' AND next_attempt_at <= ?"
            + (" AND priority <= ?" if max_priority is not None else "")
            + " ORDER BY priority, next_attempt_at, created_at LIMIT ?"
        )
        params: tuple[object, ...] = (
            _iso(now),
            *((max_priority,) if max_priority is not None else ()),
            limit,
        )
        due = [_delivery(r) for r in conn.execute(sql, params).fetchall()]
        held = {r["id"]: r for r in conn.execute("SELECT * FROM destinations")}
        skip: set[str] = set()
        for delivery in due:
            state = held.get(delivery.destination)
            paused = (
                state is not None
                and state["paused_until"]
                and datetime.fromisoformat(state["paused_until"]) > now
            )
            if (
                delivery.destination in skip
                or paused
                or (state is not None and state["disabled_at"])
            ):
                stats.skipped += 1
                continue
            outcome = self._send(delivery)
            if self.outbox.hooks.after_send:
                self.outbox.hooks.after_send(delivery)
            self._record(delivery, outcome)
            stats.outcomes.append((delivery.id, outcome.kind))
            if outcome.kind == "delivered":
                stats.sent += 1
            else:
                stats.failed += 1
                skip.add(delivery.destination)
        return stats

    def _send(self, delivery: Delivery) -> _Outcome:
        dest = self.outbox.destinations.get(delivery.destination)
        if dest is None:
            return _Outcome(
                "refused", error=f"destination {delivery.destination} is no longer configured"
            )
        try:
            check_address(dest.url, dest.allow_private or self.outbox.allow_private)
            request = adapters.build_request(dest, delivery.id, delivery.body, self.clock())
        except (DestinationRefused, ValueError) as exc:
            return _Outcome("refused", error=str(exc))
        except ConnectionError as exc:
            return _Outcome("retry", error=str(exc))
        try:
            response = self.client.post(
                request.url, content=request.body, headers=request.headers, timeout=dest.timeout
            )
        except httpx.TimeoutException as exc:
            return _Outcome("retry", error=f"timeout after {dest.timeout}s: {exc!r}")
        except httpx.HTTPError as exc:
            return _Outcome("retry", error=f"connection failed: {exc!r}")
        status = response.status_code
        if 200 <= status < 300:
            problem = adapters.response_error(dest, response.text)
            if problem is None:
                return _Outcome("delivered", status)
            return _Outcome("retry", status, problem)
        if status == 410:
            return _Outcome("gone", status, "endpoint answered 410 Gone")
        wait = _retry_after(response.headers.get("retry-after"), self.clock())
        if status in (429, 503) and wait is not None:
            return _Outcome("pause", status, f"HTTP {status}, Retry-After {wait}", wait)
        return _Outcome("retry", status, f"HTTP {status}: {response.text[:200]}")

    def _record(self, delivery: Delivery, outcome: _Outcome) -> None:
        now = self.clock()
        attempts = delivery.attempts + 1
        with self.db.transaction() as conn:
            state, next_at = DeliveryState.PENDING, now
            if outcome.kind == "delivered":
                state = DeliveryState.DELIVERED
            elif outcome.kind == "gone":
                state = DeliveryState.DISABLED
                self._disable(conn, delivery, now)
            elif outcome.kind == "refused":
                state = DeliveryState.FAILED
                self._give_up(conn, delivery, outcome, now)
            else:
                delay = self.backoff(attempts)
                if delay is None:
                    state = DeliveryState.FAILED
                    self._give_up(conn, delivery, outcome, now)
                else:
                    if outcome.kind == "pause" and outcome.wait is not None:
                        delay = max(delay, outcome.wait)
                        conn.execute(
                            "INSERT INTO destinations (id, paused_until) VALUES (?, ?) "
                            "ON CONFLICT(id) DO UPDATE SET paused_until = excluded.paused_until",
                            (delivery.destination, _iso(now + outcome.wait)),
                        )
                    next_at = now + delay
            conn.execute(
                "UPDATE deliveries SET state = ?, attempts = ?, next_attempt_at = ?, "
                "delivered_at = ?, last_status = ?, last_error = ? WHERE id = ?",
                (
                    state.value,
                    attempts,
                    _iso(next_at),
                    _iso(now) if state is DeliveryState.DELIVERED else None,
                    outcome.status,
                    outcome.error,
                    delivery.id,
                ),
            )
            if delivery.case_id is not None:
                self.outbox.cases.append_event(
                    conn,
                    delivery.case_id,
                    "delivery",
                    "system",
                    now,
                    {
                        "delivery": delivery.id,
                        "destination": delivery.destination,
                        "event": delivery.event,
                        "attempt": attempts,
                        "outcome": outcome.kind,
                        "state": state.value,
                        "status": outcome.status,
                        "error": outcome.error,
                    },
                )

    def _give_up(
        self, conn: sqlite3.Connection, delivery: Delivery, outcome: _Outcome, now: datetime
    ) -> None:
        if delivery.event.startswith("operational."):
            log.error(
                "operational alert %s to %s failed: %s",
                delivery.id,
                delivery.destination,
                outcome.error,
            )
            return
        self.outbox.operational(
            conn,
            "operational.delivery_failed",
            f"投递失败：{delivery.event} 到 {delivery.destination}（{outcome.error}）",
            delivery.destination,
            now,
            delivery,
        )

    def _disable(self, conn: sqlite3.Connection, delivery: Delivery, now: datetime) -> None:
        conn.execute(
            "INSERT INTO destinations (id, disabled_at, disabled_reason) VALUES (?, ?, ?) "
            "ON CONFLICT(id) DO UPDATE SET disabled_at = excluded.disabled_at, "
            "disabled_reason = excluded.disabled_reason",
            (delivery.destination, _iso(now), "410 Gone"),
        )
        conn.execute(
            "UPDATE deliveries SET state = 'disabled', last_error = ? "
            "WHERE destination = ? AND state = 'pending' AND id != ?",
            ("destination disabled after 410 Gone", delivery.destination, delivery.id),
        )
        self.outbox.operational(
            conn,
            "operational.endpoint_disabled",
            f"目的地 {delivery.destination} 返回 410，已停用",
            delivery.destination,
            now,
            delivery,
        )
