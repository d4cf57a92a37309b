"""The sender: a worker that delivers due outbox jobs by priority, retries with backoff and
jitter, honours Retry-After, disables endpoints that answer 410 and reports what gave up."""

from __future__ import annotations

import email.utils
import logging
import random
import sqlite3
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import httpx

from alerts import adapters
from alerts.cases import utc_iso
from alerts.delivery import DestinationRefused, Outbox, check_address, row_to_delivery
from alerts.models import Clock, Delivery, DeliveryState

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


@dataclass
class RunStats:
    sent: int = 0
    failed: int = 0
    skipped: int = 0
    outcomes: list[tuple[str, str]] = field(default_factory=list)  # (delivery id, outcome)


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


@dataclass(frozen=True)
class _Outcome:
    kind: str  # delivered | retry | pause | gone | refused
    status: int | None = None
    error: str | None = None
    wait: timedelta | None = None


class Worker:
    """Sends due deliveries: lowest priority number first (especially major = 0); after one
    failure a destination is skipped for the rest of the run, so it costs one timeout per run
    and never holds up the others (W4).

    Each job is claimed before it is sent (its next attempt moved ``lease`` ahead, by default
    the destination's timeout plus a minute), so an urgent lane and a general lane can run at
    once without sending a job twice; a job claimed by a process that died is due again when
    its lease ends, and goes out with the same webhook-id.
    """

    def __init__(
        self,
        outbox: Outbox,
        clock: Clock,
        client: httpx.Client | None = None,
        rng: random.Random | None = None,
        jitter: float = 0.2,
        schedule: Sequence[timedelta] = RETRY_SCHEDULE,
        lease: timedelta | None = None,
    ) -> None:
        self.outbox = outbox
        self.db = outbox.db
        self.clock = clock
        self.client = client or httpx.Client(follow_redirects=False, trust_env=False)
        self.rng = rng or random.Random()
        self.jitter = jitter
        self.schedule = tuple(schedule)
        self.lease = lease

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
            utc_iso(now),
            *((max_priority,) if max_priority is not None else ()),
            limit,
        )
        due = [row_to_delivery(r) for r in conn.execute(sql, params).fetchall()]
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
            if not self._claim(delivery, now):
                stats.skipped += 1  # another lane took it
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

    def _claim(self, delivery: Delivery, now: datetime) -> bool:
        dest = self.outbox.destinations.get(delivery.destination)
        lease = self.lease
        if lease is None:
            lease = timedelta(seconds=(dest.timeout if dest else 10.0) + 60)
        with self.db.transaction() as conn:
            cur = conn.execute(
                "UPDATE deliveries SET next_attempt_at = ? WHERE id = ? AND state = 'pending' "
                "AND next_attempt_at = ?",
                (utc_iso(now + lease), delivery.id, utc_iso(delivery.next_attempt_at)),
            )
        return cur.rowcount == 1

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
                            (delivery.destination, utc_iso(now + outcome.wait)),
                        )
                    next_at = now + delay
            conn.execute(
                "UPDATE deliveries SET state = ?, attempts = ?, next_attempt_at = ?, "
                "delivered_at = ?, last_status = ?, last_error = ? WHERE id = ?",
                (
                    state.value,
                    attempts,
                    utc_iso(next_at),
                    utc_iso(now) if state is DeliveryState.DELIVERED else None,
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
            (delivery.destination, utc_iso(now), "410 Gone"),
        )
        set_aside = conn.execute(
            "SELECT id, case_id FROM deliveries WHERE destination = ? AND state = 'pending' "
            "AND id != ?",
            (delivery.destination, delivery.id),
        ).fetchall()
        conn.execute(
            "UPDATE deliveries SET state = 'disabled', last_error = ? "
            "WHERE destination = ? AND state = 'pending' AND id != ?",
            ("destination disabled after 410 Gone", delivery.destination, delivery.id),
        )
        for row in set_aside:
            if row["case_id"] is not None:
                self.outbox.cases.append_event(
                    conn,
                    row["case_id"],
                    "delivery",
                    "system",
                    now,
                    {
                        "delivery": row["id"],
                        "destination": delivery.destination,
                        "outcome": "disabled",
                        "state": "disabled",
                    },
                )
        self.outbox.operational(
            conn,
            "operational.endpoint_disabled",
            f"目的地 {delivery.destination} 返回 410，已停用",
            delivery.destination,
            now,
            delivery,
        )
