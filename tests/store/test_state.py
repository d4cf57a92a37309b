"""The state database: WAL, migrations, one connection per thread, append-only audit trail."""

from __future__ import annotations

import sqlite3
import threading
from pathlib import Path

import pytest

from store.state import MIGRATIONS, Migration, StateDB, StateError


def test_fresh_database_is_migrated_and_in_wal_mode(tmp_path: Path) -> None:
    db = StateDB.in_data_dir(tmp_path / "data")
    assert db.schema_version() == MIGRATIONS[-1].version
    assert db.connection().execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    tables = {r[0] for r in db.connection().execute("SELECT name FROM sqlite_master")}
    assert {"alerts", "cases", "case_events", "deliveries", "destinations", "escalations"} <= tables


def test_a_later_migration_runs_once_on_an_existing_database(tmp_path: Path) -> None:
    path = tmp_path / "state.sqlite3"
    StateDB(path).close()
    extra = Migration(
        MIGRATIONS[-1].version + 1,
        "rule windows",
        "CREATE TABLE rule_windows (rule TEXT PRIMARY KEY, until TEXT NOT NULL);",
    )
    db = StateDB(path, [*MIGRATIONS, extra])
    assert db.schema_version() == extra.version
    db.connection().execute("INSERT INTO rule_windows VALUES ('r', 'x')")
    # Opening again does not re-run it (it would fail: the table exists).
    assert StateDB(path, [*MIGRATIONS, extra]).schema_version() == extra.version


def test_a_failing_migration_leaves_the_database_as_it_was(tmp_path: Path) -> None:
    path = tmp_path / "state.sqlite3"
    StateDB(path).close()
    broken = Migration(
        MIGRATIONS[-1].version + 1,
        "broken",
        "CREATE TABLE t1 (a INTEGER);\nCREATE TABLE t1 (a INTEGER);",
    )
    with pytest.raises(StateError, match="already exists"):
        StateDB(path, [*MIGRATIONS, broken])
    db = StateDB(path)
    assert db.schema_version() == MIGRATIONS[-1].version
    names = {r[0] for r in db.connection().execute("SELECT name FROM sqlite_master")}
    assert "t1" not in names


def test_a_newer_database_is_refused_with_advice(tmp_path: Path) -> None:
    path = tmp_path / "state.sqlite3"
    conn = sqlite3.connect(path)
    conn.execute("PRAGMA user_version = 999")
    conn.close()
    with pytest.raises(StateError, match="newer than this program"):
        StateDB(path)


def test_a_file_that_is_not_a_database_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "state.sqlite3"
    path.write_bytes(b"this is not sqlite" * 100)
    with pytest.raises(StateError, match="cannot open the state database"):
        StateDB(path)


def test_each_thread_gets_its_own_connection(tmp_path: Path) -> None:
    db = StateDB.in_data_dir(tmp_path)
    seen: list[int] = []

    def grab() -> None:
        seen.append(id(db.connection()))
        db.close()

    worker = threading.Thread(target=grab)
    worker.start()
    worker.join()
    assert seen[0] != id(db.connection())
    assert db.connection() is db.connection()


def test_transactions_roll_back_and_nest(tmp_path: Path) -> None:
    db = StateDB.in_data_dir(tmp_path)
    with pytest.raises(RuntimeError), db.transaction() as conn:
        conn.execute("INSERT INTO destinations (id) VALUES ('a')")
        with db.transaction() as inner:
            inner.execute("INSERT INTO destinations (id) VALUES ('b')")
        raise RuntimeError("boom")
    assert db.connection().execute("SELECT COUNT(*) FROM destinations").fetchone()[0] == 0
    with db.transaction() as conn:
        conn.execute("INSERT INTO destinations (id) VALUES ('a')")
    assert db.connection().execute("SELECT COUNT(*) FROM destinations").fetchone()[0] == 1


def test_audit_trail_is_append_only(tmp_path: Path) -> None:
    db = StateDB.in_data_dir(tmp_path)
    with db.transaction() as conn:
        conn.execute(
            "INSERT INTO cases (rule, key, state, severity, title, detected_at, report_by, "
            "respond_by, last_seen_at, alert_id, created_at, updated_at) VALUES "
            "('r', 'k', 'new', 'general', 't', 'x', 'x', 'x', 'x', 'a', 'x', 'x')"
        )
        conn.execute(
            "INSERT INTO case_events (case_id, at, kind, actor) VALUES (1, 'x', 'opened', 'system')"
        )
    conn = db.connection()
    with pytest.raises(sqlite3.IntegrityError, match="append-only"):
        conn.execute("UPDATE case_events SET kind = 'forged'")
    with pytest.raises(sqlite3.IntegrityError, match="append-only"):
        conn.execute("DELETE FROM case_events")
    assert conn.execute("SELECT kind FROM case_events").fetchall()[0][0] == "opened"
