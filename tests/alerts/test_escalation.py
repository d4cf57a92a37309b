"""The special report (特报) deadline, the second escalation step ("still late, reported to
leadership") and the one reply extension (DOMAIN.md §2, §5, §7; ALERTING.md C3, C4, C5)."""

from __future__ import annotations

import json
import random
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from alerts.cases import CaseBook, CaseError, TransitionError
from alerts.deadlines import DeadlineUnit, Span, tiers_from
from alerts.delivery import Outbox
from alerts.models import Destination
from alerts.sender import Worker
from core.post import Severity
from core.settings_service import Tiers
from store.state import StateDB
from tests.alerts.schema_check import errors
from tests.alerts.support import SECRET, START, FakeClock, Receiver, make_alert

SCHEMA: dict[str, Any] = json.loads(
    (Path(__file__).resolve().parents[2] / "docs" / "webhook-payload.schema.json").read_text()
)
ONE_WORKING_DAY = Span(amount=1, unit=DeadlineUnit.WORKING_DAYS)


def dest(receiver: Receiver, name: str, **fields: Any) -> Destination:
    return Destination(
        id=name, url=f"{receiver.url}/cases/{name}", secrets=[SECRET], allow_private=True, **fields
    )


def outbox_for(book: CaseBook, receiver: Receiver, **options: Any) -> Outbox:
    settings: dict[str, Any] = {
        "escalate_to": ["office"],
        "still_late_to": ["leaders"],
        "still_late": ONE_WORKING_DAY,
        **options,
    }
    return Outbox(book, [dest(receiver, "office"), dest(receiver, "leaders")], **settings)


def sent_steps(receiver: Receiver, path: str) -> list[str | None]:
    bodies = [json.loads(r.body) for r in receiver.on(path)]
    for body in bodies:
        assert errors(body, SCHEMA, SCHEMA) == []
    return [(b["data"]["escalation"] or {}).get("step") for b in bodies]


# -- the special report ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("severity", "due"),
    [
        (Severity.GENERAL, None),
        (Severity.MAJOR, START + timedelta(hours=4)),
        (Severity.ESPECIALLY_MAJOR, START + timedelta(hours=4)),
    ],
)
def test_major_tiers_owe_a_special_report_within_four_hours(
    book: CaseBook, severity: Severity, due: datetime | None
) -> None:
    with book.db.transaction() as conn:
        case = book.record_alert(conn, make_alert(severity=severity), START).case
    assert case.special_report_by == due
    opened = book.events(case.id)[0]
    assert opened.detail["special_report_by"] == (due.isoformat() if due else None)


def test_the_special_report_deadline_is_configurable_per_tier(db: StateDB) -> None:
    tiers = Tiers.model_validate(
        {"major": {"special_report": "2 hours"}, "special_report": "6 hours"}
    )
    assert tiers.special_report_for(Severity.GENERAL) is None
    book = CaseBook(db, tiers=tiers_from(tiers))
    with db.transaction() as conn:
        major = book.record_alert(conn, make_alert(severity=Severity.MAJOR), START).case
        worst = book.record_alert(
            conn, make_alert(key="k2", severity=Severity.ESPECIALLY_MAJOR), START
        ).case
    assert major.special_report_by == START + timedelta(hours=2)  # its own
    assert worst.special_report_by == START + timedelta(hours=6)  # the shared one


def test_a_case_raised_to_major_now_owes_a_special_report(book: CaseBook) -> None:
    later = START + timedelta(hours=1)
    with book.db.transaction() as conn:
        case = book.record_alert(conn, make_alert(), START).case
        assert case.special_report_by is None
        raised = book.record_alert(
            conn, make_alert(severity=Severity.MAJOR, detected_at=later), later
        )
    assert raised.event == "case.severity_raised"
    assert raised.case.special_report_by == later + timedelta(hours=4)


def test_special_report_steps_then_done_stops_them(
    book: CaseBook, clock: FakeClock, receiver: Receiver
) -> None:
    outbox = outbox_for(book, receiver, still_late=None)
    case_id = outbox.submit(make_alert(severity=Severity.MAJOR), clock()).case_id
    clock.advance(hours=3)  # 75 % of 4 h
    assert outbox.escalate(clock()) == [(case_id, "special_report.near_due")]
    clock.advance(hours=1)
    assert outbox.escalate(clock()) == [(case_id, "special_report.overdue")]
    assert [c.id for c in book.overdue(clock())] == [case_id]
    made = book.special_report_made(case_id, "宣传部", clock(), report="special-C000001")
    assert made.special_report_at == clock() and book.overdue(clock()) == []
    again = book.special_report_made(case_id, "宣传部", clock.advance(hours=1))
    assert again.special_report_at == START + timedelta(hours=4)  # the first one counts
    trail = [e for e in book.events(case_id) if e.kind == "special_report"]
    assert [(e.actor, e.detail["first"], e.detail["late"]) for e in trail] == [
        ("宣传部", True, False),
        ("宣传部", False, False),
    ]
    # Nothing more about the special report; the respond deadline is still chased later.
    assert outbox.escalate(clock()) == []
    Worker(outbox, clock, rng=random.Random(1)).run_once()
    assert sent_steps(receiver, "/cases/office") == [
        None,
        "special_report.near_due",
        "special_report.overdue",
    ]
    body = json.loads(receiver.on("/cases/office")[-1].body)
    assert body["data"]["deadlines"]["special_report_by"] == "2026-11-18T06:00:00Z"


# -- still late: reported to leadership ----------------------------------------------------------


def test_an_overdue_case_still_late_is_reported_to_leadership_once_across_a_restart(
    db: StateDB, clock: FakeClock, receiver: Receiver
) -> None:
    outbox = outbox_for(CaseBook(db), receiver)
    case_id = outbox.submit(make_alert(), clock()).case_id  # general: respond 3 working days
    book = outbox.cases
    book.acknowledge(case_id, "office", clock())
    respond_by = book.get(case_id).respond_by
    assert respond_by == datetime(2026, 11, 23, 2, 0, tzinfo=UTC)  # Wed 10:00 -> Mon 10:00
    clock.now = respond_by
    assert outbox.escalate(clock()) == [(case_id, "respond.overdue")]
    # Still late one working day after the deadline: Tuesday 10:00, to the leadership.
    clock.now = respond_by + timedelta(hours=23, minutes=59)
    assert outbox.escalate(clock()) == []
    clock.now = respond_by + timedelta(days=1)
    restarted = outbox_for(CaseBook(db), receiver)  # a restart: new objects, same database
    assert restarted.escalate(clock()) == [(case_id, "respond.still_late")]
    assert restarted.escalate(clock()) == []
    assert outbox_for(CaseBook(db), receiver).escalate(clock.advance(days=3)) == []
    Worker(restarted, clock, rng=random.Random(1)).run_once()
    assert sent_steps(receiver, "/cases/leaders") == [None, "respond.still_late"]
    # The near-due step passed unseen (the clock jumped) and was folded into the overdue one.
    assert sent_steps(receiver, "/cases/office") == [None, "respond.overdue"]
    escalated = [e.detail for e in book.events(case_id) if e.kind == "escalated"]
    assert escalated[-1]["step"] == "respond.still_late"
    assert escalated[-1]["destinations"] == ["leaders"]


def test_a_daemon_down_past_every_step_sends_only_the_latest(
    book: CaseBook, clock: FakeClock, receiver: Receiver
) -> None:
    outbox = outbox_for(book, receiver)
    case_id = outbox.submit(make_alert(), clock()).case_id
    book.acknowledge(case_id, "office", clock())
    clock.advance(days=10)
    (step,) = book.due_steps(clock(), 0.75, ONE_WORKING_DAY)
    assert step.step == "respond.still_late"
    assert step.superseded == ("respond.near_due", "respond.overdue")
    assert outbox.escalate(clock()) == [(case_id, "respond.still_late")]
    assert book.due_steps(clock.advance(days=30), 0.75, ONE_WORKING_DAY) == []


def test_still_late_can_be_switched_off(
    book: CaseBook, clock: FakeClock, receiver: Receiver
) -> None:
    outbox = outbox_for(book, receiver, still_late=None)
    case_id = outbox.submit(make_alert(), clock()).case_id
    book.acknowledge(case_id, "office", clock())
    clock.advance(days=30)
    assert outbox.escalate(clock()) == [(case_id, "respond.overdue")]
    assert outbox.escalate(clock.advance(days=30)) == []


# -- the reply extension (3 days, at most 5) -------------------------------------------------------


def test_the_reply_deadline_is_extended_once_with_a_reason(
    book: CaseBook, clock: FakeClock, receiver: Receiver
) -> None:
    outbox = outbox_for(book, receiver)
    case_id = outbox.submit(make_alert(), clock()).case_id
    book.acknowledge(case_id, "office", clock())
    before = book.get(case_id).respond_by  # Monday 23 Nov 10:00
    clock.now = before - timedelta(hours=12)
    assert [s for _, s in outbox.escalate(clock())] == ["respond.near_due"]
    with pytest.raises(CaseError, match="needs its reason"):
        book.extend(case_id, 2, "  ", "office", clock())
    with pytest.raises(CaseError, match="1 to 2 days, not 3"):
        book.extend(case_id, 3, "需要调查", "office", clock())
    case = book.extend(case_id, 2, "涉及多个部门，需联合调查", "宣传部", clock())
    # General tier counts working days: Monday 10:00 + 2 working days = Wednesday 10:00.
    assert case.respond_by == datetime(2026, 11, 25, 2, 0, tzinfo=UTC)
    assert case.extended_at == clock() and case.extension_reason == "涉及多个部门，需联合调查"
    with pytest.raises(TransitionError, match="extended once"):
        book.extend(case_id, 1, "再延", "宣传部", clock())
    (event,) = [e for e in book.events(case_id) if e.kind == "extended"]
    assert event.actor == "宣传部" and event.detail["rearmed"] == ["respond.near_due"]
    assert event.detail["from"] == before.isoformat()
    # The new deadline is chased afresh: nothing now, near-due and overdue later, once each.
    assert outbox.escalate(clock()) == []
    clock.now = case.respond_by
    assert [s for _, s in outbox.escalate(clock())] == ["respond.overdue"]
    assert outbox.escalate(clock()) == []


def test_an_extension_counts_calendar_days_when_the_tier_does(
    book: CaseBook, clock: FakeClock
) -> None:
    with book.db.transaction() as conn:
        case = book.record_alert(conn, make_alert(severity=Severity.ESPECIALLY_MAJOR), START).case
    extended = book.extend(case.id, 2, "等待上级调查结论", "office", clock())
    assert extended.respond_by == case.respond_by + timedelta(days=2)


def test_a_replied_case_cannot_be_extended(book: CaseBook, clock: FakeClock) -> None:
    with book.db.transaction() as conn:
        case_id = book.record_alert(conn, make_alert(), START).case.id
    book.acknowledge(case_id, "office", clock())
    book.assign(case_id, "李老师", "office", clock())
    book.reply(case_id, "已回复", "office", clock())
    with pytest.raises(TransitionError, match="only a case still to be replied"):
        book.extend(case_id, 1, "需要时间", "office", clock())
