"""Deadlines from the tier, in hours, days and Chinese working days with holidays (C3, R6)."""

from __future__ import annotations

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import pytest

from alerts.deadlines import (
    DEFAULT_TIERS,
    DeadlineError,
    DeadlineUnit,
    Span,
    add_span,
    deadlines_for,
    is_working_day,
    tiers_from,
)
from core.post import Severity

SH = ZoneInfo("Asia/Shanghai")


def bj(year: int, month: int, day: int, hour: int, minute: int) -> datetime:
    return datetime(year, month, day, hour, minute, tzinfo=SH)


@pytest.mark.parametrize(
    ("start", "amount", "unit", "expected"),
    [
        # hours: plain elapsed time, also across local midnight
        (bj(2026, 11, 18, 22, 30), 3, "hours", bj(2026, 11, 19, 1, 30)),
        # calendar days ignore weekends and holidays
        (bj(2026, 9, 30, 16, 0), 1, "days", bj(2026, 10, 1, 16, 0)),
        # working day on a Wednesday: same time the next day
        (bj(2026, 11, 18, 10, 0), 1, "working_days", bj(2026, 11, 19, 10, 0)),
        # Friday afternoon: the weekend does not count
        (bj(2026, 11, 20, 15, 0), 1, "working_days", bj(2026, 11, 23, 15, 0)),
        # detected on a Saturday: counting starts Monday 00:00
        (bj(2026, 11, 21, 10, 0), 1, "working_days", bj(2026, 11, 24, 0, 0)),
        # just before local midnight on a working day
        (bj(2026, 11, 18, 23, 59), 1, "working_days", bj(2026, 11, 19, 23, 59)),
        # National Day 2026: Oct 1-7 off, Oct 10 (Saturday) is a make-up working day
        (bj(2026, 9, 30, 16, 0), 1, "working_days", bj(2026, 10, 8, 16, 0)),
        (bj(2026, 9, 30, 16, 0), 3, "working_days", bj(2026, 10, 10, 16, 0)),
        # Sunday Sep 20 2026 is a make-up working day before the holiday
        (bj(2026, 9, 19, 12, 0), 1, "working_days", bj(2026, 9, 21, 0, 0)),
        # Spring Festival 2026: Feb 15-23 off; Saturday Feb 14 is a make-up working day
        (bj(2026, 2, 13, 18, 0), 1, "working_days", bj(2026, 2, 14, 18, 0)),
        (bj(2026, 2, 14, 18, 0), 1, "working_days", bj(2026, 2, 24, 18, 0)),
        (bj(2026, 2, 16, 9, 0), 2, "working_days", bj(2026, 2, 26, 0, 0)),
        # half a working day
        (bj(2026, 11, 18, 10, 0), 0.5, "working_days", bj(2026, 11, 18, 22, 0)),
    ],
)
def test_add_span(start: datetime, amount: float, unit: str, expected: datetime) -> None:
    result = add_span(start, Span(amount=amount, unit=DeadlineUnit(unit)))
    assert result == expected
    assert result.tzinfo == UTC


def test_calendar_knows_the_make_up_days() -> None:
    assert is_working_day(bj(2026, 10, 10, 0, 0).date())  # Saturday, make-up
    assert not is_working_day(bj(2026, 10, 5, 0, 0).date())  # Monday, holiday


def test_years_without_a_published_calendar_count_monday_to_friday() -> None:
    # 2099 is beyond the package's data: Friday -> Monday.
    assert add_span(bj(2099, 1, 2, 9, 0), Span(amount=1, unit=DeadlineUnit.WORKING_DAYS)) == bj(
        2099, 1, 5, 9, 0
    )


@pytest.mark.parametrize(
    ("severity", "report", "respond"),
    [
        # DOMAIN.md §2 defaults, detected Friday 2026-11-20 15:00 Beijing
        (Severity.GENERAL, bj(2026, 11, 23, 15, 0), bj(2026, 11, 25, 15, 0)),
        (Severity.MAJOR, bj(2026, 11, 21, 15, 0), bj(2026, 11, 24, 15, 0)),
        (Severity.ESPECIALLY_MAJOR, bj(2026, 11, 20, 18, 0), bj(2026, 11, 21, 15, 0)),
    ],
)
def test_default_tiers(severity: Severity, report: datetime, respond: datetime) -> None:
    due = deadlines_for(severity, bj(2026, 11, 20, 15, 0).astimezone(UTC))
    assert (due.report_by, due.respond_by) == (report, respond)


def test_tiers_are_configurable_per_institution() -> None:
    tiers = tiers_from({"general": {"report": {"amount": 4, "unit": "hours"}}})
    assert tiers[Severity.GENERAL].report == Span(amount=4, unit=DeadlineUnit.HOURS)
    assert tiers[Severity.GENERAL].respond == DEFAULT_TIERS[Severity.GENERAL].respond
    due = deadlines_for(Severity.GENERAL, bj(2026, 11, 20, 15, 0), tiers)
    assert due.report_by == bj(2026, 11, 20, 19, 0)


def test_zone_is_explicit() -> None:
    # Friday 10:00 UTC is a working day in both zones; Friday 17:00 UTC is already Saturday in
    # Beijing, so there one working day ends on Monday night instead.
    start = datetime(2026, 11, 20, 10, 0, tzinfo=UTC)
    span = Span(amount=1, unit=DeadlineUnit.WORKING_DAYS)
    assert add_span(start, span, "Asia/Shanghai") == datetime(2026, 11, 23, 10, 0, tzinfo=UTC)
    assert add_span(start, span, "Europe/London") == datetime(2026, 11, 23, 10, 0, tzinfo=UTC)
    saturday_bj = datetime(2026, 11, 20, 17, 0, tzinfo=UTC)  # Sat 01:00 Beijing, Fri in London
    assert add_span(saturday_bj, span, "Asia/Shanghai") == bj(2026, 11, 24, 0, 0)
    assert add_span(saturday_bj, span, "Europe/London") == datetime(2026, 11, 23, 17, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("bad", "message"),
    [
        ({"general": {"report": {"amount": 0, "unit": "hours"}}}, "amount > 0"),
        ({"general": {"report": {"amount": 1, "unit": "weeks"}}}, "working_days"),
        ({"urgent": {}}, "unknown severity tier"),
    ],
)
def test_bad_tier_settings_are_refused_clearly(bad: dict[str, object], message: str) -> None:
    with pytest.raises(DeadlineError, match=message):
        tiers_from(bad)


def test_naive_times_and_unknown_zones_are_refused() -> None:
    span = Span(amount=1, unit=DeadlineUnit.HOURS)
    with pytest.raises(DeadlineError, match="naive"):
        add_span(datetime(2026, 1, 1), span)
    with pytest.raises(DeadlineError, match="unknown time zone"):
        add_span(datetime(2026, 1, 1, tzinfo=UTC), span, "Mars/Olympus")


def test_tiers_from_the_institution_settings() -> None:
    from core.settings import Tiers

    tiers = tiers_from(Tiers.model_validate({"general": {"report": "2 hours"}}))
    assert tiers[Severity.GENERAL].report == Span(amount=2, unit=DeadlineUnit.HOURS)
    assert tiers[Severity.MAJOR] == DEFAULT_TIERS[Severity.MAJOR]
