"""The versioned webhook payload ``{type, version, timestamp, data}``, documented as JSON Schema
in docs/webhook-payload.schema.json.

Small on purpose: evidence and the original post are linked, never embedded.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict

from alerts.models import SEVERITY_LABELS, STATE_LABELS, Alert, Case
from core.post import Severity

VERSION = 1
EXCERPT_CHARS = 280
MAX_KEYWORDS = 10
MAX_SITES = 20

CaseEventType = Literal["case.opened", "case.severity_raised", "case.escalated"]
OperationalEventType = Literal[
    "operational.delivery_failed",
    "operational.endpoint_disabled",
    "operational.monitor_degraded",  # the post index cannot be read: alert rules are paused
    "operational.monitor_recovered",
]


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class UnitInfo(_Model):
    id: str | None
    name: str | None
    liaison: str | None
    contact: str | None


class ClusterInfo(_Model):
    size: int
    sites: list[str]


class DeadlineInfo(_Model):
    report_by: datetime
    respond_by: datetime
    special_report_by: datetime | None = None  # 特报 due (major and up); None: none owed
    special_report_at: datetime | None = None  # when it was made
    respond_extended: bool = False  # the reply deadline was extended (once)


class EscalationInfo(_Model):
    step: str  # "<report|respond|special_report>.<near_due|overdue|still_late>"
    due: datetime


class CaseData(_Model):
    case_id: int
    case_ref: str
    state: str
    state_label: str
    rule: str
    key: str
    severity: str
    severity_label: str
    severity_reasons: list[str]
    title: str
    excerpt: str
    link: str | None
    evidence: str | None
    keywords: list[str]
    sentiment: str | None
    category: str | None
    unit: UnitInfo
    cluster: ClusterInfo
    detected_at: datetime
    deadlines: DeadlineInfo
    occurrences: int
    previous_case: int | None
    second_wave: bool
    escalation: EscalationInfo | None


class OperationalData(_Model):
    kind: str
    message: str
    destination: str
    delivery_id: str | None
    case_id: int | None


class CasePayload(_Model):
    type: CaseEventType
    version: Literal[1] = 1
    timestamp: datetime
    data: CaseData


class OperationalPayload(_Model):
    type: OperationalEventType
    version: Literal[1] = 1
    timestamp: datetime
    data: OperationalData


Payload = CasePayload | OperationalPayload


def _excerpt(text: str) -> str:
    text = " ".join(text.split())
    return text if len(text) <= EXCERPT_CHARS else text[: EXCERPT_CHARS - 1] + "…"


def case_payload(
    event: CaseEventType,
    case: Case,
    alert: Alert,
    now: datetime,
    escalation: EscalationInfo | None = None,
    labels: Mapping[Severity, str] | None = None,
) -> CasePayload:
    """The payload announcing ``event`` on ``case``; ``alert`` supplies what the post said;
    ``labels`` are the institution's names for the tiers (default 一般/重大/特别重大)."""
    return CasePayload(
        type=event,
        timestamp=now,
        data=CaseData(
            case_id=case.id,
            case_ref=case.ref,
            state=case.state.value,
            state_label=STATE_LABELS[case.state],
            rule=case.rule,
            key=case.key,
            severity=case.severity.value,
            severity_label=(labels or SEVERITY_LABELS).get(case.severity)
            or SEVERITY_LABELS[case.severity],
            severity_reasons=alert.severity_reasons[:MAX_KEYWORDS],
            title=case.title,
            excerpt=_excerpt(alert.excerpt),
            link=alert.link,
            evidence=alert.evidence,
            keywords=alert.keywords[:MAX_KEYWORDS],
            sentiment=alert.sentiment.value if alert.sentiment else None,
            category=alert.category.value if alert.category else None,
            unit=UnitInfo(
                id=case.unit, name=case.unit_name, liaison=case.liaison, contact=alert.contact
            ),
            cluster=ClusterInfo(size=alert.cluster_size, sites=alert.sites[:MAX_SITES]),
            detected_at=case.detected_at,
            deadlines=DeadlineInfo(
                report_by=case.report_by,
                respond_by=case.respond_by,
                special_report_by=case.special_report_by,
                special_report_at=case.special_report_at,
                respond_extended=case.extended_at is not None,
            ),
            occurrences=case.occurrences,
            previous_case=case.previous_case,
            second_wave=case.second_wave,
            escalation=escalation,
        ),
    )


def operational_payload(
    event: OperationalEventType,
    message: str,
    destination: str,
    now: datetime,
    delivery_id: str | None = None,
    case_id: int | None = None,
) -> OperationalPayload:
    """An operational alert about the delivery machinery itself (exhausted retries, 410)."""
    return OperationalPayload(
        type=event,
        timestamp=now,
        data=OperationalData(
            kind=event.split(".", 1)[1],
            message=message,
            destination=destination,
            delivery_id=delivery_id,
            case_id=case_id,
        ),
    )


def to_json(payload: Payload) -> str:
    return payload.model_dump_json()


def parse(body: str | bytes) -> Payload:
    """Read a payload back (what a receiver does); raises pydantic.ValidationError if malformed."""
    raw = json.loads(body)
    if isinstance(raw, dict) and str(raw.get("type", "")).startswith("operational."):
        return OperationalPayload.model_validate(raw)
    return CasePayload.model_validate(raw)
