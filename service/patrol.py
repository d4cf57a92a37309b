"""The patrol: every enabled source on its own schedule, each crawl in a child process with a
time limit. The scheduler only triggers; the crawl itself is crawler.runner's."""

from __future__ import annotations

import json
import logging
import signal
import subprocess
import sys
import tempfile
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from types import FrameType
from typing import TYPE_CHECKING, Any

from apscheduler.schedulers.blocking import BlockingScheduler
from apscheduler.triggers.cron import CronTrigger
from apscheduler.triggers.interval import IntervalTrigger

from core.post import utcnow
from core.settings import Settings, Source
from core.settings_loader import config_path
from crawler.runner import CrawlJob, SourceSummary, job_for

if TYPE_CHECKING:
    from service.duties import Duties

logger = logging.getLogger("yuqing.patrol")

Report = Callable[[SourceSummary], None]


def trigger_for(source: Source, tz: str) -> IntervalTrigger | CronTrigger:
    schedule = source.schedule
    if schedule.cron:
        return CronTrigger.from_crontab(schedule.cron, timezone=tz)
    assert schedule.interval is not None  # the settings insist on one of the two
    return IntervalTrigger(seconds=int(schedule.interval.total_seconds()), timezone=tz)


def _logged(func: Callable[[], object], name: str) -> Callable[[], None]:
    """A duty that fails is logged and tried at its next turn; it never stops the daemon."""

    def run() -> None:
        try:
            func()
        except Exception:
            logger.exception("%s failed; trying again at its next turn", name)

    return run


def crawl_in_child(job: CrawlJob, timeout: timedelta) -> list[SourceSummary]:
    """Run ``job`` in a fresh interpreter (Scrapy's reactor cannot restart in one process);
    a crawl that overruns its time limit is stopped and reported as failed."""
    with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False, encoding="utf-8") as f:
        f.write(job.model_dump_json())
        path = Path(f.name)
    try:
        done = subprocess.run(
            [sys.executable, "-m", "crawler.runner", str(path)],
            capture_output=True,
            text=True,
            timeout=timeout.total_seconds(),
            check=False,
        )
    except subprocess.TimeoutExpired:
        return [_failed(s, f"stopped after its time limit of {timeout}") for s in job.sources]
    finally:
        path.unlink(missing_ok=True)
    last = done.stdout.strip().splitlines()[-1:] if done.stdout.strip() else []
    try:
        data: dict[str, Any] = json.loads(last[0]) if last else {}
        return [SourceSummary.model_validate(s) for s in data["sources"]]
    except (ValueError, KeyError, TypeError):
        detail = (done.stderr.strip().splitlines() or ["no output"])[-1]
        return [
            _failed(s, f"the crawl process ended with {done.returncode}: {detail}")
            for s in job.sources
        ]


def _failed(source: Source, detail: str) -> SourceSummary:
    now = utcnow()
    return SourceSummary(
        source=source.id,
        kind=source.kind.value,
        outcome="failed",
        started=now,
        ended=now,
        detail=detail,
    )


class Patrol:
    def __init__(self, settings: Settings, config: str | None, report: Report) -> None:
        self.settings = settings
        self.config = config
        self.report = report
        self.duties: Duties | None = None

    def incidents(self) -> None:
        """Crawl the sources under incident watch (7x24 during an event, DOMAIN.md §1)."""
        if self.duties is None:
            return
        wanted = self.duties.incident_sources()
        sources = [s for s in self.settings.sources if s.id in wanted]
        if sources:
            self.run_sources(sources)

    def sources(self) -> list[Source]:
        return [s for s in self.settings.sources if s.enabled]

    def run_sources(self, sources: list[Source]) -> list[SourceSummary]:
        if self.duties is not None:  # switched off from the API since the daemon started
            sources = [s for s in sources if self.duties.source_enabled(s.id, s.enabled)]
            if not sources:
                return []
        job = job_for(self.settings, sources, config=str(config_path(self.config).resolve()))
        summaries = crawl_in_child(job, self.settings.crawl.run_timeout)
        for summary in summaries:
            self.report(summary)
        return summaries

    def once(self) -> list[SourceSummary]:
        return self.run_sources(self.sources())

    def forever(self, duties: Duties | None = None) -> None:
        """Patrol until stopped; with ``duties``, also evaluate alert rules every minute, send
        webhooks, chase due cases, make the daily and weekly reports and purge old evidence."""
        self.duties = duties
        settings = self.settings
        tz = settings.timezone
        scheduler = BlockingScheduler(timezone=tz)
        for source in self.sources():
            scheduler.add_job(
                self.run_sources,
                trigger_for(source, tz),
                args=[[source]],
                id=source.id,
                name=f"patrol {source.id}",
                max_instances=1,  # a source never has two crawls at once
                coalesce=True,  # after a pause, one catch-up run, not a burst
                misfire_grace_time=None,
                next_run_time=utcnow(),  # the first patrol starts at once
            )
        if duties is not None:
            every = {"max_instances": 1, "coalesce": True, "misfire_grace_time": None}
            incident = int(settings.crawl.incident_interval.total_seconds())
            alert_every = max(1, int(duties.engine.interval.total_seconds()))
            reports = settings.reports
            weekday = str(reports.weekly_day)[:3].lower()
            jobs: list[tuple[Callable[[], object], Any, str]] = [
                (duties.alerts, IntervalTrigger(seconds=alert_every, timezone=tz), "alert rules"),
                (duties.deliver, IntervalTrigger(seconds=10, timezone=tz), "webhooks"),
                (duties.escalate, IntervalTrigger(minutes=5, timezone=tz), "督办"),
                (
                    self.incidents,
                    IntervalTrigger(seconds=max(30, incident), timezone=tz),
                    "incident watch",
                ),
                (
                    duties.daily_report,
                    CronTrigger(
                        hour=reports.daily_at.hour, minute=reports.daily_at.minute, timezone=tz
                    ),
                    "daily report",
                ),
                (
                    duties.weekly_report,
                    CronTrigger(
                        day_of_week=weekday,
                        hour=reports.weekly_at.hour,
                        minute=reports.weekly_at.minute,
                        timezone=tz,
                    ),
                    "weekly report",
                ),
                (
                    duties.purge_evidence,
                    CronTrigger(hour=3, minute=17, timezone=tz),
                    "evidence purge",
                ),
            ]
            for func, trigger, name in jobs:
                scheduler.add_job(_logged(func, name), trigger, id=name, name=name, **every)

        def stop(signum: int, frame: FrameType | None) -> None:
            if not scheduler.running:  # a second Ctrl-C while the crawls finish
                return
            logger.info("stopping: the running crawls finish first")
            scheduler.shutdown(wait=True)

        signal.signal(signal.SIGTERM, stop)
        signal.signal(signal.SIGINT, stop)
        scheduler.start()
