"""Shared fixtures: the real Elasticsearch that tests marked `elasticsearch` talk to."""

from __future__ import annotations

import os
import subprocess
import time
from pathlib import Path

import pytest
from elasticsearch import Elasticsearch

ROOT = Path(__file__).resolve().parents[1]
ES_SCRIPT = ROOT / "scripts" / "elasticsearch"
STALE_AFTER_S = 3600


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


def drop_stale_test_indices(url: str) -> None:
    """Delete test indices (prefix ``test-``) older than an hour: left by earlier runs, they
    would pile up shards on a long-lived instance. Younger ones may belong to a run going on
    in parallel, so they stay."""
    client = Elasticsearch(url, request_timeout=30)
    try:
        found = client.indices.get(index="test-*", ignore_unavailable=True, allow_no_indices=True)
        cutoff_ms = (time.time() - STALE_AFTER_S) * 1000
        for name, info in found.body.items():
            if int(info["settings"]["index"]["creation_date"]) < cutoff_ms:
                client.indices.delete(index=name, ignore_unavailable=True)
                client.options(ignore_status=404).indices.delete_index_template(name=name)
    finally:
        client.close()


@pytest.fixture(scope="session")
def elasticsearch_url() -> str:
    """$YUQING_TEST_ES_URL if set, else the instance scripts/elasticsearch starts (and leaves
    running for the next run; `scripts/elasticsearch stop` ends it)."""
    url = os.environ.get("YUQING_TEST_ES_URL") or start_elasticsearch()
    drop_stale_test_indices(url)
    return url
