"""The patrol: every enabled source on its own (adaptive) schedule, each crawl in a child process
with a time limit, the jobs kept in the state database so a restart resumes where it stopped.
The scheduler only triggers; the crawl is crawler.runner's, the duties are service/duties.py's."""

from __future__ import annotations

import logging
import signal
import threading
from collections.abc import Callable
from datetime import datetime
from types import FrameType
from typing import TYPE_CHECKING, Any

from apscheduler.executors.pool import ThreadPoolExecutor
from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.triggers.cron import CronTrigger
from apscheduler.triggers.interval import IntervalTrigger

from core.post import utcnow
from core.settings import Settings, Source
from core.settings_loader import config_path
from crawler.runner import SourceSummary, job_for
from service.crawl_worker import RUN_ERROR, crawl_in_child, warm
from service.jobstore import StateJobStore
from service.pace import PaceBook, signature
from service.patrol_status import SOURCE_JOB
from store.crawl_state import CrawlState
from store.patrol_log import Patrol as PatrolRecord
from store.patrol_log import PatrolLog
from store.state import StateDB

if TYPE_CHECKING:
    from service.duties import Duties

logger = logging.getLogger("yuqing.patrol")

Report = Callable[[SourceSummary], None]

DUTY_JOB = "duty:"  # job ids: duty:<name> for a duty, source:<id> (SOURCE_JOB) for a source

# The running daemon's Patrol. Jobs in the store name module-level functions (a textual
# reference survives a restart; a bound method would not), and these find the Patrol here.
_running: Patrol | None = None


def patrol_source(source_id: str) -> None:
    """A scheduled patrol of one source (the job's function, by reference)."""
    patrol = _running
    if patrol is not None and patrol.enter():
        try:
            patrol.scheduled(source_id)
        finally:
            patrol.leave()


def run_duty(name: str) -> None:
    """A scheduled duty (alert rules, webhooks, reports ...), by reference."""
    patrol = _running
    if patrol is not None and patrol.enter():
        try:
            patrol.duty(name)
        finally:
            patrol.leave()


def trigger_for(
    source: Source, tz: str, seconds: float | None = None
) -> IntervalTrigger | CronTrigger:
    schedule = source.schedule
    if schedule.cron:
        return CronTrigger.from_crontab(schedule.cron, timezone=tz)
    assert schedule.interval is not None  # the settings insist on one of the two
    return IntervalTrigger(seconds=int(seconds or schedule.interval.total_seconds()), timezone=tz)


class Patrol:
    def __init__(self, settings: Settings, config: str | None, report: Report) -> None:
        self.settings = settings
        self.config = config
        self.report = report
        self.duties: Duties | None = None
        self.scheduler: BackgroundScheduler | None = None
        self.stopping = threading.Event()
        self._active = 0  # job functions running now; stopping waits for them
        self._idle = threading.Condition()
        self._signalled = threading.Event()
        self._busy: set[str] = set()
        self._busy_lock = threading.Lock()
        self._duties: dict[str, Callable[[], object]] = {}
        self._duty_locks: dict[str, threading.Lock] = {}
        self._state: StateDB | None = None
        self._pace: PaceBook | None = None

    @property
    def state(self) -> StateDB:
        if self._state is None:
            self._state = StateDB.in_data_dir(self.settings.storage.data_dir)
        return self._state

    @property
    def pace(self) -> PaceBook:
        if self._pace is None:
            self._pace = PaceBook(self.state)
        return self._pace

    def sources(self) -> list[Source]:
        return [s for s in self.settings.sources if s.enabled]

    # -- crawling -------------------------------------------------------------------------------

    def run_sources(self, sources: list[Source]) -> list[SourceSummary]:
        """Crawl ``sources`` in one child; a source already being crawled (by its schedule or
        an incident watch) is left out, so a source never has two runs at once."""
        if self.duties is not None:  # switched off from the API since the daemon started
            sources = [s for s in sources if self.duties.source_enabled(s.id, s.enabled)]
        with self._busy_lock:
            busy = [s.id for s in sources if s.id in self._busy]
            sources = [s for s in sources if s.id not in self._busy]
            self._busy.update(s.id for s in sources)
        if busy:
            logger.info("already being crawled, not started again: %s", ", ".join(busy))
        if not sources:
            return []
        try:
            config = str(config_path(self.config).resolve())
            job = job_for(self.settings, sources, config=config)
            warm(config, job.dictionary_words)  # before the fork server's first start only
            summaries = crawl_in_child(job, self.settings.crawl.run_timeout)
        finally:
            with self._busy_lock:
                self._busy.difference_update(s.id for s in sources)
        for summary in summaries:
            if RUN_ERROR in summary.errors:  # made here, not by the crawl
                self._record_failure(summary)
            self.report(summary)
        return summaries

    def _record_failure(self, summary: SourceSummary) -> None:
        """A crawl child that was killed or died wrote no patrol-log row: write it here."""
        log = PatrolLog(self.settings.storage.data_dir)
        try:
            log.record(
                PatrolRecord(
                    summary.source,
                    summary.started,
                    summary.ended,
                    errors=summary.errors,
                    outcome="failed",
                )
            )
        finally:
            log.close()

    def once(self) -> list[SourceSummary]:
        return self.run_sources(self.sources())

    def incidents(self) -> None:
        """Crawl the sources under incident watch (7x24 during an event, DOMAIN.md §1)."""
        if self.duties is None:
            return
        wanted = self.duties.incident_sources()
        sources = [s for s in self.settings.sources if s.id in wanted]
        if sources:
            self.react(self.run_sources(sources))

    def scheduled(self, source_id: str) -> None:
        """One scheduled run, then the next run time adapted to what it found."""
        source = next((s for s in self.settings.sources if s.id == source_id), None)
        if source is None or self.stopping.is_set():
            return
        summaries = self.run_sources([source])
        if summaries:
            self.adapt(source, summaries[0])
            self.react(summaries)

    def adapt(self, source: Source, summary: SourceSummary) -> None:
        now = utcnow()
        state = CrawlState(self.settings.storage.data_dir)
        try:
            wait = state.wait(source.id)
        finally:
            state.close()
        not_before = wait.not_before if wait and wait.not_before > now else None
        pace = self.pace.record(source.id, source.schedule, summary, now, not_before)
        scheduler = self.scheduler
        if scheduler is None or pace.next_at is None:
            return
        tz = self.settings.timezone
        changes: dict[str, Any] = {"next_run_time": pace.next_at}
        if pace.interval_s is not None:
            changes["trigger"] = trigger_for(source, tz, pace.interval_s)
        elif not_before is None:
            return  # cron: the line decides
        else:
            trigger = trigger_for(source, tz)
            changes["next_run_time"] = trigger.get_next_fire_time(None, not_before)
        try:
            scheduler.modify_job(SOURCE_JOB + source.id, **changes)
        except Exception:  # the job was removed while it ran (shutdown): nothing to adapt
            logger.debug("no job to adapt for %s", source.id, exc_info=True)

    def duty(self, name: str) -> None:
        func = self._duties.get(name)
        if func is None:
            logger.warning("no duty %r in this version; its job is dropped at the next start", name)
            return
        # One run of a duty at a time, whether the scheduler or a crawl's reaction started it.
        with self._duty_locks.setdefault(name, threading.Lock()):
            try:
                func()
            except Exception:  # a duty that fails is logged and tried at its next turn
                logger.exception("%s failed; trying again at its next turn", name)

    def react(self, summaries: list[SourceSummary]) -> None:
        """New posts: evaluate the alert rules and send what they raise now, not at their next
        turn (detection latency is the poll interval plus this, not plus a minute)."""
        if self.duties is not None and any(s.new_posts for s in summaries):
            self.duty("alert rules")
            self.duty("webhooks")

    # -- the daemon -----------------------------------------------------------------------------

    def enter(self) -> bool:
        """A job starts, unless the daemon is stopping (then it leaves its run for next time)."""
        with self._idle:
            if self.stopping.is_set():
                return False
            self._active += 1
            return True

    def leave(self) -> None:
        with self._idle:
            self._active -= 1
            self._idle.notify_all()

    def duty_triggers(self, duties: Duties) -> dict[str, tuple[Callable[[], object], Any]]:
        settings = self.settings
        tz = settings.timezone
        incident = int(settings.crawl.incident_interval.total_seconds())
        alert_every = max(1, int(duties.engine.interval.total_seconds()))
        reports = settings.reports
        weekday = str(reports.weekly_day)[:3].lower()
        daily = CronTrigger(hour=reports.daily_at.hour, minute=reports.daily_at.minute, timezone=tz)
        weekly = CronTrigger(
            day_of_week=weekday,
            hour=reports.weekly_at.hour,
            minute=reports.weekly_at.minute,
            timezone=tz,
        )
        return {
            "alert rules": (duties.alerts, IntervalTrigger(seconds=alert_every, timezone=tz)),
            "webhooks": (duties.deliver, IntervalTrigger(seconds=10, timezone=tz)),
            "urgent webhooks": (duties.deliver_urgent, IntervalTrigger(seconds=3, timezone=tz)),
            "督办": (duties.escalate, IntervalTrigger(minutes=5, timezone=tz)),
            "incident watch": (
                self.incidents,
                IntervalTrigger(seconds=max(30, incident), timezone=tz),
            ),
            "daily report": (duties.daily_report, daily),
            "weekly report": (duties.weekly_report, weekly),
            "evidence purge": (duties.purge_evidence, CronTrigger(hour=3, minute=17, timezone=tz)),
        }

    def attach(self, duties: Duties) -> dict[str, tuple[Callable[[], object], Any]]:
        """Run ``duties`` beside the crawls; returns each duty with its trigger."""
        self.duties = duties
        triggers = self.duty_triggers(duties)
        self._duties.update({name: func for name, (func, _) in triggers.items()})
        return triggers

    def sync(self, scheduler: BackgroundScheduler, duties: Duties | None, now: datetime) -> None:
        """Make the stored jobs match the configuration: sources that left it are dropped, new
        ones start at once, a changed schedule starts afresh; the rest keep their next run."""
        tz = self.settings.timezone
        existing = {job.id: job for job in scheduler.get_jobs()}
        wanted: set[str] = set()
        paces = self.pace.all()
        for source in self.sources():
            job_id = SOURCE_JOB + source.id
            wanted.add(job_id)
            pace = paces.get(source.id)
            if job_id in existing and pace and pace.schedule == signature(source.schedule):
                continue
            self.pace.reset(source.id, source.schedule, now)
            scheduler.add_job(
                "service.patrol:patrol_source",
                trigger_for(source, tz),
                args=[source.id],
                id=job_id,
                name=f"patrol {source.id}",
                replace_existing=True,
                next_run_time=now,  # a new source's first patrol starts at once
            )
        if duties is not None:
            for name, (_, trigger) in self.attach(duties).items():
                job_id = DUTY_JOB + name
                wanted.add(job_id)
                old = existing.get(job_id)
                if old is not None and str(old.trigger) == str(trigger):
                    continue
                scheduler.add_job(
                    "service.patrol:run_duty",
                    trigger,
                    args=[name],
                    id=job_id,
                    name=name,
                    replace_existing=True,
                )
        for job_id in set(existing) - wanted:
            scheduler.remove_job(job_id)
            if job_id.startswith(SOURCE_JOB):
                self.pace.forget(job_id.removeprefix(SOURCE_JOB))
                logger.info("source %s left the configuration: its patrol is removed", job_id)

    def forever(self, duties: Duties | None = None) -> None:
        """Patrol until SIGTERM or Ctrl-C; with ``duties``, also evaluate alert rules, send
        webhooks, chase due cases, make the daily and weekly reports and purge old evidence.
        Stopping lets the running crawls finish; their next runs stay in the state database."""
        global _running
        self.duties = duties
        scheduler = BackgroundScheduler(
            timezone=self.settings.timezone,
            jobstores={"default": StateJobStore(self.state)},
            executors={"default": ThreadPoolExecutor(max(8, len(self.sources()) + 8))},
            job_defaults={
                "max_instances": 1,  # a source never has two crawls at once
                "coalesce": True,  # after a pause or a restart, one catch-up run, not a burst
                "misfire_grace_time": None,  # however late: a missed patrol still runs
            },
        )
        self.scheduler = scheduler
        _running = self
        scheduler.start(paused=True)
        self.sync(scheduler, duties, utcnow())
        previous = {
            signum: signal.signal(signum, self._stop) for signum in (signal.SIGTERM, signal.SIGINT)
        }
        scheduler.resume()
        try:
            while not self._signalled.wait(1.0):
                pass
        finally:
            logger.info("stopping: the running crawls finish first")
            with self._idle:
                self.stopping.set()
            scheduler.pause()
            # The running jobs finish (a crawl, its next run time adapted) while the scheduler
            # still answers them: shutdown() holds the job-store lock as it waits, which a job
            # that reschedules itself would need.
            with self._idle:
                self._idle.wait_for(lambda: self._active == 0)
            scheduler.shutdown(wait=True)
            for signum, handler in previous.items():
                signal.signal(signum, handler)
            _running = None
            self.scheduler = None

    def stop(self) -> None:
        """Stop ``forever`` as SIGTERM does (from another thread)."""
        self._signalled.set()

    def _stop(self, signum: int, frame: FrameType | None) -> None:
        # Only wakes the main loop (taking a lock in a signal handler could deadlock); a second
        # Ctrl-C while the crawls finish changes nothing.
        self._signalled.set()
