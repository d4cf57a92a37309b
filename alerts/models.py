"""The alerting nouns: an `Alert` raised by a rule, the `Case` it opens, the `Delivery` jobs that
tell people, and the `Destination` they go to."""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from core.post import Category, Sentiment, Severity

# Every time-dependent function takes a clock, so tests can move time instead of sleeping.
Clock = Callable[[], datetime]


def system_clock() -> datetime:
    return datetime.now(UTC)


def _utc(value: datetime) -> datetime:
    if value.tzinfo is None:
        raise ValueError("naive datetime: give a time zone (stored times are UTC)")
    return value.astimezone(UTC)


SEVERITY_LABELS: dict[Severity, str] = {
    Severity.GENERAL: "一般",
    Severity.MAJOR: "重大",
    Severity.ESPECIALLY_MAJOR: "特别重大",
}

SEVERITY_RANK: dict[Severity, int] = {
    Severity.GENERAL: 0,
    Severity.MAJOR: 1,
    Severity.ESPECIALLY_MAJOR: 2,
}


class Alert(BaseModel):
    """What a rule raises about one event; its identity is ``rule`` + ``key`` (ALERTING.md D1)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    rule: str = Field(min_length=1)
    key: str = Field(min_length=1)
    severity: Severity
    title: str = Field(min_length=1)
    excerpt: str = ""
    link: str | None = None
    evidence: str | None = None
    keywords: list[str] = Field(default_factory=list)
    sentiment: Sentiment | None = None
    category: Category | None = None
    severity_reasons: list[str] = Field(default_factory=list)
    unit: str | None = None  # unit id
    unit_name: str | None = None
    liaison: str | None = None
    contact: str | None = None
    cluster_size: int = Field(default=1, ge=1)
    sites: list[str] = Field(default_factory=list)
    detected_at: datetime
    id: str = ""  # derived from rule, key and detection time when not given

    @field_validator("detected_at")
    @classmethod
    def _utc(cls, value: datetime) -> datetime:
        return _utc(value)

    @model_validator(mode="after")
    def _derive_id(self) -> Alert:
        if not self.id:
            # Deterministic, so a rule run repeated after a crash raises the same alert again
            # and the outbox recognises it instead of adding a second occurrence.
            digest = hashlib.sha256(
                f"{self.rule}\x1f{self.key}\x1f{self.detected_at.isoformat()}".encode()
            ).hexdigest()[:24]
            object.__setattr__(self, "id", f"alert_{digest}")
        return self


class CaseState(StrEnum):
    NEW = "new"
    ACKNOWLEDGED = "acknowledged"
    IN_PROGRESS = "in_progress"
    REPLIED = "replied"
    CLOSED = "closed"
    ARCHIVED = "archived"


STATE_LABELS: dict[CaseState, str] = {
    CaseState.NEW: "新建",
    CaseState.ACKNOWLEDGED: "已确认",
    CaseState.IN_PROGRESS: "办理中",
    CaseState.REPLIED: "已回复",
    CaseState.CLOSED: "已销号",
    CaseState.ARCHIVED: "已归档",
}

# DOMAIN.md §5. Anything not in this table is refused. replied -> in_progress is the reply
# sent back at approval (审定); acknowledged/in_progress -> closed covers false alarms.
TRANSITIONS: dict[CaseState, frozenset[CaseState]] = {
    CaseState.NEW: frozenset({CaseState.ACKNOWLEDGED}),
    CaseState.ACKNOWLEDGED: frozenset({CaseState.IN_PROGRESS, CaseState.CLOSED}),
    CaseState.IN_PROGRESS: frozenset({CaseState.REPLIED, CaseState.CLOSED}),
    CaseState.REPLIED: frozenset({CaseState.IN_PROGRESS, CaseState.CLOSED}),
    CaseState.CLOSED: frozenset({CaseState.ARCHIVED}),
    CaseState.ARCHIVED: frozenset(),
}

OPEN_STATES = frozenset(
    {CaseState.NEW, CaseState.ACKNOWLEDGED, CaseState.IN_PROGRESS, CaseState.REPLIED}
)


class Resolution(StrEnum):
    RESOLVED = "resolved"  # 已处置：回复/解决
    CLARIFIED = "clarified"  # 已澄清
    REFERRED = "referred"  # 移交（如执法部门）
    ADOPTED = "adopted"  # 建议已采纳
    NO_ACTION = "no_action"  # 误报或无需处置


class Case(BaseModel):
    """One event the office handles, from registration to archive (DOMAIN.md §5)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    id: int
    rule: str
    key: str
    state: CaseState
    severity: Severity
    title: str
    unit: str | None = None
    unit_name: str | None = None
    liaison: str | None = None
    assignee: str | None = None
    detected_at: datetime
    report_by: datetime
    respond_by: datetime
    special_report_by: datetime | None = None  # 特报 due (major and up, DOMAIN.md §2)
    special_report_at: datetime | None = None  # when the first special report was made
    extended_at: datetime | None = None  # the reply deadline was extended (once)
    extension_reason: str | None = None
    occurrences: int = 1
    last_seen_at: datetime
    previous_case: int | None = None
    second_wave: bool = False
    resolution: Resolution | None = None
    summary: str | None = None
    reply: str | None = None
    alert_id: str  # the alert that opened it
    created_at: datetime
    updated_at: datetime
    closed_at: datetime | None = None

    @property
    def ref(self) -> str:
        return f"C{self.id:06d}"


class CaseEvent(BaseModel):
    """One line of the append-only audit trail (ALERTING.md C5)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    id: int
    case_id: int
    at: datetime
    kind: str
    actor: str
    detail: dict[str, object] = Field(default_factory=dict)


class DestinationKind(StrEnum):
    GENERIC = "generic"  # Standard Webhooks JSON for the case system
    WECOM = "wecom"  # 企业微信群机器人
    DINGTALK = "dingtalk"  # 钉钉自定义机器人
    FEISHU = "feishu"  # 飞书自定义机器人


class Destination(BaseModel):
    """A webhook endpoint. ``secrets``: ``whsec_...`` for generic (two during a rotation);
    the robot's signing secret (``SEC...``) for DingTalk/Feishu."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    id: str = Field(min_length=1)
    url: str = Field(min_length=1)
    kind: DestinationKind = DestinationKind.GENERIC
    secrets: list[str] = Field(default_factory=list)
    min_severity: Severity = Severity.GENERAL
    units: list[str] = Field(default_factory=list)  # empty: every unit
    # Families "case" (opened, severity raised, escalated) and "operational", or exact types.
    events: list[str] = Field(default_factory=lambda: ["case", "operational"])
    timeout: float = Field(default=10.0, gt=0)
    allow_private: bool = False

    @classmethod
    def from_settings(cls, webhook: Any) -> Destination:
        """From a ``core.settings.Webhook``: the current secret first, the previous one kept
        during a rotation so receivers that know either can verify."""
        secrets = [s.get_secret_value() for s in (webhook.secret, webhook.previous_secret) if s]
        return cls(
            id=webhook.id,
            url=webhook.url,
            kind=DestinationKind(webhook.kind),
            secrets=secrets,
            allow_private=webhook.allow_private,
            min_severity=webhook.min_severity or Severity.GENERAL,
        )

    def wants(self, event: str, severity: Severity, unit: str | None) -> bool:
        """``events`` names families ("case", "operational") or exact types, so a leadership
        robot can take only "case.escalated" (督办)."""
        family = event.split(".", 1)[0]
        if family not in self.events and event not in self.events:
            return False
        if family == "operational":
            return True
        if SEVERITY_RANK[severity] < SEVERITY_RANK[self.min_severity]:
            return False
        return not self.units or unit in self.units


class DeliveryState(StrEnum):
    PENDING = "pending"
    DELIVERED = "delivered"
    FAILED = "failed"  # retries exhausted or refused; listed for replay
    DISABLED = "disabled"  # its destination answered 410 Gone


class Delivery(BaseModel):
    """One message to one destination; ``id`` is the stable ``webhook-id`` of every attempt."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    id: str
    destination: str
    event: str
    case_id: int | None
    alert_id: str | None
    priority: int
    body: str
    state: DeliveryState
    attempts: int
    next_attempt_at: datetime
    created_at: datetime
    delivered_at: datetime | None = None
    last_status: int | None = None
    last_error: str | None = None


def priority_of(severity: Severity) -> int:
    """Lower is sent first: especially-major alerts never wait behind general ones (W4)."""
    return 2 - SEVERITY_RANK[severity]
