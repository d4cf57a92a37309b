"""Generated payloads validate against the documented JSON Schema and stay small (W5)."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path
from typing import Any, get_args

import pytest

from alerts.cases import CaseBook
from alerts.payload import (
    EXCERPT_CHARS,
    CaseData,
    CaseEventType,
    EscalationInfo,
    OperationalEventType,
    case_payload,
    operational_payload,
    parse,
    to_json,
)
from tests.alerts.schema_check import errors
from tests.alerts.support import START, make_alert

SCHEMA: dict[str, Any] = json.loads(
    (Path(__file__).resolve().parents[2] / "docs" / "webhook-payload.schema.json").read_text()
)


def opened(book: CaseBook, **overrides: Any) -> dict[str, Any]:
    alert = make_alert(**overrides)
    with book.db.transaction() as conn:
        case = book.record_alert(conn, alert, START).case
    return dict(json.loads(to_json(case_payload("case.opened", case, alert, START))))


def test_case_payloads_validate(book: CaseBook) -> None:
    body = opened(book)
    assert errors(body, SCHEMA, SCHEMA) == []
    assert body["data"]["deadlines"]["report_by"] == "2026-11-19T02:00:00Z"
    alert = make_alert(
        excerpt="",
        link=None,
        evidence=None,
        keywords=[],
        sentiment=None,
        category=None,
        unit=None,
        unit_name=None,
        liaison=None,
        contact=None,
        sites=[],
        cluster_size=1,
        key="bare",
        severity_reasons=[],
    )
    with book.db.transaction() as conn:
        case = book.record_alert(conn, alert, START).case
    escalated = case_payload(
        "case.escalated",
        case,
        alert,
        START + timedelta(hours=20),
        EscalationInfo(step="report.near_due", due=case.report_by),
    )
    assert errors(json.loads(to_json(escalated)), SCHEMA, SCHEMA) == []


def test_operational_payloads_validate() -> None:
    body = json.loads(
        to_json(
            operational_payload("operational.delivery_failed", "投递失败", "cs", START, "msg_1", 3)
        )
    )
    assert errors(body, SCHEMA, SCHEMA) == []
    assert parse(json.dumps(body)).type == "operational.delivery_failed"


@pytest.mark.parametrize(
    ("mutate", "problem"),
    [
        (lambda b: b["data"].pop("deadlines"), "missing deadlines"),
        (lambda b: b["data"].update(post_html="<p>...</p>"), "unexpected post_html"),
        (lambda b: b["data"].update(severity="critical"), "not in"),
        (lambda b: b.update(version=2), "!= 1"),
        (lambda b: b["data"]["cluster"].update(size="3"), "is not"),
        (lambda b: b["data"].update(detected_at="yesterday"), "not a date-time"),
    ],
)
def test_the_checker_catches_broken_payloads(book: CaseBook, mutate: Any, problem: str) -> None:
    body = opened(book)
    mutate(body)
    assert any(problem in e for e in errors(body, SCHEMA, SCHEMA))


def test_schema_lists_every_field_the_model_sends() -> None:
    case_data = SCHEMA["$defs"]["case_data"]
    assert set(case_data["required"]) == set(CaseData.model_fields)
    assert set(case_data["properties"]) == set(CaseData.model_fields)


def test_payloads_stay_small_and_link_evidence(book: CaseBook) -> None:
    body = opened(
        book,
        excerpt="长" * 5000,
        keywords=[f"词{i}" for i in range(50)],
        sites=[f"s{i}.cn" for i in range(100)],
    )
    assert errors(body, SCHEMA, SCHEMA) == []
    assert len(body["data"]["excerpt"]) == EXCERPT_CHARS
    assert len(json.dumps(body, ensure_ascii=False).encode()) < 4096
    assert body["data"]["evidence"].startswith("https://")
    assert parse(json.dumps(body)).type == "case.opened"


@pytest.mark.parametrize("event", get_args(OperationalEventType))
def test_every_operational_type_is_in_the_schema(event: str) -> None:
    body = json.loads(to_json(operational_payload(event, "说明", "cs", START)))  # type: ignore[arg-type]  # each Literal member
    assert errors(body, SCHEMA, SCHEMA) == []


def test_every_case_type_is_in_the_schema() -> None:
    listed = SCHEMA["$defs"]["case_payload"]["properties"]["type"]["enum"]
    assert set(listed) == set(get_args(CaseEventType))
