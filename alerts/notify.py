"""Noise control between a rule and the outbox (ALERTING.md D1–D3): silences, aggregation by
key, realert by identity (rule + key), quiet hours and the storm cap. All state in the state
database, written in the caller's transaction, so a restart neither repeats nor loses a send."""

from __future__ import annotations

import sqlite3
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from alerts.delivery import Outbox
from alerts.models import SEVERITY_RANK, Alert
from alerts.silences import SilenceBook
from core.post import Severity
from core.settings_rules import AlertRule

STORM_RULE = "alert-storm"


@dataclass
class NotifyCounts:
    sent: int = 0
    suppressed: int = 0  # same identity within realert (D1)
    silenced: int = 0
    aggregated: int = 0  # folded into a pending per-key notification (D2)
    held: int = 0  # quiet hours
    folded: int = 0  # past the storm cap, into a digest
    released: int = 0  # held or aggregated alerts sent now


def _iso(value: datetime) -> str:
    return value.astimezone(UTC).isoformat()


def _max(a: Severity, b: Severity) -> Severity:
    return a if SEVERITY_RANK[a] >= SEVERITY_RANK[b] else b


def merge(old: Alert, new: Alert) -> Alert:
    """One notification for a key's matches: the newest title and link, the sum, the union."""
    # Rebuilt, not copied, so the id follows the first detection and stays deterministic.
    return Alert.model_validate(
        {
            **new.model_dump(),
            "id": "",
            "severity": _max(old.severity, new.severity),
            "cluster_size": old.cluster_size + new.cluster_size,
            "sites": sorted(set(old.sites) | set(new.sites)),
            "keywords": list(dict.fromkeys(new.keywords + old.keywords))[:8],
            "detected_at": old.detected_at,
        }
    )


class Notifier:
    def __init__(
        self,
        outbox: Outbox,
        rules: Mapping[str, AlertRule],
        silences: SilenceBook,
        *,
        zone: str,
        storm_cap: int,
        storm_window: timedelta,
        units: Mapping[str, tuple[str, str, str]],
        evidence_base: str = "",
    ) -> None:
        self.outbox = outbox
        # The API serves a stored page at this URL + its hash (GET /v1/evidence/{sha256}).
        self.evidence_base = evidence_base
        self.rules = rules
        self.silences = silences
        self.zone = ZoneInfo(zone)
        self.storm_cap = storm_cap
        self.storm_window = storm_window
        self.units = units
        self._outboxes: dict[str, Outbox] = {}

    def _outbox_for(self, rule: AlertRule | None) -> Outbox:
        """The rule's ``destinations`` only, when it names some; else every destination."""
        if rule is None or not rule.destinations:
            return self.outbox
        if rule.id not in self._outboxes:
            self._outboxes[rule.id] = self.outbox.restricted(rule.destinations)
        return self._outboxes[rule.id]

    def _log(self, conn: sqlite3.Connection, alert: Alert, now: datetime, outcome: str) -> None:
        conn.execute(
            "INSERT INTO alert_log (alert_id, rule, key, severity, at, outcome, title) "
            "VALUES (?, ?, ?, ?, ?, ?, ?)",
            (
                alert.id,
                alert.rule,
                alert.key,
                alert.severity.value,
                _iso(now),
                outcome,
                alert.title,
            ),
        )

    def _enrich(self, alert: Alert) -> Alert:
        update: dict[str, str | None] = {}
        if alert.unit and alert.unit in self.units and not alert.unit_name:
            name, liaison, contact = self.units[alert.unit]
            update = {"unit_name": name, "liaison": liaison or None, "contact": contact or None}
        if alert.evidence and self.evidence_base and "/" not in alert.evidence:
            update["evidence"] = self.evidence_base + alert.evidence  # a hash becomes a link
        return alert.model_copy(update=update) if update else alert

    def notify(
        self, conn: sqlite3.Connection, alert: Alert, now: datetime, counts: NotifyCounts
    ) -> None:
        """Take one alert a rule raised at ``now`` through silences, aggregation, realert,
        quiet hours and the storm cap; what survives is submitted to the outbox."""
        alert = self._enrich(alert)
        if self.silences.silencing(alert, now) is not None:
            counts.silenced += 1
            self._log(conn, alert, now, "silenced")
            return
        rule = self.rules.get(alert.rule)
        if rule is not None and rule.aggregation is not None:
            row = conn.execute(
                "SELECT alert FROM rule_pending "
                "WHERE rule = ? AND key = ? AND reason = 'aggregate'",
                (alert.rule, alert.key),
            ).fetchone()
            if row is None:
                due = now + rule.aggregation.window
                merged = alert
            else:
                merged = merge(Alert.model_validate_json(row["alert"]), alert)
            conn.execute(
                "INSERT INTO rule_pending (rule, key, reason, due_at, count, alert) "
                "VALUES (?, ?, 'aggregate', ?, 1, ?) ON CONFLICT(rule, key, reason) DO UPDATE "
                "SET count = count + 1, alert = excluded.alert",
                (alert.rule, alert.key, _iso(due) if row is None else "", merged.model_dump_json()),
            )
            counts.aggregated += 1
            self._log(conn, alert, now, "aggregated")
            return
        self._deliver(conn, alert, now, counts)

    def _suppressed(self, conn: sqlite3.Connection, alert: Alert, now: datetime) -> bool:
        rule = self.rules.get(alert.rule)
        row = conn.execute(
            "SELECT last_sent_at FROM rule_identities WHERE rule = ? AND key = ?",
            (alert.rule, alert.key),
        ).fetchone()
        if rule is None or row is None:
            return False
        if now - datetime.fromisoformat(row["last_sent_at"]) >= rule.realert:
            return False
        conn.execute(
            "UPDATE rule_identities SET suppressed = suppressed + 1 WHERE rule = ? AND key = ?",
            (alert.rule, alert.key),
        )
        return True

    def _mark(self, conn: sqlite3.Connection, alert: Alert, now: datetime) -> None:
        conn.execute(
            "INSERT INTO rule_identities (rule, key, last_sent_at) VALUES (?, ?, ?) "
            "ON CONFLICT(rule, key) DO UPDATE SET last_sent_at = excluded.last_sent_at",
            (alert.rule, alert.key, _iso(now)),
        )

    def quiet(self, rule: AlertRule | None, alert: Alert, now: datetime) -> bool:
        """Within the rule's quiet hours (local time) and below their bypass tier (R6)."""
        hours = rule.quiet_hours if rule else None
        if hours is None or not hours.covers(now.astimezone(self.zone).time()):
            return False
        bypass = hours.bypass_severity
        return bypass is None or SEVERITY_RANK[alert.severity] < SEVERITY_RANK[bypass]

    def _deliver(
        self,
        conn: sqlite3.Connection,
        alert: Alert,
        now: datetime,
        counts: NotifyCounts,
        held: bool = False,
    ) -> None:
        rule = self.rules.get(alert.rule)
        if not held:
            if self._suppressed(conn, alert, now):
                counts.suppressed += 1
                self._log(conn, alert, now, "suppressed")
                return
            if self.quiet(rule, alert, now):
                conn.execute(
                    "INSERT INTO rule_pending (rule, key, reason, due_at, count, alert) "
                    "VALUES (?, ?, 'quiet', ?, 1, ?) ON CONFLICT(rule, key, reason) DO UPDATE "
                    "SET count = count + 1",
                    (alert.rule, alert.key, _iso(now), alert.model_dump_json()),
                )
                self._mark(conn, alert, now)
                counts.held += 1
                self._log(conn, alert, now, "held")
                return
        outbox = self._outbox_for(rule)
        targets = outbox.targets("case.opened", alert.severity, alert.unit)
        over = (
            []
            if alert.severity == Severity.ESPECIALLY_MAJOR
            else [d for d in targets if self._stormy(conn, d.id, now)]
        )
        if over:
            for dest in over:
                self._fold(conn, alert, now, dest.id)
            counts.folded += 1
            self._log(conn, alert, now, "folded")
            if len(over) == len(targets):
                self._mark(conn, alert, now)
                return
            outbox = self.outbox.restricted(
                [d.id for d in targets if d not in over], route_units=False
            )
        outbox.submit(alert, now)
        self._mark(conn, alert, now)
        counts.sent += 1
        self._log(conn, alert, now, "sent")

    # -- the storm cap -----------------------------------------------------------------------

    def _stormy(self, conn: sqlite3.Connection, destination: str, now: datetime) -> bool:
        """Has ``destination`` had ``storm_cap`` case notifications within the storm window?"""
        sent = conn.execute(
            "SELECT COUNT(*) FROM deliveries WHERE destination = ? AND event LIKE 'case.%' "
            "AND created_at > ?",
            (destination, _iso(now - self.storm_window)),
        ).fetchone()[0]
        return int(sent) >= self.storm_cap

    def _fold(self, conn: sqlite3.Connection, alert: Alert, now: datetime, dest: str) -> None:
        """Add ``alert`` to ``dest``'s digest of the current storm window (sent when it ends)."""
        width = self.storm_window.total_seconds()
        bucket = datetime.fromtimestamp(now.timestamp() // width * width, UTC)
        key = f"digest:{dest}@{bucket.isoformat()}"
        row = conn.execute(
            "SELECT count, alert FROM rule_pending "
            "WHERE rule = ? AND key = ? AND reason = 'digest'",
            (STORM_RULE, key),
        ).fetchone()
        before = Alert.model_validate_json(row["alert"]) if row else None
        count = (row["count"] if row else 0) + 1
        earlier = before.excerpt + "\n" if before else ""
        digest = Alert(
            rule=STORM_RULE,
            key=key,
            severity=_max(before.severity, alert.severity) if before else alert.severity,
            title=f"告警风暴：另有 {count} 条告警已合并",
            excerpt=(earlier + f"[{alert.rule}] {alert.title}")[-2000:],
            detected_at=bucket + self.storm_window,
        )
        conn.execute(
            "INSERT INTO rule_pending (rule, key, reason, due_at, count, alert) "
            "VALUES (?, ?, 'digest', ?, ?, ?) ON CONFLICT(rule, key, reason) DO UPDATE "
            "SET count = excluded.count, alert = excluded.alert",
            (STORM_RULE, key, _iso(bucket + self.storm_window), count, digest.model_dump_json()),
        )

    # -- release -------------------------------------------------------------------------------

    def release(self, now: datetime, counts: NotifyCounts) -> None:
        """Send what waited: aggregations whose window closed, alerts held by quiet hours that
        have ended, storm digests whose window passed. Call inside a transaction."""
        conn = self.outbox.db.connection()
        rows = conn.execute(
            "SELECT rule, key, reason, due_at, count, alert FROM rule_pending "
            "ORDER BY due_at, rule, key"
        ).fetchall()
        for row in rows:
            alert = Alert.model_validate_json(row["alert"])
            rule = self.rules.get(row["rule"])
            reason = row["reason"]
            if reason == "quiet" and self.quiet(rule, alert, now):
                continue
            if reason in ("aggregate", "digest") and datetime.fromisoformat(row["due_at"]) > now:
                continue
            conn.execute(
                "DELETE FROM rule_pending WHERE rule = ? AND key = ? AND reason = ?",
                (row["rule"], row["key"], reason),
            )
            counts.released += 1
            if reason == "digest":
                dest = alert.key.removeprefix("digest:").split("@", 1)[0]
                if dest in self.outbox.destinations:
                    self.outbox.restricted([dest], route_units=False).submit(alert, now)
                counts.sent += 1
                self._log(conn, alert, now, "sent")
            elif reason == "aggregate":
                self._deliver(conn, alert, now, counts)
            else:
                self._deliver(conn, alert, now, counts, held=True)
