"""kill -9 at each stage of the pipeline, then a restart: the receiver holds one case (W1)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from alerts.cases import CaseBook
from alerts.models import DeliveryState
from store.state import StateDB
from tests.alerts.support import SECRET, Receiver

ROOT = Path(__file__).resolve().parents[2]
CHILD = Path(__file__).with_name("crash_child.py")


@pytest.fixture
def live_receiver() -> Iterator[Receiver]:
    r = Receiver(lambda: datetime.now(UTC), [SECRET])
    yield r
    r.close()


def run_child(data_dir: Path, url: str, stage: str) -> int:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    done = subprocess.run(
        [sys.executable, str(CHILD), str(data_dir), url, stage],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    if done.returncode not in (0, -signal.SIGKILL):
        raise AssertionError(done.stderr)
    return done.returncode


@pytest.mark.parametrize(
    ("stage", "requests"),
    [("after_match", 1), ("before_commit", 1), ("after_commit", 1), ("after_send", 2)],
)
def test_kill_9_then_restart_leaves_exactly_one_case(
    tmp_path: Path, live_receiver: Receiver, stage: str, requests: int
) -> None:
    url = live_receiver.url + "/cases/cs"
    assert run_child(tmp_path, url, stage) == -signal.SIGKILL
    assert run_child(tmp_path, url, "none") == 0
    # after_send: the request arrived, the process died before marking it sent, the restart
    # sent it again with the same webhook-id, and the receiver de-duplicated it.
    assert len(live_receiver.received) == requests
    assert all(r.verified for r in live_receiver.received)
    assert len({r.webhook_id for r in live_receiver.received}) == 1
    assert len(live_receiver.cases) == 1
    book = CaseBook(StateDB.in_data_dir(tmp_path))
    (case,) = book.find()
    assert case.occurrences == 1
    rows = book.db.connection().execute("SELECT state FROM deliveries").fetchall()
    assert [r[0] for r in rows] == [DeliveryState.DELIVERED.value]
