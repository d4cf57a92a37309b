"""Small value types of the settings (ids, durations, deadlines, times of day, URLs) with the
forms people write in YAML and error messages that say what to write instead."""

from __future__ import annotations

import ipaddress
import re
from datetime import time, timedelta
from typing import Annotated, Any, Literal
from urllib.parse import urlsplit

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    WithJsonSchema,
    model_validator,
)


class Model(BaseModel):
    """Settings models refuse unknown keys (a typo must not silently do nothing) and are frozen.
    Numbers are taken as text where text is expected: a word list may hold 110 or 985."""

    model_config = ConfigDict(extra="forbid", frozen=True, coerce_numbers_to_str=True)


_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")


def _check_id(value: str) -> str:
    if not _ID.match(value):
        raise ValueError(
            f"{value!r} is not a valid id — use ASCII letters, digits, '-', '_' or '.' "
            "(ids appear in commands and URLs; put the Chinese name in `name`)"
        )
    return value


Id = Annotated[str, AfterValidator(_check_id)]

_DURATION_PART = re.compile(r"(\d+(?:\.\d+)?)\s*(w|d|h|m|s|min)", re.IGNORECASE)
_UNIT_SECONDS = {"w": 604800, "d": 86400, "h": 3600, "m": 60, "min": 60, "s": 1}


def parse_duration(value: Any) -> Any:
    """ "90s", "30m", "2h", "1d", "1h30m" or a number of seconds; a timedelta passes through."""
    if isinstance(value, bool):
        raise ValueError("expected a duration such as 30m, 2h or 1d, got true/false")
    if isinstance(value, int | float):
        return timedelta(seconds=value)
    if not isinstance(value, str):
        return value
    text = value.strip().replace(" ", "")
    if re.match(r"^-?P", text):  # ISO 8601 (PT1H), as dumped: pydantic reads it
        return text
    parts = _DURATION_PART.findall(text)
    if not parts or "".join(n + u for n, u in parts).lower() != text.lower():
        raise ValueError(f"{value!r} is not a duration — write e.g. 90s, 30m, 2h, 1d or 1h30m")
    return timedelta(seconds=sum(float(n) * _UNIT_SECONDS[u.lower()] for n, u in parts))


def _positive(value: timedelta) -> timedelta:
    if value <= timedelta(0):
        raise ValueError("a duration must be longer than zero")
    return value


DURATION_SCHEMA = {
    "anyOf": [
        {"type": "string", "pattern": r"^(\s*\d+(\.\d+)?\s*(w|d|h|m|min|s)\s*)+$"},
        {"type": "string", "pattern": "^P"},
        {"type": "number", "exclusiveMinimum": 0},
    ],
    "description": "a duration: 90s, 30m, 2h, 1d, 1h30m, ISO 8601 (PT1H) or seconds",
}
Duration = Annotated[
    timedelta,
    BeforeValidator(parse_duration),
    AfterValidator(_positive),
    WithJsonSchema(DURATION_SCHEMA),
]


_DEADLINE_UNITS = {
    "h": "hours",
    "hour": "hours",
    "hours": "hours",
    "小时": "hours",
    "d": "days",
    "day": "days",
    "days": "days",
    "天": "days",
    "日": "days",
    "working_day": "working_days",
    "working_days": "working_days",
    "working day": "working_days",
    "working days": "working_days",
    "wd": "working_days",
    "工作日": "working_days",
    "个工作日": "working_days",
}


class Deadline(Model):
    """A deadline: ``amount`` of ``unit``; working days skip weekends and public holidays and
    count make-up working days (调休), as the office's rules do. Written "1 working_day",
    "3 hours", "2d" or as a mapping."""

    amount: int = Field(ge=1)
    unit: Literal["hours", "days", "working_days"]

    @model_validator(mode="before")
    @classmethod
    def _shorthand(cls, value: Any) -> Any:
        if not isinstance(value, str):
            return value
        match = re.match(r"^\s*(\d+)\s*(\S.*?)\s*$", value)
        unit = _DEADLINE_UNITS.get(match.group(2).lower()) if match else None
        if match is None or unit is None:
            raise ValueError(
                f"{value!r} is not a deadline — write e.g. '3 hours', '1 day' or '2 working_days'"
            )
        return {"amount": int(match.group(1)), "unit": unit}

    def __str__(self) -> str:
        unit = self.unit if self.amount != 1 else self.unit.removesuffix("s")
        return f"{self.amount} {unit}"


def parse_time_of_day(value: Any) -> Any:
    """ "17:00" or "8:30"; the loader keeps 17:00 a string (YAML 1.1 would make it 1020)."""
    if isinstance(value, str) and re.match(r"^\s*\d{1,2}:\d{2}(:\d{2})?\s*$", value):
        hour, minute, *second = (int(x) for x in value.strip().split(":"))
        if hour > 23 or minute > 59 or (second and second[0] > 59):
            raise ValueError(f"{value!r} is not a time of day — write HH:MM, e.g. 17:00")
        return time(hour, minute, second[0] if second else 0)
    if isinstance(value, str):
        raise ValueError(f"{value!r} is not a time of day — write HH:MM, e.g. 17:00")
    return value


TimeOfDay = Annotated[
    time,
    BeforeValidator(parse_time_of_day),
    WithJsonSchema({"type": "string", "pattern": r"^\d{1,2}:\d{2}(:\d{2})?$"}),
]

_WEEKDAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
_CHINESE_DAYS = "一二三四五六日"


def _weekday(value: Any) -> Any:
    if isinstance(value, int) and not isinstance(value, bool) and 1 <= value <= 7:
        return _WEEKDAYS[value - 1]
    if isinstance(value, str):
        text = value.strip().lower()
        for prefix in ("星期", "周", "礼拜"):
            if text.startswith(prefix) and text[len(prefix) :] in (*_CHINESE_DAYS, "天"):
                day = text[len(prefix) :].replace("天", "日")
                return _WEEKDAYS[_CHINESE_DAYS.index(day)]
        for name in _WEEKDAYS:
            if len(text) >= 3 and name.startswith(text):
                return name
    return value


Weekday = Annotated[
    Literal["monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday"],
    BeforeValidator(_weekday),
]


def check_http_url(value: str) -> str:
    parts = urlsplit(value.strip())
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError(
            f"{value!r} is not an http(s) URL — write e.g. https://bbs.example.edu.cn/"
        )
    return value.strip()


def is_private_host(host: str) -> bool:
    """A loopback, private or link-local literal address, or localhost. Names that merely
    resolve to such addresses are caught when connecting, not here."""
    host = host.strip("[]").lower()
    if host == "localhost" or host.endswith(".localhost"):
        return True
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return False
    return address.is_private or address.is_loopback or address.is_link_local


def check_cron(value: str) -> str:
    """A 5-field crontab line, checked with the scheduler that will run it."""
    # Imported here: APScheduler is heavy and only this check needs it at load time.
    from apscheduler.triggers.cron import CronTrigger

    if len(value.split()) != 5:
        raise ValueError(
            f"{value!r} is not a 5-field cron line (minute hour day month weekday) — "
            "e.g. '0 8 * * *' for 08:00 daily"
        )
    try:
        CronTrigger.from_crontab(value, timezone="UTC")
    except ValueError as exc:
        raise ValueError(f"{value!r} is not a valid cron line: {exc}") from None
    return value
