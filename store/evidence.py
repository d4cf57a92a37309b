"""Evidence (证据留存, DOMAIN.md §6): raw page bodies kept gzip-compressed and content-addressed by
sha256 under <data_dir>/evidence/, with URL, fetch time, status and headers in SQLite."""

from __future__ import annotations

import gzip
import hashlib
import json
import os
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from store import wal

_SCHEMA = """
CREATE TABLE IF NOT EXISTS fetches (
    sha256 TEXT NOT NULL, url TEXT NOT NULL, fetched TEXT NOT NULL, status INTEGER NOT NULL,
    headers TEXT NOT NULL, size INTEGER NOT NULL, PRIMARY KEY (sha256, url, fetched));
CREATE INDEX IF NOT EXISTS fetches_fetched ON fetches (fetched);
"""

DEFAULT_RETENTION_DAYS = 180


class EvidenceMissing(LookupError):
    """No evidence with that hash (never stored, or purged after its retention)."""


@dataclass(frozen=True)
class Fetch:
    """One fetch of a page whose body is stored under ``sha256``."""

    sha256: str
    url: str
    fetched: datetime
    status: int
    headers: dict[str, str]
    size: int


class EvidenceStore:
    def __init__(self, data_dir: Path, *, retention_days: int = DEFAULT_RETENTION_DAYS) -> None:
        if retention_days < 1:
            raise ValueError(f"evidence retention must be at least 1 day, not {retention_days}")
        self.root = data_dir / "evidence"
        self.root.mkdir(parents=True, exist_ok=True)
        self.retention = timedelta(days=retention_days)
        self._db = wal.connect(self.root / "evidence.db", schema=_SCHEMA)

    def close(self) -> None:
        self._db.close()

    def _file(self, sha: str) -> Path:
        return self.root / sha[:2] / f"{sha}.gz"

    def put(
        self,
        url: str,
        body: bytes,
        *,
        status: int = 200,
        headers: Mapping[str, str] | None = None,
        fetched: datetime | None = None,
    ) -> str:
        """Keep ``body`` as fetched from ``url``; returns its sha256, the post's evidence id.
        The same body fetched twice is stored once, with both fetches recorded."""
        sha = hashlib.sha256(body).hexdigest()
        path = self._file(sha)
        if not path.exists():
            path.parent.mkdir(exist_ok=True)
            # Write then rename, so a crash never leaves a truncated file under a valid hash.
            fd, tmp = tempfile.mkstemp(dir=path.parent, suffix=".tmp")
            with os.fdopen(fd, "wb") as out:
                out.write(gzip.compress(body, compresslevel=6, mtime=0))
            os.replace(tmp, path)
        when = (fetched or datetime.now(UTC)).astimezone(UTC)
        self._db.execute(
            "INSERT OR IGNORE INTO fetches VALUES (?, ?, ?, ?, ?, ?)",
            (
                sha,
                url,
                when.isoformat(),
                status,
                json.dumps(dict(headers or {}), ensure_ascii=False),
                len(body),
            ),
        )
        return sha

    def get(self, sha: str) -> bytes:
        """The body exactly as fetched; raises EvidenceMissing."""
        path = self._file(sha) if len(sha) == 64 and sha.isalnum() else None
        if path is None or not path.exists():
            raise EvidenceMissing(f"no evidence {sha!r} (never stored, or purged)")
        return gzip.decompress(path.read_bytes())

    def fetches(self, sha: str) -> list[Fetch]:
        rows = self._db.execute(
            "SELECT sha256, url, fetched, status, headers, size FROM fetches WHERE sha256 = ?"
            " ORDER BY fetched",
            (sha,),
        ).fetchall()
        return [
            Fetch(r[0], r[1], datetime.fromisoformat(r[2]), r[3], json.loads(r[4]), r[5])
            for r in rows
        ]

    def purge(self, now: datetime | None = None) -> int:
        """Forget fetches older than the retention and delete bodies no fetch refers to any more;
        returns how many bodies were deleted."""
        cutoff = ((now or datetime.now(UTC)) - self.retention).astimezone(UTC).isoformat()
        old = {
            r[0]
            for r in self._db.execute(
                "SELECT DISTINCT sha256 FROM fetches WHERE fetched < ?", (cutoff,)
            )
        }
        self._db.execute("DELETE FROM fetches WHERE fetched < ?", (cutoff,))
        deleted = 0
        for sha in old:
            if self._db.execute("SELECT 1 FROM fetches WHERE sha256 = ?", (sha,)).fetchone():
                continue  # fetched again recently: still evidence
            self._file(sha).unlink(missing_ok=True)
            deleted += 1
        return deleted
