"""The patrol daemon's parts: jobs kept in the state database across a restart, the start-up sync
with the configuration, adaptive polling, one run per source at a time, failures recorded and
backed off, each source's time limit and the crawl worker's kill after it (issue 5 §1)."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import yaml
from apscheduler.jobstores.base import ConflictingIdError, JobLookupError
from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.triggers.interval import IntervalTrigger

from core.settings import Schedule, Settings, load_settings
from crawler.runner import SourceSummary, job_for
from service.cli import main
from service.crawl_worker import RUN_ERROR, crawl_in_child, kill_after
from service.jobstore import StateJobStore
from service.pace import PaceBook, next_interval
from service.patrol import Patrol
from service.patrol_status import scheduled_runs, status_lines
from store.patrol_log import PatrolLog
from store.state import StateDB
from tests.service.daemon_support import EVERYDAY, Forum, wait_for

NOW = datetime(2026, 11, 18, 2, 0, tzinfo=UTC)


def tick(path: str) -> None:
    """A job function by textual reference: one line per run."""
    with open(path, "a", encoding="utf-8") as f:
        f.write("run\n")


def _scheduler(db: StateDB) -> BackgroundScheduler:
    return BackgroundScheduler(
        timezone="Asia/Shanghai",
        jobstores={"default": StateJobStore(db)},
        job_defaults={"coalesce": True, "max_instances": 1, "misfire_grace_time": None},
    )


# ---------------------------------------------------------------- the job store


def test_the_job_store_keeps_the_contract_of_apscheduler_stores(tmp_path: Path) -> None:
    db = StateDB(tmp_path / "state.sqlite3")
    scheduler = _scheduler(db)
    scheduler.start(paused=True)
    try:
        later, sooner = NOW + timedelta(hours=2), NOW + timedelta(hours=1)
        scheduler.add_job(tick, "interval", minutes=5, args=["x"], id="b", next_run_time=later)
        scheduler.add_job(tick, "interval", minutes=5, args=["x"], id="a", next_run_time=sooner)
        store: StateJobStore = scheduler._lookup_jobstore("default")
        assert [j.id for j in store.get_all_jobs()] == ["a", "b"]  # by next run time
        assert store.get_next_run_time() == sooner
        assert [j.id for j in store.get_due_jobs(sooner)] == ["a"]
        job = store.lookup_job("a")
        assert job is not None and job.func is tick and job.args == ("x",)
        with pytest.raises(ConflictingIdError):
            store.add_job(job)
        scheduler.pause_job("a")  # a paused job has no next run and sorts last
        assert [j.id for j in store.get_all_jobs()] == ["b", "a"]
        assert store.get_next_run_time() == later
        scheduler.remove_job("a")
        with pytest.raises(JobLookupError):
            store.remove_job("a")
        assert store.lookup_job("a") is None
    finally:
        scheduler.shutdown(wait=False)


def test_a_restart_resumes_each_job_at_its_stored_next_run(tmp_path: Path) -> None:
    path = tmp_path / "state.sqlite3"
    first = _scheduler(StateDB(path))
    first.start(paused=True)
    when = datetime.now(UTC).replace(microsecond=0) + timedelta(hours=3)
    first.add_job(
        "tests.service.test_daemon:tick",  # a textual reference survives the restart
        IntervalTrigger(hours=6),
        args=[str(tmp_path / "runs")],
        id="job",
        next_run_time=when,
    )
    first.shutdown(wait=False)

    second = _scheduler(StateDB(path))  # a new process would open the file the same way
    second.start(paused=True)
    try:
        job = second.get_job("job")
        assert job is not None
        assert job.next_run_time == when
        assert job.func_ref == "tests.service.test_daemon:tick"
    finally:
        second.shutdown(wait=False)


def test_runs_missed_while_down_are_run_once_on_restart(tmp_path: Path) -> None:
    path, runs = tmp_path / "state.sqlite3", tmp_path / "runs"
    first = _scheduler(StateDB(path))
    first.start(paused=True)
    # Down for ten turns of a 10 s job: on restart it runs once, not ten times.
    first.add_job(
        "tests.service.test_daemon:tick",
        IntervalTrigger(seconds=10),
        args=[str(runs)],
        id="job",
        next_run_time=datetime.now(UTC) - timedelta(seconds=100),
    )
    first.shutdown(wait=False)

    second = _scheduler(StateDB(path))
    second.start()
    try:
        wait_for(lambda: runs.exists(), 30, 0.1, "the missed run")
        job = wait_for(
            lambda: (j := second.get_job("job")) and j.next_run_time > datetime.now(UTC) and j,
            30,
            0.1,
            "the next run to be in the future",
        )
        assert job.next_run_time > datetime.now(UTC)
    finally:
        second.shutdown(wait=True)
    assert runs.read_text().count("run") == 1


# ---------------------------------------------------------------- the start-up sync


def _config(tmp_path: Path, sources: dict[str, tuple[str, object]], **crawl: object) -> Settings:
    data = {
        "institution": {"name": "江州理工大学"},
        "allow_private_addresses": True,
        "storage": {"data_dir": str(tmp_path / "data")},
        "crawl": {"obey_robots": False, "retries": 0, "run_timeout": "2m", **crawl},
        "sources": [
            {"id": sid, "kind": "forum", "urls": [url], "profile": "discuz_x", "schedule": sched}
            for sid, (url, sched) in sources.items()
        ],
    }
    path = tmp_path / "institution.yaml"
    path.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    return load_settings(str(path))


def _noop(summary: SourceSummary) -> None:
    pass


def test_start_up_drops_left_sources_adds_new_ones_and_updates_changed_schedules(
    tmp_path: Path,
) -> None:
    url = "http://127.0.0.1:9/forum.php"
    settings = _config(
        tmp_path, {"kept": (url, "5m"), "changed": (url, "10m"), "gone": (url, "1h")}
    )
    patrol = Patrol(settings, str(tmp_path / "institution.yaml"), _noop)
    scheduler = _scheduler(patrol.state)
    scheduler.start(paused=True)
    patrol.sync(scheduler, None, NOW)
    later = NOW + timedelta(minutes=4)
    scheduler.modify_job("source:kept", next_run_time=later)
    scheduler.modify_job("source:changed", next_run_time=later)
    scheduler.shutdown(wait=False)

    settings = _config(tmp_path, {"kept": (url, "5m"), "changed": (url, "20m"), "new": (url, "1h")})
    patrol = Patrol(settings, str(tmp_path / "institution.yaml"), _noop)
    scheduler = _scheduler(patrol.state)
    scheduler.start(paused=True)
    try:
        restart = NOW + timedelta(minutes=1)
        patrol.sync(scheduler, None, restart)
        jobs = {j.id: j for j in scheduler.get_jobs()}
        assert set(jobs) == {"source:kept", "source:changed", "source:new"}
        assert jobs["source:kept"].next_run_time == later  # unchanged: resumes as it was
        assert jobs["source:changed"].next_run_time == restart  # a new schedule starts afresh
        assert jobs["source:changed"].trigger.interval == timedelta(minutes=20)
        assert jobs["source:new"].next_run_time == restart  # a new source is patrolled at once
        assert jobs["source:kept"].func_ref == "service.patrol:patrol_source"
        assert set(patrol.pace.all()) == {"kept", "changed", "new"}
    finally:
        scheduler.shutdown(wait=False)
    lines = status_lines(settings, patrol.state, restart)
    assert lines[0].startswith("source")
    assert any(line.startswith("changed") and "20m00s" in line for line in lines)


# ---------------------------------------------------------------- adaptive polling


def _summary(outcome: str = "finished", new: int = 0) -> SourceSummary:
    return SourceSummary(
        source="s", kind="forum", outcome=outcome, started=NOW, ended=NOW, new_posts=new
    )


@pytest.mark.parametrize(
    ("current", "outcome", "new", "expected"),
    [
        (600, "finished", 3, 300),  # new posts: twice as often
        (150, "finished", 3, 120),  # ... but never below min_interval
        (600, "finished", 0, 900),  # quiet: half again as long
        (3000, "finished", 0, 3600),  # ... but never above max_interval
        (600, "failed", 0, 1200),  # failing: exponential backoff
        (2400, "blocked", 0, 3600),  # ... up to max_interval
        (600, "skipped", 0, 900),  # waiting out a Retry-After counts as quiet
    ],
)
def test_polling_adapts_within_the_configured_bounds(
    current: float, outcome: str, new: int, expected: float
) -> None:
    schedule = Schedule(interval="10m", min_interval="2m", max_interval="1h")
    assert next_interval(schedule, current, _summary(outcome, new)) == expected


def test_without_bounds_polling_stays_at_the_interval() -> None:
    schedule = Schedule(interval="10m")
    for outcome, new in [("finished", 5), ("finished", 0), ("failed", 0)]:
        assert next_interval(schedule, 600, _summary(outcome, new)) == 600


def test_retry_after_pushes_the_next_run_later(tmp_path: Path) -> None:
    book = PaceBook(StateDB(tmp_path / "state.sqlite3"))
    schedule = Schedule(interval="10m", min_interval="2m", max_interval="1h")
    pace = book.record("s", schedule, _summary(new=4), NOW)
    assert pace.interval_s == 300 and pace.next_at == NOW + timedelta(minutes=5)
    wait = NOW + timedelta(minutes=30)  # the site said Retry-After: 1800
    pace = book.record("s", schedule, _summary("skipped"), NOW, not_before=wait)
    assert pace.next_at == wait and pace.interval_s == 450
    cron = Schedule(cron="0 8 * * *")
    assert book.record("c", cron, _summary(), NOW).next_at is None  # the cron line decides
    assert book.record("c", cron, _summary(), NOW, not_before=wait).next_at == wait


# ---------------------------------------------------------------- real crawls


@pytest.fixture
def forum() -> Iterator[Forum]:
    f = Forum(delay=1.0)
    f.post(EVERYDAY, "图书馆开放时间延长")
    yield f
    f.close()


def test_a_source_never_has_two_runs_at_once(tmp_path: Path, forum: Forum) -> None:
    settings = _config(tmp_path, {"bbs": (forum.url, "5m")})
    patrol = Patrol(settings, str(tmp_path / "institution.yaml"), _noop)
    (source,) = patrol.sources()
    results: list[list[SourceSummary]] = []
    first = threading.Thread(target=lambda: results.append(patrol.run_sources([source])))
    first.start()
    wait_for(lambda: forum.thread_requests, 240, 0.1, "the first crawl to be under way")
    # The incident watch (or a crawl-now) asks for the same source meanwhile: not started.
    assert patrol.run_sources([source]) == []
    first.join(120)
    assert [s.outcome for s in results[0]] == ["finished"]
    assert forum.thread_requests == 1  # the thread was fetched once, by the one run


def test_a_failing_source_backs_off_and_every_failure_is_recorded(tmp_path: Path) -> None:
    down = "http://127.0.0.1:9/forum.php"  # nothing listens on the discard port
    settings = _config(
        tmp_path, {"down": (down, {"interval": "10s", "min_interval": "10s", "max_interval": "1m"})}
    )
    patrol = Patrol(settings, str(tmp_path / "institution.yaml"), _noop)
    patrol.scheduled("down")
    assert patrol.pace.get("down").interval_s == 20  # type: ignore[union-attr]
    patrol.scheduled("down")
    pace = patrol.pace.get("down")
    assert pace is not None and pace.interval_s == 40 and pace.failures == 2
    log = PatrolLog(settings.storage.data_dir)
    try:
        patrols = log.patrols(source="down")
    finally:
        log.close()
    assert len(patrols) == 2 and all(p.errors and not p.pages for p in patrols)


def test_a_source_past_its_time_limit_stops_itself_and_the_next_run_works(
    tmp_path: Path, forum: Forum
) -> None:
    # The thread page hangs; the source stops at its 3 s limit once that download gives up
    # (crawl.timeout), long before the child would be killed, and says why.
    settings = _config(tmp_path, {"bbs": (forum.url, "5m")}, run_timeout="3s", timeout="4s")
    patrol = Patrol(settings, str(tmp_path / "institution.yaml"), _noop)
    (source,) = patrol.sources()
    forum.server.delay = 60
    (summary,) = patrol.run_sources([source])
    assert summary.outcome == "failed"
    assert "stopped at its time limit of 0:00:03" in summary.detail
    assert summary.pages == 1  # the thread list, fetched before the limit, is counted and kept
    forum.server.delay = 0
    settings = _config(tmp_path, {"bbs": (forum.url, "5m")}, run_timeout="2m")
    patrol = Patrol(settings, str(tmp_path / "institution.yaml"), _noop)
    (summary,) = patrol.run_sources([source])
    assert summary.outcome == "finished" and summary.new_posts == 1
    log = PatrolLog(settings.storage.data_dir)
    try:
        assert [p.outcome for p in log.patrols(source="bbs")] == ["failed", "finished"]
    finally:
        log.close()


def test_a_crawl_child_that_does_not_stop_at_its_time_limit_is_killed(
    tmp_path: Path, forum: Forum, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The job's own settings let the hanging download outlast the time the parent allows for
    # closing (the source's DOWNLOAD_TIMEOUT, 1 s, plus CLOSING): a stuck child, killed.
    monkeypatch.setattr("service.crawl_worker.CLOSING", timedelta(seconds=2))
    settings = _config(tmp_path, {"bbs": (forum.url, "5m")}, run_timeout="3s", timeout="1s")
    (source,) = settings.sources
    job = job_for(settings, [source]).model_copy(update={"settings": {"DOWNLOAD_TIMEOUT": 600}})
    assert kill_after(job, timedelta(seconds=3)) == timedelta(seconds=6)
    forum.server.delay = 60
    (summary,) = crawl_in_child(job, timedelta(seconds=3))
    assert summary.outcome == "failed" and RUN_ERROR in summary.errors
    assert summary.detail == "killed: still running 0:00:03 after its time limit of 0:00:03"


def test_patrol_status_prints_the_schedule(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    url = "http://127.0.0.1:9/forum.php"
    settings = _config(tmp_path, {"bbs": (url, {"interval": "10m", "max_interval": "1h"})})
    config = str(tmp_path / "institution.yaml")
    assert main(["--config", config, "patrol", "--status"]) == 0
    assert "has not run" in capsys.readouterr().out
    patrol = Patrol(settings, config, _noop)
    scheduler = _scheduler(patrol.state)
    scheduler.start(paused=True)
    patrol.sync(scheduler, None, NOW)
    scheduler.shutdown(wait=False)
    patrol.pace.record("bbs", settings.sources[0].schedule, _summary(), NOW)
    assert scheduled_runs(patrol.state)["source:bbs"] == NOW
    assert main(["--config", config, "patrol", "--status"]) == 0
    out = capsys.readouterr().out
    assert "bbs" in out and "15m00s" in out and "LATE" in out  # due since NOW, long ago
