"""Shared fixtures: the real Elasticsearch that tests marked `elasticsearch` talk to."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
ES_SCRIPT = ROOT / "scripts" / "elasticsearch"


def start_elasticsearch(env: dict[str, str] | None = None) -> str:
    """Run ``scripts/elasticsearch start`` (idempotent) and return the URL it prints."""
    run = subprocess.run(
        [str(ES_SCRIPT), "start"],
        env={**os.environ, **(env or {})},
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    if run.returncode != 0:
        pytest.fail(f"scripts/elasticsearch start failed:\n{run.stderr}", pytrace=False)
    return run.stdout.strip().splitlines()[-1]


@pytest.fixture(scope="session")
def elasticsearch_url() -> str:
    """$YUQING_TEST_ES_URL if set, else the instance scripts/elasticsearch starts (and leaves
    running for the next run; `scripts/elasticsearch stop` ends it)."""
    return os.environ.get("YUQING_TEST_ES_URL") or start_elasticsearch()
