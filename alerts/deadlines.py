"""Case deadlines from the severity tier (DOMAIN.md §2, ALERTING.md C3), counted from detection.

Spans are in hours, calendar days or Chinese working days (public holidays and make-up working
days 调休 from the ``chinesecalendar`` package); computed in an explicit zone, returned in UTC.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from enum import StrEnum
from typing import Any, Protocol
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import chinese_calendar
from pydantic import BaseModel, ConfigDict, Field

from core.post import Severity

log = logging.getLogger(__name__)

DEFAULT_ZONE = "Asia/Shanghai"


class DeadlineUnit(StrEnum):
    HOURS = "hours"
    DAYS = "days"
    WORKING_DAYS = "working_days"


class Span(BaseModel):
    """A length of time: ``amount`` of ``unit`` (e.g. 1 working day, 3 hours)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    amount: float = Field(gt=0)
    unit: DeadlineUnit


class TierDeadlines(BaseModel):
    """For one tier: report to leadership (上报) and first response (首次回应) spans, and the
    special report (特报) a major event owes (DOMAIN.md §2; None: no special report due)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    report: Span
    respond: Span
    special_report: Span | None = None


def _span(amount: float, unit: DeadlineUnit) -> Span:
    return Span(amount=amount, unit=unit)


# DOMAIN.md §2; institutions override these through their severity-tier settings.
DEFAULT_TIERS: dict[Severity, TierDeadlines] = {
    Severity.GENERAL: TierDeadlines(
        report=_span(1, DeadlineUnit.WORKING_DAYS), respond=_span(3, DeadlineUnit.WORKING_DAYS)
    ),
    Severity.MAJOR: TierDeadlines(
        report=_span(1, DeadlineUnit.DAYS),
        respond=_span(2, DeadlineUnit.WORKING_DAYS),
        special_report=_span(4, DeadlineUnit.HOURS),
    ),
    Severity.ESPECIALLY_MAJOR: TierDeadlines(
        report=_span(3, DeadlineUnit.HOURS),
        respond=_span(1, DeadlineUnit.DAYS),
        special_report=_span(4, DeadlineUnit.HOURS),
    ),
}


class _SpanLike(Protocol):
    @property
    def amount(self) -> float: ...

    @property
    def unit(self) -> Any: ...


@dataclass(frozen=True)
class Deadlines:
    """When the case must be reported and first answered, in UTC."""

    report_by: datetime
    respond_by: datetime
    special_report_by: datetime | None = None


class DeadlineError(ValueError):
    """A deadline setting cannot be used (unknown unit, unknown zone, ...)."""


def zone_of(name: str) -> ZoneInfo:
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise DeadlineError(
            f"unknown time zone {name!r}: use an IANA name such as {DEFAULT_ZONE!r}"
        ) from exc


def is_working_day(day: date) -> bool:
    """True on Chinese working days, including make-up Saturdays/Sundays (调休)."""
    try:
        return bool(chinese_calendar.is_workday(day))
    except NotImplementedError:
        # The package covers the years the State Council has announced; beyond them the best
        # guess is Monday to Friday, which is what the office would assume too.
        log.warning("no holiday calendar for %s; counting Monday-Friday as working days", day.year)
        return day.weekday() < 5


def _midnight_after(day: date, zone: ZoneInfo) -> datetime:
    nxt = day + timedelta(days=1)
    return datetime(nxt.year, nxt.month, nxt.day, tzinfo=zone)


def _add_working_days(start: datetime, amount: float, zone: ZoneInfo) -> datetime:
    """Advance until ``amount`` whole working days (24 h each) have elapsed.

    Time on non-working days does not count, so Friday 15:00 + 1 working day is the next
    working day at 15:00, and a Saturday detection starts counting at the next working day.
    """
    remaining = timedelta(days=amount)
    cursor = start.astimezone(zone)
    while True:
        day_end = _midnight_after(cursor.date(), zone)
        if is_working_day(cursor.date()):
            available = day_end.astimezone(UTC) - cursor.astimezone(UTC)
            if remaining <= available:
                return (cursor.astimezone(UTC) + remaining).astimezone(UTC)
            remaining -= available
        cursor = day_end


def add_span(start: datetime, span: _SpanLike, zone: ZoneInfo | str = DEFAULT_ZONE) -> datetime:
    """``start`` plus ``span`` in ``zone``; ``start`` must be aware; the result is UTC."""
    if start.tzinfo is None:
        raise DeadlineError("naive datetime: give a time zone (stored times are UTC)")
    tz = zone_of(zone) if isinstance(zone, str) else zone
    unit = DeadlineUnit(str(getattr(span.unit, "value", span.unit)))
    amount = float(span.amount)
    if amount <= 0:
        raise DeadlineError(f"a deadline must be positive, got {amount} {unit}")
    if unit is DeadlineUnit.HOURS:
        return (start + timedelta(hours=amount)).astimezone(UTC)
    if unit is DeadlineUnit.DAYS:
        # Calendar days on the local wall clock, so "1 day" stays "same time tomorrow".
        local = start.astimezone(tz)
        naive = local.replace(tzinfo=None) + timedelta(days=amount)
        return naive.replace(tzinfo=tz).astimezone(UTC)
    return _add_working_days(start, amount, tz)


def tiers_from(settings_tiers: Mapping[Any, Any] | object | None) -> dict[Severity, TierDeadlines]:
    """Accept tier deadlines from settings: any mapping of tier -> object or dict with
    ``report``/``respond`` spans (``amount`` + ``unit``); missing tiers keep the defaults."""
    tiers = dict(DEFAULT_TIERS)
    # core.settings.Tiers knows each tier's special report (its own, or the shared one).
    special_for = getattr(settings_tiers, "special_report_for", None)
    if settings_tiers is not None and not isinstance(settings_tiers, Mapping):
        # core.settings.Tiers: one attribute per tier.
        settings_tiers = {
            s: getattr(settings_tiers, s.value)
            for s in Severity
            if getattr(settings_tiers, s.value, None) is not None
        }
    for key, value in (settings_tiers or {}).items():
        try:
            tier = Severity(str(getattr(key, "value", key)))
        except ValueError as exc:
            raise DeadlineError(
                f"unknown severity tier {key!r}: use one of {', '.join(s.value for s in Severity)}"
            ) from exc
        raw = (
            value
            if isinstance(value, Mapping)
            else {
                "report": getattr(value, "report", None),
                "respond": getattr(value, "respond", None),
            }
        )
        spans: dict[str, Span | None] = {}
        if callable(special_for):
            spans["special_report"] = _span_of(special_for(tier), tier, "special_report")
        elif "special_report" in raw:  # a mapping: null means no special report for this tier
            spans["special_report"] = _span_of(raw["special_report"], tier, "special_report")
        else:
            spans["special_report"] = tiers[tier].special_report
        for name in ("report", "respond"):
            part = raw.get(name)
            spans[name] = getattr(tiers[tier], name) if part is None else _span_of(part, tier, name)
        tiers[tier] = TierDeadlines.model_validate(spans)
    return tiers


def _span_of(part: Any, tier: Severity, name: str) -> Span | None:
    """One deadline of a tier from a mapping or a settings object; None stays None."""
    if part is None:
        return None
    fields = (
        part
        if isinstance(part, Mapping)
        else {"amount": getattr(part, "amount", None), "unit": getattr(part, "unit", None)}
    )
    unit = fields.get("unit")
    try:
        return Span(
            amount=fields.get("amount"), unit=DeadlineUnit(str(getattr(unit, "value", unit)))
        )
    except ValueError as exc:
        raise DeadlineError(
            f"tier {tier.value}: bad {name} deadline {fields!r}: give an amount > 0 "
            "and a unit of hours, days or working_days"
        ) from exc


def deadlines_for(
    severity: Severity,
    detected_at: datetime,
    tiers: Mapping[Severity, TierDeadlines] | None = None,
    zone: ZoneInfo | str = DEFAULT_ZONE,
) -> Deadlines:
    """The report and respond deadlines of a ``severity`` case detected at ``detected_at``."""
    spec = (tiers or DEFAULT_TIERS).get(severity) or DEFAULT_TIERS[severity]
    return Deadlines(
        report_by=add_span(detected_at, spec.report, zone),
        respond_by=add_span(detected_at, spec.respond, zone),
        special_report_by=add_span(detected_at, spec.special_report, zone)
        if spec.special_report
        else None,
    )
