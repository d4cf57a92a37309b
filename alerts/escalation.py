"""Which escalation (督办) steps a case has reached (ALERTING.md C4, DOMAIN.md §5): near-due,
overdue and, if still late, reported to leadership — for each of its deadlines. Pure: the
case book supplies the cases and the steps already taken, and records the ones it takes."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from alerts.deadlines import DEFAULT_ZONE, Span, add_span
from alerts.models import Case, CaseState

# The deadlines that are chased, in the order their steps are listed.
KINDS = ("report", "respond", "special_report")
STAGES = ("near_due", "overdue", "still_late")


@dataclass(frozen=True)
class DueStep:
    case: Case
    step: str  # "<deadline>.<stage>", e.g. "respond.overdue", "special_report.still_late"
    due: datetime  # the deadline itself (for still_late too: it is what was missed)
    superseded: tuple[str, ...]  # earlier steps passed unseen (e.g. while the daemon was down)


def pending(case: Case, kind: str) -> datetime | None:
    """The deadline ``kind`` of an open ``case`` while it is still to be met, else None."""
    if kind == "report" and case.state is CaseState.NEW:
        return case.report_by  # met once the case is acknowledged
    if kind == "respond" and case.state in (
        CaseState.NEW,
        CaseState.ACKNOWLEDGED,
        CaseState.IN_PROGRESS,
    ):
        return case.respond_by  # met once replied
    if kind == "special_report" and case.special_report_at is None:
        return case.special_report_by  # met once `yuqing report special --case` made it
    return None


def steps_due(
    cases: Iterable[Case],
    taken: set[tuple[int, str]],
    now: datetime,
    near_due_fraction: float,
    still_late: Span | None = None,
    zone: str = DEFAULT_ZONE,
) -> list[DueStep]:
    """For each open case and deadline, the latest stage reached by ``now`` and not yet taken;
    the earlier stages not taken either are superseded (sent as one, not three)."""
    found: list[DueStep] = []
    for case in cases:
        for kind in KINDS:
            due = pending(case, kind)
            if due is None:
                continue
            reached = []
            if now >= case.detected_at + (due - case.detected_at) * near_due_fraction:
                reached.append("near_due")
            if now >= due:
                reached.append("overdue")
            if still_late is not None and now >= add_span(due, still_late, zone):
                reached.append("still_late")
            if not reached or (case.id, f"{kind}.{reached[-1]}") in taken:
                continue
            skipped = tuple(
                f"{kind}.{stage}"
                for stage in reached[:-1]
                if (case.id, f"{kind}.{stage}") not in taken
            )
            found.append(DueStep(case, f"{kind}.{reached[-1]}", due, skipped))
    return found
