"""The daemon's standing duties besides crawling: evaluate alert rules, send webhooks, chase
due cases (督办), produce the daily and weekly reports, purge old evidence. Each is one call the
scheduler triggers; none holds logic of its own beyond wiring the stores together."""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta

from alerts.cases import CaseBook
from alerts.delivery import Outbox
from alerts.engine import Engine
from alerts.sender import Worker
from core.settings import Settings
from service.controls import Controls
from service.reports import produce
from service.wiring import open_index
from store.base import IndexUnavailable, PostIndex
from store.evidence import EvidenceStore
from store.state import StateDB

logger = logging.getLogger("yuqing.duties")


def _now() -> datetime:
    return datetime.now(UTC)


class Duties:
    def __init__(
        self,
        settings: Settings,
        index: PostIndex | None = None,
        alert_interval: timedelta | None = None,
    ) -> None:
        self.settings = settings
        self.index = index or open_index(settings)
        try:
            self.index.init()
        except IndexUnavailable as exc:  # the engine waits for it (R2); crawls spool their posts
            logger.error("the index is not reachable yet: %s", exc)
        self.state = StateDB.in_data_dir(settings.storage.data_dir)
        self.cases = CaseBook.from_settings(self.state, settings)
        self.outbox = Outbox.from_settings(self.cases, settings)
        self.engine = Engine.from_settings(settings, self.index, self.outbox)
        # The demo passes its own; otherwise `alerting.interval` (1 minute unless configured).
        self.engine.interval = alert_interval or settings.alerting.interval
        self.worker = Worker(self.outbox, clock=_now)
        self.urgent = Worker(self.outbox, clock=_now)  # its own lane: see deliver_urgent
        self.controls = Controls(self.state)

    def alerts(self) -> None:
        report = self.engine.run_due(_now())
        for error in getattr(report, "errors", []):
            logger.error("alert rules: %s", error)

    def deliver(self) -> None:
        self.worker.run_once()

    def deliver_urgent(self) -> None:
        """Especially-major and operational alerts on a lane of their own, so they never wait
        for a long pass over general ones to a slow destination (ALERTING.md W4)."""
        self.urgent.run_once(max_priority=0)

    def escalate(self) -> None:
        done = self.outbox.escalate(_now(), self.settings.cases.near_due_fraction)
        if done:
            logger.info("督办: %d case steps chased", len(done))

    def daily_report(self) -> None:
        made = produce(self.settings, self.index, self.state, "daily", _now())
        logger.info("daily report: %s", made.html)

    def weekly_report(self) -> None:
        made = produce(self.settings, self.index, self.state, "weekly", _now())
        logger.info("weekly report: %s", made.html)

    def purge_evidence(self) -> None:
        store = EvidenceStore(
            self.settings.storage.data_dir, retention_days=self.settings.storage.evidence_days
        )
        logger.info("evidence purge: %d old bodies deleted", store.purge(_now()))

    def source_enabled(self, source_id: str, configured: bool) -> bool:
        return self.controls.is_enabled(source_id, configured)

    def incident_sources(self) -> set[str]:
        """Sources under continuous watch now: named ones, and for a watch-rule incident every
        enabled source (where the topic will spread next is not known in advance)."""
        wanted: set[str] = set()
        for watch in self.controls.watches(_now()):
            if watch.target_kind == "source":
                wanted.add(watch.target)
            else:
                wanted |= {s.id for s in self.settings.sources if s.enabled}
        return wanted

    def close(self) -> None:
        self.worker.close()
        self.urgent.close()
        self.index.close()
