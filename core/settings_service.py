"""Settings of the running service: severity tiers and their deadlines, reports, cases and
their escalation, alert-storm limits, and the HTTP API's listen address and tokens."""

from __future__ import annotations

from datetime import time, timedelta
from typing import Any, Literal

from pydantic import Field, SecretStr, ValidationInfo, field_validator, model_validator

from core.post import Severity
from core.settings_types import Deadline, Duration, Id, Model, TimeOfDay, Weekday


class Tier(Model):
    """A severity tier's display name and deadlines, counted from detection."""

    name: str = Field(min_length=1)
    report: Deadline  # to leadership
    respond: Deadline  # first public response
    special_report: Deadline | None = None  # 特报; None: `tiers.special_report` for major and up


# DOMAIN.md §2; each institution may change any of them.
DEFAULT_TIERS: dict[str, dict[str, str]] = {
    "general": {"name": "一般", "report": "1 working_day", "respond": "3 working_days"},
    "major": {"name": "重大", "report": "1 day", "respond": "2 working_days"},
    "especially_major": {"name": "特别重大", "report": "3 hours", "respond": "1 day"},
}


def _tier_defaults(value: Any) -> Any:
    """A tier given in part keeps its own defaults (not another tier's) for the rest."""
    if not isinstance(value, dict):
        return value
    merged: dict[str, Any] = dict(value)
    for key, defaults in DEFAULT_TIERS.items():
        given = merged.get(key)
        if given is None:
            merged[key] = dict(defaults)
        elif isinstance(given, dict):
            merged[key] = {**defaults, **given}
    return merged


class Tiers(Model):
    general: Tier
    major: Tier
    especially_major: Tier
    # 特报 after a major event (DOMAIN.md §2): for the major and especially-major tiers that do
    # not set their own.
    special_report: Deadline = Deadline(amount=4, unit="hours")
    # The severity score at which a post reaches a tier (analysis/severity.py's SeverityPolicy
    # fields of the same names); None keeps the analysis defaults.
    major_at: float | None = Field(default=None, gt=0)
    especially_major_at: float | None = Field(default=None, gt=0)

    @model_validator(mode="after")
    def _ordered(self) -> Tiers:
        low, high = self.major_at, self.especially_major_at
        if low is not None and high is not None and low >= high:
            raise ValueError("major_at must be below especially_major_at — swap them")
        return self

    @model_validator(mode="before")
    @classmethod
    def _fill(cls, data: Any) -> Any:
        return _tier_defaults(data)

    def by_severity(self) -> dict[Severity, Tier]:
        return {severity: self[severity] for severity in Severity}

    def special_report_for(self, severity: Severity | str) -> Deadline | None:
        """The special-report deadline of a tier: its own, else the shared one from major up."""
        own = self[severity].special_report
        if own is not None or Severity(severity) is Severity.GENERAL:
            return own
        return self.special_report

    def __getitem__(self, severity: Severity | str) -> Tier:
        tier: Tier = getattr(self, Severity(severity).value)
        return tier


class Reports(Model):
    daily_at: TimeOfDay = time(17, 0)  # DOMAIN.md §7: the daily collection by 17:00
    weekly_day: Weekday = "friday"
    weekly_at: TimeOfDay = time(17, 0)
    destinations: list[Id] = Field(default_factory=list)  # webhook ids told of a new report


class Cases(Model):
    """How cases are chased (督办, ALERTING.md C4) and tracked after closing (DOMAIN.md §8)."""

    tracking_days: float = Field(default=7, ge=0)  # a trigger this soon after closing: 2nd wave
    near_due_fraction: float = Field(default=0.75, gt=0, lt=1)  # warn when this much has passed
    escalate_to: list[Id] = Field(default_factory=list)  # webhook ids; empty: the alert's own
    # DOMAIN.md §5: an item still late this long after its deadline is reported to leadership
    # (a second 督办 step, to ``still_late_to``, else the escalation destinations); null: never.
    still_late_after: Deadline | None = Deadline(amount=1, unit="working_days")
    still_late_to: list[Id] = Field(default_factory=list)
    # The reply deadline may be extended once, by at most this many days (3 days, 5 at most).
    max_extension_days: int = Field(default=2, ge=0, le=30)


class Alerting(Model):
    """Noise limits (ALERTING.md D3): past ``storm_cap`` notifications to one destination in
    ``storm_window``, the rest fold into one digest with a count."""

    storm_cap: int = Field(default=20, ge=1)
    storm_window: Duration = timedelta(minutes=10)
    # How often the patrol daemon evaluates the rules (the shortest window); a crawl that
    # brings new posts also starts a run at once, if the last window is at least this old.
    interval: Duration = timedelta(minutes=1)


Scope = Literal["read", "write"]


class ApiToken(Model):
    """A bearer token for the HTTP API; the token itself comes from ``token_env``."""

    name: str = Field(min_length=1)
    token_env: str = Field(min_length=1)
    scopes: list[Scope] = Field(default_factory=lambda: list[Scope](["read"]), min_length=1)
    token: SecretStr | None = Field(default=None, exclude=True, repr=False)

    @model_validator(mode="before")
    @classmethod
    def _token_from_env(cls, data: Any, info: ValidationInfo) -> Any:
        env = (info.context or {}).get("env")
        if isinstance(data, dict) and env is not None and data.get("token") is None:
            name = data.get("token_env")
            if isinstance(name, str) and env.get(name):
                data = {**data, "token": env[name]}
        return data


class Api(Model):
    listen: str = "127.0.0.1:8080"  # host:port; loopback unless the office's network needs more
    tokens: list[ApiToken] = Field(default_factory=list)

    @field_validator("listen")
    @classmethod
    def _host_port(cls, value: str) -> str:
        host, sep, port = value.rpartition(":")
        if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
            raise ValueError(f"{value!r} is not host:port — write e.g. 127.0.0.1:8080")
        return value
