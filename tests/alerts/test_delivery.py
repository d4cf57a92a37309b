"""The outbox and its worker against a real local receiver (W1, W3, W4, W6, C4, C5)."""

from __future__ import annotations

import json
import random
import threading
from datetime import timedelta

import pytest

from alerts.cases import CaseBook
from alerts.delivery import DestinationRefused, Outbox, OutboxError, check_address
from alerts.models import DeliveryState, Destination
from alerts.sender import RETRY_SCHEDULE, Worker
from core.post import Severity
from tests.alerts.support import SECRET, START, FakeClock, Receiver, Reply, make_alert


def dest(receiver: Receiver, name: str, path: str | None = None, **fields: object) -> Destination:
    return Destination(
        id=name,
        url=receiver.url + (path or f"/cases/{name}"),
        secrets=[SECRET],
        allow_private=True,
        **fields,
    )


def make(book: CaseBook, clock: FakeClock, *dests: Destination) -> tuple[Outbox, Worker]:
    outbox = Outbox(book, list(dests))
    return outbox, Worker(outbox, clock, rng=random.Random(7))


def test_submit_commits_case_and_jobs_before_any_request(
    book: CaseBook, clock: FakeClock, receiver: Receiver
) -> None:
    outbox, worker = make(book, clock, dest(receiver, "cs"))
    submitted = outbox.submit(make_alert(), clock())
    assert receiver.received == []
    assert [d.state for d in outbox.deliveries()] == [DeliveryState.PENDING]
    stats = worker.run_once()
    assert stats.sent == 1
    (only,) = receiver.on("/cases/cs")
    assert only.verified and only.webhook_id == submitted.deliveries[0]
    body = json.loads(only.body)
    assert body["type"] == "case.opened" and body["data"]["unit"]["name"] == "后勤保障处"
    assert outbox.get(only.webhook_id).state is DeliveryState.DELIVERED
    kinds = [e.kind for e in book.events(submitted.case_id)]
    assert kinds == ["opened", "delivery"]
    # Sent once: a second pass finds nothing due.
    assert worker.run_once().sent == 0 and len(receiver.received) == 1


def test_retries_back_off_reuse_the_id_and_exhaust_after_more_than_a_day(
    book: CaseBook, clock: FakeClock, receiver: Receiver
) -> None:
    receiver.script("/cases/cs", Reply(500, body="down"))
    outbox, worker = make(
        book, clock, dest(receiver, "cs"), dest(receiver, "ops", events=["operational"])
    )
    outbox.submit(make_alert(), clock())
    delays = []
    while True:
        worker.run_once()
        (delivery,) = outbox.deliveries(case_id=1)
        if delivery.state is not DeliveryState.PENDING:
            break
        delays.append(delivery.next_attempt_at - clock())
        clock.now = delivery.next_attempt_at
    attempts = receiver.on("/cases/cs")
    assert len(attempts) == 8 and len({a.webhook_id for a in attempts}) == 1
    assert delivery.state is DeliveryState.FAILED and delivery.last_status == 500
    # Exponential with jitter: each delay within ±20% of the schedule's step.
    for delay, base in zip(delays, RETRY_SCHEDULE, strict=True):
        assert base * 0.8 <= delay <= base * 1.2
    assert clock() - START >= timedelta(days=1)
    # Exhausted: an operational alert went out by the other destination, and it is listed.
    assert [f.id for f in outbox.failures()] == [delivery.id]
    worker.run_once()
    (ops,) = receiver.on("/cases/ops")
    assert json.loads(ops.body)["type"] == "operational.delivery_failed"
    assert len(outbox.operational_alerts()) == 1


def test_replay_resends_a_failure_with_the_same_id(
    book: CaseBook, clock: FakeClock, receiver: Receiver
) -> None:
    receiver.script("/cases/cs", Reply(500), Reply(500), Reply(200))
    outbox, worker = make(book, clock, dest(receiver, "cs"))
    worker.schedule = (timedelta(seconds=5),)  # give up after two attempts
    outbox.submit(make_alert(), clock())
    worker.run_once()
    clock.advance(seconds=10)
    worker.run_once()
    (failed,) = outbox.failures()
    with pytest.raises(OutboxError, match="say which failures"):
        outbox.replay(clock())
    assert outbox.replay(clock(), destination="cs") == [failed.id]
    worker.run_once()
    assert outbox.get(failed.id).state is DeliveryState.DELIVERED
    assert {r.webhook_id for r in receiver.on("/cases/cs")} == {failed.id}
    assert len(receiver.cases) == 1
    assert "delivery_replayed" in [e.kind for e in book.events(1)]


def test_a_failing_destination_neither_blocks_nor_resends_another(
    book: CaseBook, clock: FakeClock, receiver: Receiver
) -> None:
    receiver.script("/cases/bad", Reply(503))
    outbox, worker = make(book, clock, dest(receiver, "bad"), dest(receiver, "good"))
    for n in range(3):
        outbox.submit(make_alert(key=f"k{n}"), clock())
    first = worker.run_once()
    assert len(receiver.on("/cases/good")) == 3
    # One failed attempt on "bad" skips its other jobs for this run instead of waiting on each.
    assert len(receiver.on("/cases/bad")) == 1 and first.skipped == 2
    for _ in range(3):
        clock.advance(minutes=10)
        worker.run_once()
    assert len(receiver.on("/cases/good")) == 3  # never re-sent
    assert all(
        d.state is DeliveryState.DELIVERED for d in outbox.deliveries() if d.destination == "good"
    )


def test_especially_major_goes_first_and_a_slow_general_queue_cannot_hold_it(
    book: CaseBook, clock: FakeClock, receiver: Receiver
) -> None:
    receiver.script("/cases/slow", Reply(200, delay=1.0))
    slow = dest(receiver, "slow", timeout=0.2)
    outbox, worker = make(book, clock, slow, dest(receiver, "fast"))
    for n in range(4):
        outbox.submit(make_alert(key=f"general-{n}"), clock())
    outbox.submit(
        make_alert(
            key="fire", severity=Severity.ESPECIALLY_MAJOR, title="学生宿舍火灾视频在微博传播"
        ),
        clock(),
    )
    # The urgent lane alone sends only especially-major jobs.
    urgent = worker.run_once(max_priority=0)
    assert urgent.sent == 1 and urgent.failed == 1
    (first,) = receiver.on("/cases/fast")
    assert json.loads(first.body)["data"]["severity"] == "especially_major"
    worker.run_once()
    order = [json.loads(r.body)["data"]["key"] for r in receiver.on("/cases/fast")]
    assert order == ["fire", "general-0", "general-1", "general-2", "general-3"]
    # The slow destination timed out once per run, and its jobs wait for a retry.
    assert len(receiver.on("/cases/slow")) == 2
    tried = [d for d in outbox.deliveries() if d.destination == "slow" and d.attempts]
    assert len(tried) == 2
    assert all((d.last_error or "").startswith("timeout") for d in tried)
    assert all(d.state is DeliveryState.PENDING for d in tried)


def test_gone_disables_the_endpoint_and_raises_an_operational_alert(
    book: CaseBook, clock: FakeClock, receiver: Receiver
) -> None:
    receiver.script("/cases/old", Reply(410))
    outbox, worker = make(
        book, clock, dest(receiver, "old"), dest(receiver, "ops", events=["operational"])
    )
    outbox.submit(make_alert(key="a"), clock())
    outbox.submit(make_alert(key="b"), clock())
    worker.run_once()
    assert len(receiver.on("/cases/old")) == 1
    assert outbox.disabled_destinations() == {"old": "410 Gone"}
    assert {d.state for d in outbox.deliveries() if d.destination == "old"} == {
        DeliveryState.DISABLED
    }
    worker.run_once()  # the operational alert was queued during the first run
    assert json.loads(receiver.on("/cases/ops")[0].body)["type"] == "operational.endpoint_disabled"
    outbox.submit(make_alert(key="c"), clock())
    clock.advance(hours=1)
    worker.run_once()
    assert len(receiver.on("/cases/old")) == 1  # disabled: not called again
    with pytest.raises(OutboxError, match="enable it first"):
        outbox.replay(clock(), destination="old")
    outbox.enable_destination("old")
    receiver.script("/cases/old", Reply(200))
    assert len(outbox.replay(clock(), destination="old")) == 2
    worker.run_once()
    assert len(receiver.on("/cases/old")) == 4


@pytest.mark.parametrize("retry_after", ["120", "Wed, 18 Nov 2026 02:02:00 GMT"])
def test_retry_after_pauses_the_destination(
    book: CaseBook, clock: FakeClock, receiver: Receiver, retry_after: str
) -> None:
    receiver.script("/cases/cs", Reply(429, headers={"Retry-After": retry_after}), Reply(200))
    outbox, worker = make(book, clock, dest(receiver, "cs"))
    outbox.submit(make_alert(key="a"), clock())
    worker.run_once()
    (job,) = outbox.deliveries()
    assert job.next_attempt_at >= START + timedelta(seconds=120)
    outbox.submit(make_alert(key="b"), clock())  # a new job for the paused destination
    clock.advance(seconds=60)
    worker.run_once()
    assert len(receiver.on("/cases/cs")) == 1  # still paused
    clock.advance(seconds=61)
    worker.run_once()
    assert len(receiver.on("/cases/cs")) == 3
    assert {d.state for d in outbox.deliveries()} == {DeliveryState.DELIVERED}


def test_private_destinations_are_refused_unless_allowed(
    book: CaseBook, clock: FakeClock, receiver: Receiver
) -> None:
    guarded = Destination(id="cs", url=receiver.url + "/cases/cs", secrets=[SECRET])
    outbox, worker = make(book, clock, guarded)
    outbox.submit(make_alert(), clock())
    worker.run_once()
    assert receiver.received == []
    (failed,) = outbox.failures()
    assert "private or loopback" in (failed.last_error or "")


@pytest.mark.parametrize(
    ("url", "allowed"),
    [
        ("http://127.0.0.1/x", False),
        ("http://localhost:8080/x", False),
        ("http://10.1.2.3/x", False),
        ("http://192.168.1.1/x", False),
        ("http://169.254.169.254/latest", False),
        ("http://[::1]/x", False),
        ("http://8.8.8.8/x", True),
        ("https://1.1.1.1/hook", True),
    ],
)
def test_check_address(url: str, allowed: bool) -> None:
    if allowed:
        check_address(url, allow_private=False)
    else:
        with pytest.raises(DestinationRefused, match="allow_private"):
            check_address(url, allow_private=False)
        check_address(url, allow_private=True)


@pytest.mark.parametrize("url", ["ftp://example.com/x", "file:///etc/passwd", "http:///nohost"])
def test_check_address_refuses_odd_urls(url: str) -> None:
    with pytest.raises(DestinationRefused, match="http:// or https://"):
        check_address(url, allow_private=True)


def test_destinations_filter_by_severity_and_unit(
    book: CaseBook, clock: FakeClock, receiver: Receiver
) -> None:
    outbox, worker = make(
        book,
        clock,
        dest(receiver, "leaders", min_severity=Severity.MAJOR),
        dest(receiver, "logistics", units=["logistics"]),
    )
    outbox.submit(make_alert(key="a"), clock())
    outbox.submit(make_alert(key="b", unit="library", severity=Severity.MAJOR), clock())
    worker.run_once()
    got = {(r.path, json.loads(r.body)["data"]["key"]) for r in receiver.received}
    assert got == {("/cases/logistics", "a"), ("/cases/leaders", "b")}


def test_escalation_sends_each_step_once_also_after_a_restart(
    book: CaseBook, clock: FakeClock, receiver: Receiver
) -> None:
    outbox, _ = make(book, clock, dest(receiver, "cs"))
    outbox.submit(make_alert(severity=Severity.ESPECIALLY_MAJOR), clock())
    book.special_report_made(1, "office", clock())  # its own steps: test_escalation.py
    clock.advance(hours=2, minutes=20)
    assert outbox.escalate(clock()) == [(1, "report.near_due")]
    assert outbox.escalate(clock()) == []
    # A restart: new objects over the same database.
    outbox2, worker2 = make(CaseBook(book.db), clock, dest(receiver, "cs"))
    assert outbox2.escalate(clock()) == []
    clock.advance(hours=1)
    assert outbox2.escalate(clock()) == [(1, "report.overdue")]
    worker2.run_once()
    sent = [json.loads(r.body) for r in receiver.on("/cases/cs")]
    assert [(p["type"], (p["data"]["escalation"] or {}).get("step")) for p in sent] == [
        ("case.opened", None),
        ("case.escalated", "report.near_due"),
        ("case.escalated", "report.overdue"),
    ]
    kinds = [e.kind for e in book.events(1)]
    assert kinds.count("escalated") == 2 and kinds.count("delivery") == 3


def test_backlog_reports_count_and_age(
    book: CaseBook, clock: FakeClock, receiver: Receiver
) -> None:
    outbox, _ = make(book, clock, dest(receiver, "cs"))
    assert outbox.backlog(clock()) == (0, 0.0)
    outbox.submit(make_alert(), clock())
    assert outbox.backlog(clock.advance(minutes=2)) == (1, 120.0)


def test_two_lanes_at_once_send_each_job_exactly_once(
    book: CaseBook, clock: FakeClock, receiver: Receiver
) -> None:
    receiver.script("/cases/cs", Reply(200, delay=0.02))
    outbox, _ = make(book, clock, dest(receiver, "cs"))
    for n in range(12):
        severity = Severity.ESPECIALLY_MAJOR if n % 3 == 0 else Severity.GENERAL
        outbox.submit(make_alert(key=f"k{n}", severity=severity), clock())
    lanes = [Worker(outbox, clock), Worker(outbox, clock), Worker(outbox, clock)]
    threads = [
        threading.Thread(target=lanes[0].run_once, kwargs={"max_priority": 0}),
        threading.Thread(target=lanes[1].run_once),
        threading.Thread(target=lanes[2].run_once),
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    ids = [r.webhook_id for r in receiver.on("/cases/cs")]
    assert len(ids) == 12 and len(set(ids)) == 12
    assert {d.state for d in outbox.deliveries()} == {DeliveryState.DELIVERED}


def test_a_job_claimed_by_a_dead_worker_is_resent_after_its_lease(
    book: CaseBook, clock: FakeClock, receiver: Receiver
) -> None:
    outbox, worker = make(book, clock, dest(receiver, "cs", timeout=5))
    outbox.submit(make_alert(), clock())
    (job,) = outbox.deliveries()
    assert worker._claim(job, clock())  # claimed, then the process "died" before sending
    assert worker.run_once().sent == 0
    clock.advance(seconds=64)
    assert worker.run_once().sent == 0  # the lease is the timeout plus a minute
    clock.advance(seconds=2)
    assert worker.run_once().sent == 1
    assert [r.webhook_id for r in receiver.received] == [job.id]


def test_a_generic_destination_without_a_secret_fails_with_a_clear_reason(
    book: CaseBook, clock: FakeClock, receiver: Receiver
) -> None:
    unsigned = Destination(id="cs", url=receiver.url + "/cases/cs", allow_private=True)
    outbox, worker = make(book, clock, unsigned)
    outbox.submit(make_alert(), clock())
    worker.run_once()
    (failed,) = outbox.failures()
    assert receiver.received == [] and "no webhook secret" in (failed.last_error or "")


def test_a_failing_operational_alert_does_not_raise_another(
    book: CaseBook, clock: FakeClock, receiver: Receiver
) -> None:
    receiver.script("/cases/a", Reply(410))
    receiver.script("/cases/ops", Reply(500))
    outbox, worker = make(
        book, clock, dest(receiver, "a"), dest(receiver, "ops", events=["operational"])
    )
    worker.schedule = (timedelta(seconds=5),)
    outbox.submit(make_alert(), clock())
    for _ in range(4):
        worker.run_once()
        clock.advance(seconds=10)
    assert len(outbox.operational_alerts()) == 1  # the 410; not one about the ops failure
    assert len(receiver.on("/cases/ops")) == 2
    (ops,) = [d for d in outbox.deliveries() if d.destination == "ops"]
    assert ops.state is DeliveryState.FAILED


def test_jobs_set_aside_by_a_410_are_in_the_audit_trail(
    book: CaseBook, clock: FakeClock, receiver: Receiver
) -> None:
    receiver.script("/cases/old", Reply(410))
    outbox, worker = make(book, clock, dest(receiver, "old"))
    first = outbox.submit(make_alert(key="a"), clock())
    second = outbox.submit(make_alert(key="b"), clock())
    worker.run_once()
    for submitted in (first, second):
        (event,) = [e for e in book.events(submitted.case_id) if e.kind == "delivery"]
        assert event.detail["state"] == "disabled"


def test_a_leadership_robot_can_take_only_escalations_with_the_institutions_tier_names(
    book: CaseBook, clock: FakeClock, receiver: Receiver
) -> None:
    outbox = Outbox(
        book,
        [dest(receiver, "office"), dest(receiver, "leaders", events=["case.escalated"])],
        labels={Severity.ESPECIALLY_MAJOR: "I级"},
    )
    worker = Worker(outbox, clock)
    outbox.submit(make_alert(severity=Severity.ESPECIALLY_MAJOR), clock())
    book.special_report_made(1, "office", clock())  # its own steps: test_escalation.py
    clock.advance(hours=3)
    outbox.escalate(clock())
    worker.run_once()
    (leaders,) = receiver.on("/cases/leaders")
    body = json.loads(leaders.body)
    assert body["type"] == "case.escalated" and body["data"]["severity_label"] == "I级"
    assert [json.loads(r.body)["type"] for r in receiver.on("/cases/office")] == [
        "case.opened",
        "case.escalated",
    ]
