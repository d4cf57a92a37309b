"""APScheduler's jobs kept in the state database (one SQLite file in the data folder), so a
restarted daemon resumes each job at the run time it had: nothing skipped, nothing repeated."""

from __future__ import annotations

import logging
import pickle
from datetime import datetime
from typing import Any

from apscheduler.job import Job
from apscheduler.jobstores.base import BaseJobStore, ConflictingIdError, JobLookupError
from apscheduler.util import datetime_to_utc_timestamp, utc_timestamp_to_datetime

from store.state import StateDB

logger = logging.getLogger("yuqing.jobstore")

# Beside the migrated tables, like service/controls.py: IF NOT EXISTS keeps creating it
# idempotent and leaves the schema version to the alert engine.
_SCHEMA = """CREATE TABLE IF NOT EXISTS scheduler_jobs (
    id TEXT PRIMARY KEY, next_run_time REAL, job_state BLOB NOT NULL)"""
_INDEX = "CREATE INDEX IF NOT EXISTS scheduler_jobs_next ON scheduler_jobs(next_run_time)"


class StateJobStore(BaseJobStore):  # type: ignore[misc]  # APScheduler 3 ships no type hints
    """The contract of APScheduler 3's SQLAlchemyJobStore on our StateDB: each job's pickled
    state (its function by textual reference, trigger, arguments) and its next run time as a
    UTC timestamp (NULL while paused)."""

    def __init__(self, db: StateDB) -> None:
        super().__init__()
        self.db = db
        self.closed = False
        with db.transaction() as conn:
            conn.execute(_SCHEMA)
            conn.execute(_INDEX)

    def lookup_job(self, job_id: str) -> Job | None:
        row = (
            self.db.connection()
            .execute("SELECT job_state FROM scheduler_jobs WHERE id = ?", (job_id,))
            .fetchone()
        )
        return self._job(row[0]) if row else None

    def get_due_jobs(self, now: datetime) -> list[Job]:
        if self.closed:
            # APScheduler's thread makes one more pass after shutdown; it would advance the due
            # jobs' next run times without running them, and a restart would skip those runs.
            return []
        return self._jobs(
            "WHERE next_run_time IS NOT NULL AND next_run_time <= ?",
            (datetime_to_utc_timestamp(now),),
        )

    def get_next_run_time(self) -> datetime | None:
        row = (
            self.db.connection()
            .execute(
                "SELECT MIN(next_run_time) FROM scheduler_jobs WHERE next_run_time IS NOT NULL"
            )
            .fetchone()
        )
        value: datetime | None = utc_timestamp_to_datetime(row[0]) if row else None
        return value

    def get_all_jobs(self) -> list[Job]:
        jobs = self._jobs("", ())
        self._fix_paused_jobs_sorting(jobs)
        return jobs

    def add_job(self, job: Job) -> None:
        with self.db.transaction() as conn:
            if conn.execute("SELECT 1 FROM scheduler_jobs WHERE id = ?", (job.id,)).fetchone():
                raise ConflictingIdError(job.id)
            conn.execute(
                "INSERT INTO scheduler_jobs (id, next_run_time, job_state) VALUES (?, ?, ?)",
                (job.id, datetime_to_utc_timestamp(job.next_run_time), _pickled(job)),
            )

    def update_job(self, job: Job) -> None:
        with self.db.transaction() as conn:
            cur = conn.execute(
                "UPDATE scheduler_jobs SET next_run_time = ?, job_state = ? WHERE id = ?",
                (datetime_to_utc_timestamp(job.next_run_time), _pickled(job), job.id),
            )
            if cur.rowcount == 0:
                raise JobLookupError(job.id)

    def remove_job(self, job_id: str) -> None:
        with self.db.transaction() as conn:
            cur = conn.execute("DELETE FROM scheduler_jobs WHERE id = ?", (job_id,))
            if cur.rowcount == 0:
                raise JobLookupError(job_id)

    def remove_all_jobs(self) -> None:
        with self.db.transaction() as conn:
            conn.execute("DELETE FROM scheduler_jobs")

    def shutdown(self) -> None:
        self.closed = True
        self.db.close()

    def _job(self, state: bytes) -> Job:
        values: dict[str, Any] = pickle.loads(state)
        values["jobstore"] = self
        job = Job.__new__(Job)
        job.__setstate__(values)
        job._scheduler = self._scheduler
        job._jobstore_alias = self._alias
        return job

    def _jobs(self, where: str, params: tuple[Any, ...]) -> list[Job]:
        rows = (
            self.db.connection()
            .execute(
                f"SELECT id, job_state FROM scheduler_jobs {where} ORDER BY next_run_time", params
            )
            .fetchall()
        )
        jobs: list[Job] = []
        broken: list[str] = []
        for job_id, state in rows:
            try:
                jobs.append(self._job(state))
            except Exception:  # a job whose function moved away: dropped, as APScheduler does
                logger.exception("cannot restore the scheduled job %r; removing it", job_id)
                broken.append(job_id)
        if broken:
            with self.db.transaction() as conn:
                conn.executemany("DELETE FROM scheduler_jobs WHERE id = ?", [(b,) for b in broken])
        return jobs

    def __repr__(self) -> str:
        return f"<StateJobStore {self.db.path}>"


def _pickled(job: Job) -> bytes:
    return pickle.dumps(job.__getstate__(), pickle.HIGHEST_PROTOCOL)
