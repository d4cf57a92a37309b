"""Fixtures for spider tests: the local HTTP server and a crawl run in its own process."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.crawler.server import TestServer

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def server() -> Iterator[TestServer]:
    srv = TestServer().start()
    try:
        yield srv
    finally:
        srv.stop()


def run_job(job: dict[str, Any], tmp: Path, *, timeout: float = 120) -> dict[str, Any]:
    """Run ``python -m crawler.runner JOB`` (a fresh process: the reactor cannot restart) and
    return the summary it prints as JSON on its last line of stdout."""
    job_file = tmp / f"job-{len(list(tmp.glob('job-*.json')))}.json"
    job_file.write_text(json.dumps(job), encoding="utf-8")
    proc = subprocess.run(
        [sys.executable, "-m", "crawler.runner", str(job_file)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    lines = [line for line in proc.stdout.splitlines() if line.startswith("{")]
    if proc.returncode not in (0, 1) or not lines:
        raise AssertionError(
            f"runner failed ({proc.returncode}):\n{proc.stdout}\n{proc.stderr[-4000:]}"
        )
    result: dict[str, Any] = json.loads(lines[-1])
    return result


@pytest.fixture
def crawl(tmp_path: Path) -> Any:
    """``crawl(sources=[...], **job)`` runs one crawl in a subprocess with tmp_path as data dir."""

    def _crawl(**job: Any) -> dict[str, Any]:
        job.setdefault("data_dir", str(tmp_path / "data"))
        job.setdefault("allow_private_addresses", True)
        return run_job(job, tmp_path)

    return _crawl
