"""Opening the project's small SQLite files the same way everywhere: WAL, so that crawl
processes, the daemon and the CLI can share one file, and autocommit unless a transaction says
otherwise."""

from __future__ import annotations

import sqlite3
from pathlib import Path


def connect(path: Path, *, schema: str = "", check_same_thread: bool = True) -> sqlite3.Connection:
    db = sqlite3.connect(
        path, timeout=30, isolation_level=None, check_same_thread=check_same_thread
    )
    db.execute("PRAGMA journal_mode=WAL")
    # WAL with synchronous=NORMAL: a commit is not an fsync; a power cut loses at most the last
    # commits, never the database.
    db.execute("PRAGMA synchronous=NORMAL")
    if schema:
        db.executescript(schema)
    return db
