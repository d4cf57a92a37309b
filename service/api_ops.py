"""What the API reads from the stores for operators: sources with their last patrol and when
they are due, recent alerts, Prometheus metrics computed on scrape, and crawl-now."""

from __future__ import annotations

import contextlib
import json
import logging
import threading
from collections.abc import Collection, Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, Protocol

from apscheduler.triggers.cron import CronTrigger
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from alerts.cases import CaseBook
from alerts.delivery import Outbox
from alerts.models import OPEN_STATES, Clock
from core.settings import Settings, Source
from service.controls import Controls
from service.patrol_status import SOURCE_JOB, scheduled_runs
from store.patrol_log import Patrol, PatrolLog
from store.state import StateDB

log = logging.getLogger("yuqing.api")

RECENT = timedelta(days=30)  # how far back "last patrol" looks
# Past these, /ready names the part as degraded (the rules run every minute; a pending delivery
# older than an hour has failed several times, or its destination is paused).
RULE_LAG_DEGRADED = timedelta(minutes=5)
BACKLOG_DEGRADED = timedelta(hours=1)


class CrawlStarter(Protocol):
    def start(self, source: Source) -> bool:
        """Start crawling ``source`` in the background; False if it is being crawled already."""

    def running(self) -> set[str]: ...


class ThreadCrawlStarter:
    """Each crawl runs in a child process (service.crawl_worker.crawl_in_child, which holds the time
    limit); a thread waits for it so the request returns at once. One crawl per source."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self._lock = threading.Lock()
        self._running: dict[str, threading.Thread] = {}

    def start(self, source: Source) -> bool:
        with self._lock:
            if source.id in self._running:
                return False
            thread = threading.Thread(
                target=self._crawl, args=(source,), name=f"crawl {source.id}", daemon=True
            )
            self._running[source.id] = thread
        thread.start()
        return True

    def _crawl(self, source: Source) -> None:
        # Imported here: the crawler pulls in Scrapy, which the API needs only for this.
        from crawler.runner import job_for
        from service.crawl_worker import crawl_in_child

        try:
            job = job_for(self.settings, [source])
            for summary in crawl_in_child(job, self.settings.crawl.run_timeout):
                log.info("crawl-now %s: %s %s", summary.source, summary.outcome, summary.detail)
        except Exception:
            log.exception("crawl-now %s failed to start", source.id)
        finally:
            with self._lock:
                self._running.pop(source.id, None)

    def running(self) -> set[str]:
        with self._lock:
            return set(self._running)

    def wait(self, timeout: float | None = None) -> None:
        """Wait for the crawls running now (tests, shutdown)."""
        with self._lock:
            threads = list(self._running.values())
        for thread in threads:
            thread.join(timeout)


def next_due(source: Source, last: Patrol | None, tz: str, now: datetime) -> datetime:
    """When the source's next patrol is due: never patrolled means due now."""
    if last is None:
        return now
    if source.schedule.cron:
        trigger = CronTrigger.from_crontab(source.schedule.cron, timezone=tz)
        fire = trigger.get_next_fire_time(None, last.started)
        return fire if fire is not None else now
    assert source.schedule.interval is not None  # the settings insist on one of the two
    return last.started + source.schedule.interval


class Operations:
    def __init__(
        self,
        settings: Settings,
        folder: Path,
        state: StateDB,
        book: CaseBook,
        controls: Controls,
        clock: Clock,
    ) -> None:
        self.settings = settings
        self.folder = folder
        self.state = state
        self.book = book
        self.controls = controls
        self.clock = clock
        self.registry = CollectorRegistry(auto_describe=False)
        self.registry.register(_Collector(self))

    def _patrols(self, since: datetime) -> list[Patrol]:
        patrol_log = PatrolLog(self.folder)
        try:
            return patrol_log.patrols(since=since)
        finally:
            patrol_log.close()

    def sources(self, running: Collection[str] = ()) -> list[dict[str, Any]]:
        now = self.clock()
        last: dict[str, Patrol] = {p.source: p for p in self._patrols(now - RECENT)}
        overrides = self.controls.overrides()
        watched = {w.target for w in self.controls.watches(now) if w.target_kind == "source"}
        out = []
        for source in self.settings.sources:
            patrol = last.get(source.id)
            override = overrides.get(source.id)
            due = next_due(source, patrol, self.settings.timezone, now)
            schedule = source.schedule
            out.append(
                {
                    "id": source.id,
                    "name": source.name,
                    "kind": source.kind.value,
                    "urls": source.urls,
                    "schedule": {
                        "interval_seconds": schedule.interval.total_seconds()
                        if schedule.interval
                        else None,
                        "cron": schedule.cron,
                    },
                    "configured_enabled": source.enabled,
                    "enabled": override.enabled if override else source.enabled,
                    "override": {
                        "enabled": override.enabled,
                        "by": override.actor,
                        "at": override.at.isoformat(),
                        "reason": override.reason,
                    }
                    if override
                    else None,
                    "incident_watch": source.id in watched,
                    "crawling": source.id in running,
                    "next_due": due.isoformat(),
                    "last_patrol": _patrol_json(patrol) if patrol else None,
                }
            )
        return out

    def late_sources(self, now: datetime) -> tuple[list[str], list[str]]:
        """(due, late) enabled sources, from their schedules and the patrol log's last runs:
        due once the next patrol time has come, late when no run came within the interval plus
        the grace of one crawl's time limit (`crawl.run_timeout`)."""
        last: dict[str, Patrol] = {p.source: p for p in self._patrols(now - RECENT)}
        # The daemon's own next run when it has stored one: adaptive polling may have backed a
        # quiet source off beyond its configured interval, which is not late.
        scheduled = scheduled_runs(self.state)
        due, late = [], []
        for source in self.settings.sources:
            if not self.controls.is_enabled(source.id, source.enabled):
                continue
            job = SOURCE_JOB + source.id
            if job in scheduled:
                stored = scheduled[job]
                if stored is None:  # paused in the daemon
                    continue
                when = stored
            else:
                when = next_due(source, last.get(source.id), self.settings.timezone, now)
            if when <= now:
                due.append(source.id)
            if when + self.settings.crawl.run_timeout < now:
                late.append(source.id)
        return due, late

    def rule_lags(self, now: datetime) -> dict[str, float]:
        """Seconds from the end of each enabled rule's last evaluated window to ``now`` (rules
        never evaluated yet are left out)."""
        rows = self.state.connection().execute(
            "SELECT rule, MAX(end) AS last_end FROM rule_runs GROUP BY rule"
        )
        ends = {r["rule"]: datetime.fromisoformat(r["last_end"]) for r in rows}
        return {
            rule.id: (now - ends[rule.id]).total_seconds()
            for rule in self.settings.alert_rules
            if rule.enabled and rule.id in ends
        }

    def monitor_degraded_since(self) -> datetime | None:
        """When the rule engine lost the index (R2), while it lasts."""
        row = (
            self.state.connection()
            .execute("SELECT value FROM engine_state WHERE name = 'degraded_since'")
            .fetchone()
        )
        return datetime.fromisoformat(row["value"]) if row and row["value"] else None

    def degraded(self) -> dict[str, str]:
        """What works but not as it should, each with a one-line reason (for /ready)."""
        now = self.clock()
        found: dict[str, str] = {}
        since = self.monitor_degraded_since()
        if since is not None:
            found["monitor"] = (
                f"the alert rules cannot read the index since {since.isoformat()}; "
                "they catch up when it returns"
            )
        _, late = self.late_sources(now)
        if late:
            found["sources"] = f"late patrols: {', '.join(late)}"
        lagging = {
            r: s for r, s in self.rule_lags(now).items() if s > RULE_LAG_DEGRADED.total_seconds()
        }
        if lagging:
            worst = max(lagging.values())
            found["alert_rules"] = (
                f"{len(lagging)} rule(s) behind by up to {worst / 60:.0f} min: "
                + ", ".join(sorted(lagging))
            )
        outbox = Outbox(self.book, [])
        pending, oldest = outbox.backlog(now)
        if oldest > BACKLOG_DEGRADED.total_seconds():
            found["deliveries"] = (
                f"{pending} webhook deliveries pending, the oldest for {oldest / 3600:.1f} h"
            )
        failed = outbox.failures()
        disabled = outbox.disabled_destinations()
        if failed or disabled:
            found["destinations"] = (
                f"{len(failed)} failed deliveries to replay"
                + (f"; disabled: {', '.join(sorted(disabled))}" if disabled else "")
                + " (yuqing cases failures)"
            )
        return found

    def alerts(self, limit: int, kind: str | None) -> list[dict[str, Any]]:
        sql = "SELECT id, rule, key, severity, detected_at, case_id, kind, body FROM alerts"
        args: list[Any] = []
        if kind:
            sql, args = sql + " WHERE kind = ?", [kind]
        rows = self.state.connection().execute(
            sql + " ORDER BY detected_at DESC, id LIMIT ?", (*args, limit)
        )
        out = []
        for row in rows:
            data = dict(row)
            # An unreadable body stays text: the alert is listed all the same.
            with contextlib.suppress(ValueError):
                data["body"] = json.loads(data["body"])
            out.append(data)
        return out

    def metrics(self) -> tuple[bytes, str]:
        return generate_latest(self.registry), CONTENT_TYPE_LATEST


def _patrol_json(patrol: Patrol) -> dict[str, Any]:
    return {
        "started": patrol.started.isoformat(),
        "ended": patrol.ended.isoformat(),
        "outcome": patrol.outcome,
        "pages": patrol.pages,
        "posts": patrol.posts,
        "new_posts": patrol.new_posts,
        "errors": patrol.errors,
    }


class _Collector(Collector):
    """Everything is read from the stores when Prometheus scrapes: the API process holds no
    counters of its own, so the figures are right whichever process did the work."""

    def __init__(self, ops: Operations) -> None:
        self.ops = ops

    def collect(self) -> Iterator[Metric]:
        ops, now = self.ops, self.ops.clock()
        settings = ops.settings
        day = self.ops._patrols(now - timedelta(days=1))
        enabled = [s for s in settings.sources if ops.controls.is_enabled(s.id, s.enabled)]
        due, late = ops.late_sources(now)
        yield GaugeMetricFamily("yuqing_sources_enabled", "Enabled sources", value=len(enabled))
        yield GaugeMetricFamily("yuqing_sources_due", "Sources whose patrol is due", value=len(due))
        yield GaugeMetricFamily(
            "yuqing_sources_late",
            "Sources with no patrol within their interval plus a crawl's time limit",
            value=len(late),
        )
        per_source = GaugeMetricFamily(
            "yuqing_source_late", "1 if this source's patrol is late", labels=["source"]
        )
        for source in enabled:
            per_source.add_metric([source.id], float(source.id in late))
        yield per_source
        errors = GaugeMetricFamily(
            "yuqing_crawl_errors_24h", "Crawl errors in the last 24 hours", labels=["source"]
        )
        failed = GaugeMetricFamily(
            "yuqing_patrols_failed_24h", "Failed patrols in the last 24 hours", labels=["source"]
        )
        for source in settings.sources:
            mine = [p for p in day if p.source == source.id]
            errors.add_metric([source.id], sum(sum(p.errors.values()) for p in mine))
            failed.add_metric([source.id], sum(p.outcome == "failed" for p in mine))
        yield errors
        yield failed
        hour = [p for p in day if p.ended >= now - timedelta(hours=1)]
        yield GaugeMetricFamily(
            "yuqing_posts_per_minute",
            "New posts per minute, averaged over the last hour of patrols",
            value=sum(p.new_posts for p in hour) / 60,
        )
        lag = GaugeMetricFamily(
            "yuqing_alert_rule_lag_seconds",
            "Now minus the end of the rule's last evaluated window",
            labels=["rule"],
        )
        for rule, seconds in sorted(ops.rule_lags(now).items()):
            lag.add_metric([rule], seconds)
        yield lag
        yield GaugeMetricFamily(
            "yuqing_alert_monitor_degraded",
            "1 while the alert rules cannot read the index (R2)",
            value=float(ops.monitor_degraded_since() is not None),
        )
        outbox = Outbox(ops.book, [])
        yield GaugeMetricFamily(
            "yuqing_deliveries_failed",
            "Webhook deliveries that gave up (to replay)",
            value=len(outbox.failures()),
        )
        pending, oldest = outbox.backlog(now)
        yield GaugeMetricFamily(
            "yuqing_delivery_backlog", "Webhook deliveries waiting to be sent", value=pending
        )
        yield GaugeMetricFamily(
            "yuqing_delivery_oldest_pending_seconds",
            "Age of the oldest pending webhook delivery",
            value=oldest,
        )
        open_cases = ops.book.find(OPEN_STATES, limit=100_000)
        yield GaugeMetricFamily("yuqing_cases_open", "Open cases", value=len(open_cases))
        yield GaugeMetricFamily(
            "yuqing_cases_overdue", "Open cases past a deadline", value=len(ops.book.overdue(now))
        )
        watches = ops.controls.watches(now)
        yield GaugeMetricFamily(
            "yuqing_incident_watches_active", "Incident watches running", value=len(watches)
        )
