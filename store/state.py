"""The state database: one SQLite file in the data folder for alerts, cases, their audit trail,
the webhook outbox and escalations; WAL, one connection per thread and process, migrations."""

from __future__ import annotations

import os
import sqlite3
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

FILE_NAME = "state.sqlite3"


class StateError(RuntimeError):
    """The state database cannot be used as it is (newer schema, unreadable file, ...)."""


@dataclass(frozen=True)
class Migration:
    """One schema step. To add tables, append a Migration with the next version; never edit a
    released one (databases in the field have already run it)."""

    version: int
    name: str
    sql: str


MIGRATIONS: list[Migration] = [
    Migration(
        1,
        "alerts, cases, audit trail, outbox, escalations",
        """
CREATE TABLE alerts (
    id TEXT PRIMARY KEY,
    rule TEXT NOT NULL,
    key TEXT NOT NULL,
    severity TEXT NOT NULL,
    detected_at TEXT NOT NULL,
    case_id INTEGER REFERENCES cases(id),
    kind TEXT NOT NULL DEFAULT 'case',
    body TEXT NOT NULL
);
CREATE INDEX alerts_identity ON alerts(rule, key, detected_at);

CREATE TABLE cases (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    rule TEXT NOT NULL,
    key TEXT NOT NULL,
    state TEXT NOT NULL,
    severity TEXT NOT NULL,
    title TEXT NOT NULL,
    unit TEXT,
    unit_name TEXT,
    liaison TEXT,
    assignee TEXT,
    detected_at TEXT NOT NULL,
    report_by TEXT NOT NULL,
    respond_by TEXT NOT NULL,
    occurrences INTEGER NOT NULL DEFAULT 1,
    last_seen_at TEXT NOT NULL,
    previous_case INTEGER REFERENCES cases(id),
    second_wave INTEGER NOT NULL DEFAULT 0,
    resolution TEXT,
    summary TEXT,
    reply TEXT,
    alert_id TEXT NOT NULL,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL,
    closed_at TEXT
);
CREATE INDEX cases_identity ON cases(rule, key, id);
CREATE INDEX cases_state ON cases(state);
-- At most one open case per event: the database enforces C1 even against a racing writer.
CREATE UNIQUE INDEX cases_one_open ON cases(rule, key)
    WHERE state IN ('new', 'acknowledged', 'in_progress', 'replied');

CREATE TABLE case_events (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    case_id INTEGER NOT NULL REFERENCES cases(id),
    at TEXT NOT NULL,
    kind TEXT NOT NULL,
    actor TEXT NOT NULL,
    detail TEXT NOT NULL DEFAULT '{}'
);
CREATE INDEX case_events_case ON case_events(case_id, id);
CREATE TRIGGER case_events_no_update BEFORE UPDATE ON case_events
BEGIN SELECT RAISE(ABORT, 'case_events is append-only'); END;
CREATE TRIGGER case_events_no_delete BEFORE DELETE ON case_events
BEGIN SELECT RAISE(ABORT, 'case_events is append-only'); END;

CREATE TABLE destinations (
    id TEXT PRIMARY KEY,
    disabled_at TEXT,
    disabled_reason TEXT,
    paused_until TEXT
);

CREATE TABLE deliveries (
    id TEXT PRIMARY KEY,
    destination TEXT NOT NULL,
    event TEXT NOT NULL,
    case_id INTEGER REFERENCES cases(id),
    alert_id TEXT,
    priority INTEGER NOT NULL,
    body TEXT NOT NULL,
    state TEXT NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 0,
    next_attempt_at TEXT NOT NULL,
    created_at TEXT NOT NULL,
    delivered_at TEXT,
    last_status INTEGER,
    last_error TEXT
);
CREATE INDEX deliveries_due ON deliveries(state, priority, next_attempt_at);
CREATE INDEX deliveries_destination ON deliveries(destination, state);

CREATE TABLE escalations (
    case_id INTEGER NOT NULL REFERENCES cases(id),
    step TEXT NOT NULL,
    at TEXT NOT NULL,
    due TEXT NOT NULL,
    PRIMARY KEY (case_id, step)
);
""",
    ),
    Migration(
        2,
        "alert rule engine: windows, counted posts, identities, aggregation, silences",
        """
CREATE TABLE engine_state (
    name TEXT PRIMARY KEY,
    value TEXT
);

CREATE TABLE rule_runs (
    rule TEXT NOT NULL,
    start TEXT NOT NULL,
    end TEXT NOT NULL,
    hits INTEGER NOT NULL,
    matches INTEGER NOT NULL,
    alerts INTEGER NOT NULL,
    duration_ms REAL NOT NULL,
    PRIMARY KEY (rule, start)
);
CREATE INDEX rule_runs_end ON rule_runs(rule, end);

-- Every post a rule counted, so a re-upsert or a repeated run never counts it again (R3).
CREATE TABLE rule_posts (
    rule TEXT NOT NULL,
    post_id TEXT NOT NULL,
    at TEXT NOT NULL,
    doc TEXT NOT NULL,
    PRIMARY KEY (rule, post_id)
);
CREATE INDEX rule_posts_at ON rule_posts(rule, at);

CREATE TABLE source_seen (
    source TEXT PRIMARY KEY,
    last_at TEXT NOT NULL
);

CREATE TABLE rule_identities (
    rule TEXT NOT NULL,
    key TEXT NOT NULL,
    last_sent_at TEXT NOT NULL,
    suppressed INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (rule, key)
);

-- Alerts waiting: for their aggregation window to close, or for quiet hours to end.
CREATE TABLE rule_pending (
    rule TEXT NOT NULL,
    key TEXT NOT NULL,
    reason TEXT NOT NULL,
    due_at TEXT NOT NULL,
    count INTEGER NOT NULL,
    alert TEXT NOT NULL,
    PRIMARY KEY (rule, key, reason)
);

CREATE TABLE silences (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    matchers TEXT NOT NULL,
    starts_at TEXT NOT NULL,
    ends_at TEXT NOT NULL,
    author TEXT NOT NULL,
    comment TEXT NOT NULL,
    created_at TEXT NOT NULL
);

CREATE TABLE alert_log (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    alert_id TEXT NOT NULL,
    rule TEXT NOT NULL,
    key TEXT NOT NULL,
    severity TEXT NOT NULL,
    at TEXT NOT NULL,
    outcome TEXT NOT NULL,
    title TEXT NOT NULL
);
CREATE INDEX alert_log_at ON alert_log(at);
""",
    ),
    Migration(
        3,
        "cases: special report (特报) deadline and when it was made; the reply extension",
        """
ALTER TABLE cases ADD COLUMN special_report_by TEXT;
ALTER TABLE cases ADD COLUMN special_report_at TEXT;
ALTER TABLE cases ADD COLUMN extended_at TEXT;
ALTER TABLE cases ADD COLUMN extension_reason TEXT;
""",
    ),
]


def _connect(path: Path) -> sqlite3.Connection:
    # isolation_level=None: we issue BEGIN IMMEDIATE ourselves, so a writer takes the lock up
    # front instead of failing half-way with "database is locked" on upgrade from a read.
    conn = sqlite3.connect(path, isolation_level=None, timeout=30.0, check_same_thread=True)
    conn.row_factory = sqlite3.Row
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=NORMAL")
    conn.execute("PRAGMA foreign_keys=ON")
    conn.execute("PRAGMA busy_timeout=30000")
    return conn


class StateDB:
    """The state database at ``path``; migrated on open. Safe to share between threads: each
    thread (and each forked process) gets its own connection."""

    def __init__(self, path: Path | str, migrations: list[Migration] | None = None) -> None:
        self.path = Path(path)
        self._migrations = sorted(migrations or MIGRATIONS, key=lambda m: m.version)
        self._local = threading.local()
        self._depth = threading.local()
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self.migrate()
        except sqlite3.DatabaseError as exc:
            raise StateError(f"cannot open the state database {self.path}: {exc}") from exc

    @classmethod
    def in_data_dir(cls, data_dir: Path | str) -> StateDB:
        return cls(Path(data_dir) / FILE_NAME)

    def connection(self) -> sqlite3.Connection:
        conn: sqlite3.Connection | None = getattr(self._local, "conn", None)
        # A connection must not cross a fork: the child opens its own.
        if conn is None or getattr(self._local, "pid", None) != os.getpid():
            conn = _connect(self.path)
            self._local.conn = conn
            self._local.pid = os.getpid()
        return conn

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """A write transaction; nested uses join the outer one, so callers compose."""
        conn = self.connection()
        depth: int = getattr(self._depth, "n", 0)
        if depth:
            self._depth.n = depth + 1
            try:
                yield conn
            finally:
                self._depth.n = depth
            return
        conn.execute("BEGIN IMMEDIATE")
        self._depth.n = 1
        try:
            yield conn
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        else:
            conn.execute("COMMIT")
        finally:
            self._depth.n = 0

    def schema_version(self) -> int:
        return int(self.connection().execute("PRAGMA user_version").fetchone()[0])

    @property
    def latest_version(self) -> int:
        return self._migrations[-1].version if self._migrations else 0

    def migrate(self) -> int:
        """Run the migrations this database has not seen yet; returns the new version."""
        with self.transaction() as conn:
            current = int(conn.execute("PRAGMA user_version").fetchone()[0])
            if current > self.latest_version:
                raise StateError(
                    f"{self.path} has schema version {current}, newer than this program's "
                    f"{self.latest_version}: upgrade yuqing, or point it at another data folder"
                )
            for migration in self._migrations:
                if migration.version <= current:
                    continue
                for statement in _statements(migration.sql):
                    conn.execute(statement)
                conn.execute(f"PRAGMA user_version = {int(migration.version)}")
                current = migration.version
        return current

    def close(self) -> None:
        """Close this thread's connection (others close when their thread ends)."""
        conn: sqlite3.Connection | None = getattr(self._local, "conn", None)
        if conn is not None and getattr(self._local, "pid", None) == os.getpid():
            conn.close()
        self._local.conn = None


def _statements(sql: str) -> Iterator[str]:
    """Split a migration into statements; executescript() would commit our transaction."""
    buffer = ""
    for line in sql.splitlines(keepends=True):
        if not buffer and line.strip().startswith("--"):
            continue
        buffer += line
        if sqlite3.complete_statement(buffer):
            yield buffer.strip()
            buffer = ""
    if buffer.strip():
        raise StateError(f"incomplete SQL statement in a migration: {buffer.strip()[:80]}")
