"""Child process for the kill -9 tests: submit one alert and deliver it, SIGKILLing itself at
the stage named on the command line. Usage: crash_child.py DATA_DIR URL STAGE"""

from __future__ import annotations

import os
import signal
import sys
from datetime import UTC, datetime, timedelta

from alerts.cases import CaseBook
from alerts.delivery import FaultHooks, Outbox
from alerts.models import Alert, Delivery, Destination
from alerts.sender import Worker
from core.post import Severity
from store.state import StateDB

SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"


def die(*_: object) -> None:
    os.kill(os.getpid(), signal.SIGKILL)


def main(data_dir: str, url: str, stage: str) -> int:
    hooks = FaultHooks()
    if stage == "before_commit":
        hooks.before_commit = die
    elif stage == "after_commit":
        hooks.after_commit = die
    elif stage == "after_send":

        def after_send(_: Delivery) -> None:
            die()

        hooks.after_send = after_send
    if stage == "after_match":
        die()  # the rule matched; nothing was written yet
    db = StateDB.in_data_dir(data_dir)
    outbox = Outbox(
        CaseBook(db),
        [Destination(id="cs", url=url, secrets=[SECRET], allow_private=True)],
        hooks=hooks,
    )
    # The rule engine re-evaluates the same window after a restart: the same alert again.
    alert = Alert(
        rule="spread",
        key="cluster-7",
        severity=Severity.MAJOR,
        title="网传某学院考试舞弊",
        detected_at=datetime(2026, 11, 18, 2, 0, tzinfo=UTC),
    )
    outbox.submit(alert, datetime.now(UTC))
    # The restart follows the crash at once, so no lease: a real daemon re-sends a job claimed
    # by a dead process when the lease (timeout + 1 min) ends.
    worker = Worker(outbox, lambda: datetime.now(UTC), lease=timedelta(0))
    worker.run_once()
    worker.close()
    return 0


if __name__ == "__main__":
    sys.exit(main(*sys.argv[1:4]))
