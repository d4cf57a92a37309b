"""Cases: one per event, the transition table, closing rules, second waves, escalation (C1–C5)."""

from __future__ import annotations

import itertools
import sqlite3
from datetime import timedelta

import pytest

from alerts.cases import CaseBook, CaseError, TransitionError
from alerts.models import TRANSITIONS, CaseState, Resolution
from core.post import Severity
from store.state import StateDB
from tests.alerts.support import START, FakeClock, make_alert


def record(book: CaseBook, **overrides: object) -> int:
    alert = make_alert(**overrides)
    with book.db.transaction() as conn:
        return book.record_alert(conn, alert, START).case.id


def test_a_repeat_adds_an_occurrence_and_the_same_alert_is_recorded_once(book: CaseBook) -> None:
    first = record(book)
    again = record(book)  # the very same alert (a rule run repeated after a crash)
    later = record(book, detected_at=START + timedelta(minutes=5))
    assert first == again == later
    case = book.get(first)
    assert case.occurrences == 2
    assert case.last_seen_at == START + timedelta(minutes=5)
    assert [e.kind for e in book.events(first)] == ["opened", "occurrence"]


def test_different_keys_open_different_cases(book: CaseBook) -> None:
    assert record(book, key="a") != record(book, key="b")
    assert record(book, rule="other", key="a") != record(book, key="a")


def test_a_trigger_after_closing_opens_a_linked_case(book: CaseBook, clock: FakeClock) -> None:
    old = record(book)
    book.acknowledge(old, "office", clock())
    book.close(old, "no_action", "误报：帖子与本校无关", "office", clock())
    second = record(book, detected_at=START + timedelta(days=3))
    third_book = CaseBook(book.db, tracking_days=1)
    case = book.get(second)
    assert second != old and case.previous_case == old and case.second_wave
    # Outside the tracking period it is linked but not a second wave.
    book.acknowledge(second, "office", clock())
    book.close(second, "resolved", "已回复", "office", clock())
    with book.db.transaction() as conn:
        late = third_book.record_alert(
            conn, make_alert(detected_at=START + timedelta(days=30)), START
        ).case
    assert late.previous_case == second and not late.second_wave


def test_a_higher_tier_repeat_raises_severity_and_tightens_deadlines(book: CaseBook) -> None:
    case_id = record(book)
    before = book.get(case_id)
    with book.db.transaction() as conn:
        result = book.record_alert(
            conn,
            make_alert(severity=Severity.ESPECIALLY_MAJOR, detected_at=START + timedelta(hours=1)),
            START,
        )
    after = result.case
    assert result.event == "case.severity_raised"
    assert after.severity is Severity.ESPECIALLY_MAJOR
    assert after.report_by == START + timedelta(hours=4) < before.report_by
    # A lower-tier repeat changes nothing but the count.
    with book.db.transaction() as conn:
        quiet = book.record_alert(conn, make_alert(detected_at=START + timedelta(hours=2)), START)
    assert quiet.event is None and quiet.case.severity is Severity.ESPECIALLY_MAJOR


def _walk_to(book: CaseBook, case_id: int, target: CaseState, clock: FakeClock) -> None:
    path = {
        CaseState.NEW: [],
        CaseState.ACKNOWLEDGED: [CaseState.ACKNOWLEDGED],
        CaseState.IN_PROGRESS: [CaseState.ACKNOWLEDGED, CaseState.IN_PROGRESS],
        CaseState.REPLIED: [CaseState.ACKNOWLEDGED, CaseState.IN_PROGRESS, CaseState.REPLIED],
        CaseState.CLOSED: [CaseState.ACKNOWLEDGED, CaseState.CLOSED],
        CaseState.ARCHIVED: [CaseState.ACKNOWLEDGED, CaseState.CLOSED, CaseState.ARCHIVED],
    }[target]
    for step in path:
        _move(book, case_id, step, clock)


def _move(book: CaseBook, case_id: int, to: CaseState, clock: FakeClock) -> None:
    if to is CaseState.CLOSED:
        book.close(case_id, Resolution.RESOLVED, "已处置完毕", "tester", clock())
    elif to is CaseState.REPLIED:
        book.reply(case_id, "已在论坛发布情况说明", "tester", clock())
    else:
        book.transition(case_id, to, "tester", clock())


@pytest.mark.parametrize(
    ("source", "target"), list(itertools.product(list(CaseState), list(CaseState)))
)
def test_state_machine_follows_its_table(
    book: CaseBook, clock: FakeClock, source: CaseState, target: CaseState
) -> None:
    case_id = record(book)
    _walk_to(book, case_id, source, clock)
    assert book.get(case_id).state is source
    events = len(book.events(case_id))
    if target in TRANSITIONS[source]:
        _move(book, case_id, target, clock)
        assert book.get(case_id).state is target
        assert book.events(case_id)[-1].detail["to"] == target.value
    else:
        with pytest.raises(TransitionError, match=f"cannot go to {target.value}; allowed"):
            _move(book, case_id, target, clock)
        assert book.get(case_id).state is source
        assert len(book.events(case_id)) == events


@pytest.mark.parametrize(
    ("resolution", "summary", "message"),
    [("resolved", "  ", "needs a summary"), ("solved", "ok", "unknown resolution")],
)
def test_closing_needs_a_resolution_and_a_summary(
    book: CaseBook, clock: FakeClock, resolution: str, summary: str, message: str
) -> None:
    case_id = record(book)
    book.acknowledge(case_id, "office", clock())
    with pytest.raises(CaseError, match=message):
        book.close(case_id, resolution, summary, "office", clock())
    assert book.get(case_id).state is CaseState.ACKNOWLEDGED


def test_assign_moves_an_acknowledged_case_into_progress(book: CaseBook, clock: FakeClock) -> None:
    case_id = record(book)
    with pytest.raises(TransitionError, match="acknowledge it first"):
        book.assign(case_id, "李老师", "office", clock())
    book.acknowledge(case_id, "office", clock())
    case = book.assign(case_id, "李老师", "office", clock(), unit="student-affairs")
    assert (case.state, case.assignee, case.unit) == (
        CaseState.IN_PROGRESS,
        "李老师",
        "student-affairs",
    )
    case = book.assign(case_id, "赵老师", "office", clock())
    assert case.assignee == "赵老师"
    kinds = [(e.kind, e.actor) for e in book.events(case_id)]
    assert kinds[-2:] == [("transition", "office"), ("assigned", "office")]


def test_unknown_cases_are_reported(book: CaseBook, clock: FakeClock) -> None:
    with pytest.raises(CaseError, match="no case 42"):
        book.acknowledge(42, "office", clock())


def test_only_one_open_case_per_event_even_for_a_racing_writer(db: StateDB) -> None:
    book = CaseBook(db)
    record(book)
    with pytest.raises(sqlite3.IntegrityError), db.transaction() as conn:
        conn.execute(
            "INSERT INTO cases (rule, key, state, severity, title, detected_at, report_by, "
            "respond_by, last_seen_at, alert_id, created_at, updated_at) SELECT rule, key, "
            "'acknowledged', severity, title, detected_at, report_by, respond_by, last_seen_at, "
            "'other', created_at, updated_at FROM cases"
        )


def test_due_steps_near_due_then_overdue_each_once(book: CaseBook, clock: FakeClock) -> None:
    case_id = record(book, severity=Severity.ESPECIALLY_MAJOR)  # report 3 h, respond 1 day
    # Its special report (4 h) is made at once, so only these two deadlines are chased here
    # (the special report's own steps: test_escalation.py).
    book.special_report_made(case_id, "office", START)
    assert book.due_steps(START + timedelta(hours=2)) == []
    steps = book.due_steps(START + timedelta(hours=2, minutes=15))
    assert [s.step for s in steps] == ["report.near_due"]
    with book.db.transaction() as conn:
        assert book.mark_escalated(conn, steps[0], clock(), ["office"])
        assert not book.mark_escalated(conn, steps[0], clock(), ["office"])
    assert book.due_steps(START + timedelta(hours=2, minutes=30)) == []
    overdue = book.due_steps(START + timedelta(hours=3))
    assert [s.step for s in overdue] == ["report.overdue"]
    # Acknowledging satisfies the report deadline; the respond deadline still runs.
    book.acknowledge(case_id, "office", clock())
    late = book.due_steps(START + timedelta(days=2))
    assert [(s.step, s.superseded) for s in late] == [("respond.overdue", ("respond.near_due",))]
    with book.db.transaction() as conn:
        book.mark_escalated(conn, late[0], clock(), [])
    assert book.due_steps(START + timedelta(days=3)) == []
    assert [e.kind for e in book.events(case_id)].count("escalated") == 2


def test_closed_cases_stay_tracked_for_the_configured_days(
    book: CaseBook, clock: FakeClock
) -> None:
    case_id = record(book)
    book.acknowledge(case_id, "office", clock())
    book.close(case_id, "resolved", "已回复", "office", clock())
    assert [c.id for c in book.tracking(clock() + timedelta(days=6))] == [case_id]
    assert book.tracking(clock() + timedelta(days=8)) == []
