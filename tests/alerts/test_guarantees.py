"""ALERTING.md clauses that had no end-to-end test of their own (docs/alerting-coverage.md):
secret rotation on the wire (W2), 503 with Retry-After and a timeout retried (W3), deadlines and
督办 across local midnight and a public holiday (R6, C3, C4)."""

from __future__ import annotations

import json
import random
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from alerts.cases import CaseBook
from alerts.deadlines import DeadlineUnit, Span, tiers_from
from alerts.delivery import Outbox
from alerts.models import DeliveryState, Destination, DestinationKind
from alerts.sender import Worker
from core.settings import Settings, load_settings
from store.state import StateDB
from tests.alerts.support import SECRET, FakeClock, Receiver, Reply, make_alert

NEW_SECRET = "whsec_b2xkLXNlY3JldC1iZWluZy1yb3RhdGVk"


def dest(receiver: Receiver, name: str, **fields: object) -> Destination:
    return Destination(
        id=name, url=f"{receiver.url}/cases/{name}", secrets=[SECRET], allow_private=True, **fields
    )


# -- W2: rotation with two signatures, from the settings to the receiver ----------------------


def rotating_settings(
    tmp_path: Path, url: str, monkeypatch: pytest.MonkeyPatch, previous: bool
) -> Settings:
    monkeypatch.setenv("T_NEW", NEW_SECRET)
    monkeypatch.setenv("T_OLD", SECRET)
    old = ", previous_secret_env: T_OLD" if previous else ""
    path = tmp_path / "institution.yaml"
    path.write_text(
        "institution: {name: 江州理工大学}\n"
        "webhooks:\n"
        f'  - {{id: cs, url: "{url}/cases/cs", secret_env: T_NEW{old}, allow_private: true}}\n',
        encoding="utf-8",
    )
    return load_settings(path)


def test_during_a_rotation_receivers_knowing_either_secret_verify(
    tmp_path: Path, db: StateDB, clock: FakeClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    for known in ([SECRET], [NEW_SECRET]):  # not yet rotated, and already rotated
        receiver = Receiver(clock, known)
        try:
            settings = rotating_settings(tmp_path, receiver.url, monkeypatch, previous=True)
            outbox = Outbox.from_settings(CaseBook(db), settings)
            outbox.submit(make_alert(key=f"key-{known[0][-6:]}"), clock())
            Worker(outbox, clock).run_once()
            (got,) = receiver.on("/cases/cs")
            assert got.verified and len(got.headers["webhook-signature"].split(" ")) == 2
        finally:
            receiver.close()


def test_after_the_overlap_only_the_new_secret_signs(
    tmp_path: Path, db: StateDB, clock: FakeClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    receiver = Receiver(clock, [SECRET])  # a receiver still on the old secret
    try:
        settings = rotating_settings(tmp_path, receiver.url, monkeypatch, previous=False)
        outbox = Outbox.from_settings(CaseBook(db), settings)
        outbox.submit(make_alert(), clock())
        Worker(outbox, clock).run_once()
        (got,) = receiver.on("/cases/cs")
        assert not got.verified and len(got.headers["webhook-signature"].split(" ")) == 1
        (job,) = outbox.deliveries()
        assert job.state is DeliveryState.PENDING and job.last_status == 401  # retried later
    finally:
        receiver.close()


# -- W3: 503 with Retry-After slows down; a timeout is retried with the same id ------------------


def test_503_with_retry_after_pauses_the_destination(
    book: CaseBook, clock: FakeClock, receiver: Receiver
) -> None:
    receiver.script("/cases/cs", Reply(503, headers={"Retry-After": "600"}), Reply(200))
    outbox = Outbox(book, [dest(receiver, "cs")])
    worker = Worker(outbox, clock, rng=random.Random(5))
    outbox.submit(make_alert(key="a"), clock())
    worker.run_once()
    (job,) = outbox.deliveries()
    assert job.next_attempt_at >= clock() + timedelta(seconds=600)  # not the 5 s first retry
    outbox.submit(make_alert(key="b"), clock())
    clock.advance(seconds=599)
    worker.run_once()
    assert len(receiver.on("/cases/cs")) == 1  # the whole destination waits
    clock.advance(seconds=2)
    worker.run_once()
    assert len(receiver.on("/cases/cs")) == 3
    assert {d.state for d in outbox.deliveries()} == {DeliveryState.DELIVERED}


def test_a_timeout_is_retried_with_the_same_webhook_id(
    book: CaseBook, clock: FakeClock, receiver: Receiver
) -> None:
    receiver.script("/cases/cs", Reply(200, delay=1.0), Reply(200))
    outbox = Outbox(book, [dest(receiver, "cs", timeout=0.2)])
    worker = Worker(outbox, clock, rng=random.Random(5))
    outbox.submit(make_alert(), clock())
    worker.run_once()
    (job,) = outbox.deliveries()
    assert job.state is DeliveryState.PENDING and (job.last_error or "").startswith("timeout")
    clock.now = job.next_attempt_at
    worker.run_once()
    tries = receiver.on("/cases/cs")
    assert len(tries) == 2 and tries[0].webhook_id == tries[1].webhook_id == job.id
    assert outbox.get(job.id).state is DeliveryState.DELIVERED


# -- R6, C3, C4: across local midnight and the National Day holiday -----------------------------

# 1 October 2026 00:30 in Beijing is still 30 September (a working day) in UTC: counting must
# follow the local calendar, where 1–7 October are public holidays and Saturday 10 October is a
# make-up working day.
DETECTED = datetime(2026, 9, 30, 16, 30, tzinfo=UTC)


def utc(month: int, day: int, hour: int, minute: int = 0) -> datetime:
    return datetime(2026, month, day, hour, minute, tzinfo=UTC)


def test_deadlines_and_escalations_across_midnight_and_a_holiday(
    db: StateDB, clock: FakeClock, receiver: Receiver
) -> None:
    robot = Destination(
        id="robot", url=f"{receiver.url}/robot", kind=DestinationKind.WECOM, allow_private=True
    )
    book = CaseBook(db, tiers=tiers_from(None), zone="Asia/Shanghai")
    outbox = Outbox(
        book,
        [dest(receiver, "cs"), robot],
        zone="Asia/Shanghai",
        still_late=Span(amount=1, unit=DeadlineUnit.WORKING_DAYS),
    )
    clock.now = DETECTED
    case_id = outbox.submit(make_alert(detected_at=DETECTED), clock()).case_id
    case = book.get(case_id)
    # General: report within 1 working day -> all of 8 October local, due 9 Oct 00:00 local.
    assert case.report_by == utc(10, 8, 16)
    # Respond within 3 working days: 8, 9 and the make-up Saturday 10 October.
    assert case.respond_by == utc(10, 10, 16)
    assert case.special_report_by is None
    steps = {
        utc(10, 8, 15, 59): ["report.near_due", "respond.near_due"],
        utc(10, 8, 16): ["report.overdue"],
    }
    for at, expected in steps.items():
        clock.now = at
        assert [s for _, s in outbox.escalate(clock())] == expected
    book.acknowledge(case_id, "宣传部", clock())
    steps = {
        utc(10, 10, 15, 59): [],
        utc(10, 10, 16): ["respond.overdue"],
        # Still late one working day later: Sunday 11 October does not count, Monday does.
        utc(10, 12, 15, 59): [],
        utc(10, 12, 16): ["respond.still_late"],
    }
    for at, expected in steps.items():
        clock.now = at
        assert [s for _, s in outbox.escalate(clock())] == expected
    Worker(outbox, clock).run_once()
    bodies = [json.loads(r.body) for r in receiver.on("/cases/cs")]
    # Stored and sent in UTC...
    assert bodies[0]["data"]["deadlines"]["report_by"] == "2026-10-08T16:00:00Z"
    # ...shown to people in the institution's zone.
    markdown = json.loads(receiver.on("/robot")[0].body)["markdown"]["content"]
    assert "发现时间：2026-10-01 00:30" in markdown and "上报时限：2026-10-09 00:00" in markdown
    assert "首次回应时限：2026-10-11 00:00" in markdown


# -- W4 in the daemon: an urgent lane beside the general one ------------------------------------


def test_the_daemon_sends_especially_major_alerts_on_a_lane_of_their_own(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from apscheduler.triggers.interval import IntervalTrigger

    from core.post import Severity
    from service.duties import Duties
    from service.patrol import Patrol
    from store.sqlite import SqliteIndex

    receiver = Receiver(lambda: datetime.now(UTC), [SECRET])  # the daemon signs at wall time
    monkeypatch.setenv("T_SECRET", SECRET)
    path = tmp_path / "institution.yaml"
    path.write_text(
        "institution: {name: 江州理工大学}\n"
        f"storage: {{data_dir: {tmp_path / 'data'}}}\n"
        "webhooks:\n"
        f'  - {{id: cs, url: "{receiver.url}/cases/cs", secret_env: T_SECRET, '
        "allow_private: true}\n",
        encoding="utf-8",
    )
    settings = load_settings(path)
    duties = Duties(settings, index=SqliteIndex(tmp_path / "data"))
    try:
        now = datetime.now(UTC)  # the daemon's worker runs on the wall clock
        for n in range(3):
            duties.outbox.submit(make_alert(key=f"general-{n}", detected_at=now), now)
        fire = make_alert(key="fire", severity=Severity.ESPECIALLY_MAJOR, detected_at=now)
        duties.outbox.submit(fire, now)
        duties.deliver_urgent()
        (urgent,) = receiver.on("/cases/cs")
        assert urgent.verified and json.loads(urgent.body)["data"]["key"] == "fire"
        duties.deliver()
        assert len(receiver.on("/cases/cs")) == 4 and len(receiver.cases) == 4
        triggers = Patrol(settings, str(path), lambda summary: None).duty_triggers(duties)
        lane, general = triggers["urgent webhooks"][1], triggers["webhooks"][1]
        assert isinstance(lane, IntervalTrigger) and isinstance(general, IntervalTrigger)
        assert lane.interval < general.interval
    finally:
        duties.close()
        receiver.close()
