"""Times as Chinese sites print them ("2026-11-20 14:32", "昨天 08:15", "3 分钟前", epoch
numbers), read in the institution's zone and returned in UTC."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

DEFAULT_ZONE = ZoneInfo("Asia/Shanghai")

_FULL = re.compile(
    r"(?P<y>\d{4})\s*[-/.年]\s*(?P<m>\d{1,2})\s*[-/.月]\s*(?P<d>\d{1,2})\s*日?"
    r"(?:\s*T?\s*(?P<H>\d{1,2})\s*[:：时]\s*(?P<M>\d{1,2})(?:\s*[:：分]\s*(?P<S>\d{1,2}))?)?"
)
_NO_YEAR = re.compile(
    r"(?<!\d)(?P<m>\d{1,2})\s*[-/月]\s*(?P<d>\d{1,2})\s*日?"
    r"(?:\s+(?P<H>\d{1,2})\s*[:：]\s*(?P<M>\d{2}))?(?!\d)"
)
_CLOCK = re.compile(r"^(?P<H>\d{1,2})\s*[:：]\s*(?P<M>\d{2})(?:\s*[:：]\s*(?P<S>\d{2}))?$")
_DAY_WORD = re.compile(r"(?P<word>今天|昨天|前天)\s*(?:(?P<H>\d{1,2})\s*[:：]\s*(?P<M>\d{2}))?")
_AGO = re.compile(r"(?P<n>\d+|半|一|两|几)\s*(?P<unit>秒|分钟|小时|个小时|天|周|个月)\s*前")
_UNIT = {
    "秒": 1,
    "分钟": 60,
    "小时": 3600,
    "个小时": 3600,
    "天": 86400,
    "周": 604800,
    "个月": 2592000,
}
_WORDS = {"半": 0.5, "一": 1, "两": 2, "几": 3}
_ISO_ZONE = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}:?\d{2})$")


def parse_time(
    value: object, *, zone: ZoneInfo = DEFAULT_ZONE, now: datetime | None = None
) -> datetime | None:
    """A UTC datetime from what a page shows, read in ``zone`` when it names none; else None.

    ``now`` anchors relative forms (昨天, 3 分钟前, a bare month-day) and defaults to the clock.
    Numbers are Unix times in seconds or, when too large for that, milliseconds.
    """
    current = (now or datetime.now(UTC)).astimezone(zone)
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, int | float):
        seconds = float(value) / 1000 if value > 1e11 else float(value)
        try:
            return datetime.fromtimestamp(seconds, UTC)
        except (OverflowError, OSError, ValueError):
            return None
    text = str(value).strip()
    if not text:
        return None
    if text.isdigit() and len(text) in (10, 13):
        return parse_time(int(text), zone=zone, now=now)
    if _ISO_ZONE.match(text):
        return datetime.fromisoformat(text.replace("Z", "+00:00")).astimezone(UTC)
    return _parse_local(text, zone, current)


def _at(
    zone: ZoneInfo, y: int, m: int, d: int, hh: int = 0, mm: int = 0, ss: int = 0
) -> datetime | None:
    try:
        return datetime(y, m, d, hh, mm, ss, tzinfo=zone).astimezone(UTC)
    except ValueError:
        return None


def _parse_local(text: str, zone: ZoneInfo, current: datetime) -> datetime | None:
    if "刚刚" in text:
        return current.astimezone(UTC)
    match = _AGO.search(text)
    if match:
        n = match.group("n")
        count = _WORDS[n] if n in _WORDS else int(n)
        return (current - timedelta(seconds=count * _UNIT[match.group("unit")])).astimezone(UTC)
    match = _DAY_WORD.search(text)
    if match:
        day = current - timedelta(days={"今天": 0, "昨天": 1, "前天": 2}[match.group("word")])
        return _at(
            zone,
            day.year,
            day.month,
            day.day,
            int(match.group("H") or 0),
            int(match.group("M") or 0),
        )
    match = _FULL.search(text)
    if match:
        g = match.groupdict()
        return _at(
            zone,
            int(g["y"]),
            int(g["m"]),
            int(g["d"]),
            int(g["H"] or 0),
            int(g["M"] or 0),
            int(g["S"] or 0),
        )
    match = _CLOCK.match(text)
    if match:
        return _at(
            zone,
            current.year,
            current.month,
            current.day,
            int(match.group("H")),
            int(match.group("M")),
            int(match.group("S") or 0),
        )
    match = _NO_YEAR.search(text)
    if match:
        g = match.groupdict()
        found = _at(
            zone, current.year, int(g["m"]), int(g["d"]), int(g["H"] or 0), int(g["M"] or 0)
        )
        # "12-30" read on 1 January was last year, not eleven months ahead.
        if found is not None and found > current.astimezone(UTC) + timedelta(days=1):
            found = _at(
                zone, current.year - 1, int(g["m"]), int(g["d"]), int(g["H"] or 0), int(g["M"] or 0)
            )
        return found
    return None
