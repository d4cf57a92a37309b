"""Deadline changes on a case beyond its state machine: the special report (特报) made, and the
one extension of the reply deadline (DOMAIN.md §2, §5, §7). Called through ``CaseBook``."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

from alerts.cases import CaseBook, CaseError, TransitionError, utc_iso
from alerts.deadlines import DEFAULT_TIERS, DeadlineUnit, Span, add_span
from alerts.models import Case, CaseState


def _local(value: datetime, zone: str) -> str:
    return value.astimezone(ZoneInfo(zone)).strftime("%Y-%m-%d %H:%M")


def special_report_made(
    book: CaseBook, case_id: int, actor: str, now: datetime, report: str | None = None
) -> Case:
    """特报: record that the special report on this case was made (DOMAIN.md §7). The first
    one meets the deadline; later ones (续报) are recorded in the audit trail only."""
    with book.db.transaction() as conn:
        case = book.load(conn, case_id)
        first = case.special_report_at is None
        if first:
            conn.execute(
                "UPDATE cases SET special_report_at = ?, updated_at = ? WHERE id = ?",
                (utc_iso(now), utc_iso(now), case_id),
            )
        # Late only for the first one: a follow-up (续报) after the deadline is not late.
        late = first and case.special_report_by is not None and now > case.special_report_by
        book.append_event(
            conn,
            case_id,
            "special_report",
            actor,
            now,
            {"report": report, "due": case.special_report_by, "late": late, "first": first},
        )
        return book.load(conn, case_id)


def extend(book: CaseBook, case_id: int, days: int, reason: str, actor: str, now: datetime) -> Case:
    """Extend the reply deadline once, by at most ``max_extension_days`` (DOMAIN.md §5: within
    3 days, at most 5 with an extension); working days if the tier counts working days."""
    if not reason.strip():
        raise CaseError("an extension needs its reason (why the reply needs more time)")
    if not 1 <= days <= book.max_extension_days:
        raise CaseError(
            f"an extension is 1 to {book.max_extension_days} days, not {days} "
            "(cases.max_extension_days)"
        )
    with book.db.transaction() as conn:
        case = book.load(conn, case_id)
        if case.extended_at is not None:
            raise TransitionError(
                f"case {case.ref} was extended already on {_local(case.extended_at, book.zone)} "
                f"({case.extension_reason}); a deadline is extended once"
            )
        if case.state not in (CaseState.NEW, CaseState.ACKNOWLEDGED, CaseState.IN_PROGRESS):
            raise TransitionError(
                f"case {case.ref} is {case.state.value}: only a case still to be replied "
                "to can have its reply deadline extended"
            )
        tier = (book.tiers or DEFAULT_TIERS).get(case.severity) or DEFAULT_TIERS[case.severity]
        unit = (
            DeadlineUnit.WORKING_DAYS
            if tier.respond.unit is DeadlineUnit.WORKING_DAYS
            else DeadlineUnit.DAYS
        )
        respond_by = add_span(case.respond_by, Span(amount=days, unit=unit), book.zone)
        conn.execute(
            "UPDATE cases SET respond_by = ?, extended_at = ?, extension_reason = ?, "
            "updated_at = ? WHERE id = ?",
            (utc_iso(respond_by), utc_iso(now), reason.strip(), utc_iso(now), case_id),
        )
        # The new deadline is chased afresh: its near-due and overdue steps are re-armed
        # (the audit trail keeps the ones already sent).
        rearmed = [
            r["step"]
            for r in conn.execute(
                "SELECT step FROM escalations WHERE case_id = ? AND step LIKE 'respond.%'",
                (case_id,),
            )
        ]
        conn.execute(
            "DELETE FROM escalations WHERE case_id = ? AND step LIKE 'respond.%'", (case_id,)
        )
        book.append_event(
            conn,
            case_id,
            "extended",
            actor,
            now,
            {
                "days": days,
                "unit": unit.value,
                "reason": reason.strip(),
                "from": case.respond_by,
                "to": respond_by,
                "rearmed": rearmed,
            },
        )
        return book.load(conn, case_id)
