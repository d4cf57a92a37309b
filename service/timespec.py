"""The times people type on the command line and in the API: dates, date-times and "24h ago"."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

_RELATIVE = re.compile(r"^(\d+)\s*(m|min|h|d|w)$")
_UNITS = {"m": "minutes", "min": "minutes", "h": "hours", "d": "days", "w": "weeks"}


def parse_when(text: str, tz: ZoneInfo, *, now: datetime | None = None) -> datetime:
    """``2026-03-01``, ``2026-03-01 08:30``, an ISO time with offset, or ``30m``/``24h``/``7d``
    (that long ago). A time without a zone is in the institution's zone. Returns UTC."""
    value = text.strip()
    m = _RELATIVE.match(value.lower())
    if m:
        delta = timedelta(**{_UNITS[m.group(2)]: int(m.group(1))})
        return (now or datetime.now(UTC)) - delta
    try:
        parsed = datetime.fromisoformat(value.replace("/", "-"))
    except ValueError:
        raise ValueError(
            f"{text!r} is not a time: use 2026-03-01, '2026-03-01 08:30', or 24h / 7d for "
            "that long ago"
        ) from None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=tz)
    return parsed.astimezone(UTC)
