"""Robot formats (WeCom, DingTalk, Feishu) and the generic webhook, rendered in Chinese (W5)."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import random
import urllib.parse
from datetime import timedelta
from typing import Any

import pytest

from alerts import adapters
from alerts.cases import CaseBook
from alerts.delivery import Outbox
from alerts.models import DeliveryState, Destination, DestinationKind
from alerts.payload import CasePayload, EscalationInfo, case_payload
from alerts.sender import Worker
from tests.alerts.support import START, FakeClock, Receiver, Reply, make_alert

ROBOT_SECRET = "SEC0123456789abcdef"


def payload(book: CaseBook, escalation: EscalationInfo | None = None) -> CasePayload:
    alert = make_alert()
    with book.db.transaction() as conn:
        case = book.record_alert(conn, alert, START).case
    return case_payload(
        "case.escalated" if escalation else "case.opened", case, alert, START, escalation
    )


def robot(kind: DestinationKind, secrets: list[str] | None = None) -> Destination:
    return Destination(
        id=kind.value,
        url=f"https://robot.example.com/{kind.value}?key=k",
        kind=kind,
        secrets=secrets or [],
    )


EXPECTED_LINES = [
    "【舆情预警·一般】食堂饭菜出现异物，学生发帖质疑",
    "责任单位：后勤保障处（联系人：王老师 0571-88880000）",
    "发现时间：2026-11-18 10:00",
    "上报时限：2026-11-19 10:00",
    "首次回应时限：2026-11-23 10:00",  # 3 working days over a weekend
    "分类：询问/质疑/诉求",
    "https://bbs.example.edu.cn/thread-1-1-1.html",
]


def _text(kind: DestinationKind, body: dict[str, Any]) -> str:
    if kind is DestinationKind.WECOM:
        assert body["msgtype"] == "markdown"
        return str(body["markdown"]["content"])
    if kind is DestinationKind.DINGTALK:
        assert body["msgtype"] == "markdown" and body["markdown"]["title"].startswith("【舆情预警")
        return str(body["markdown"]["text"])
    assert body["msg_type"] == "post"
    post = body["content"]["post"]["zh_cn"]
    cells = [
        cell.get("text", "") + cell.get("href", "") for line in post["content"] for cell in line
    ]
    return str(post["title"]) + "\n" + "\n".join(cells)


@pytest.mark.parametrize(
    "kind", [DestinationKind.WECOM, DestinationKind.DINGTALK, DestinationKind.FEISHU]
)
def test_robot_messages_carry_title_tier_unit_deadlines_and_link(
    book: CaseBook, kind: DestinationKind
) -> None:
    text = _text(kind, json.loads(adapters.render(robot(kind), payload(book))))
    for line in EXPECTED_LINES:
        assert line in text


def test_escalation_heading(book: CaseBook) -> None:
    body = adapters.render(
        robot(DestinationKind.WECOM),
        payload(book, EscalationInfo(step="respond.overdue", due=START + timedelta(days=5))),
    )
    assert "【督办·回应已超时】" in json.loads(body)["markdown"]["content"]


def test_dingtalk_signs_the_url_as_documented(book: CaseBook) -> None:
    dest = robot(DestinationKind.DINGTALK, [ROBOT_SECRET])
    request = adapters.build_request(dest, "msg_1", adapters.render(dest, payload(book)), START)
    query = urllib.parse.parse_qs(urllib.parse.urlsplit(request.url).query)
    timestamp = query["timestamp"][0]
    assert timestamp == str(int(START.timestamp() * 1000)) and query["key"] == ["k"]
    expected = base64.b64encode(
        hmac.new(
            ROBOT_SECRET.encode(), f"{timestamp}\n{ROBOT_SECRET}".encode(), hashlib.sha256
        ).digest()
    ).decode()
    assert query["sign"] == [expected]


def test_feishu_signs_the_body_as_documented(book: CaseBook) -> None:
    dest = robot(DestinationKind.FEISHU, [ROBOT_SECRET])
    request = adapters.build_request(dest, "msg_1", adapters.render(dest, payload(book)), START)
    body = json.loads(request.body)
    assert body["timestamp"] == str(int(START.timestamp()))
    key = f"{body['timestamp']}\n{ROBOT_SECRET}".encode()
    assert body["sign"] == base64.b64encode(hmac.new(key, b"", hashlib.sha256).digest()).decode()
    assert body["msg_type"] == "post"


def test_generic_requests_carry_standard_webhooks_headers(book: CaseBook) -> None:
    dest = Destination(
        id="cs",
        url="https://cases.example.com/hook",
        secrets=["whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"],
    )
    request = adapters.build_request(dest, "msg_1", adapters.render(dest, payload(book)), START)
    assert request.headers["webhook-id"] == "msg_1"
    assert request.headers["webhook-timestamp"] == str(int(START.timestamp()))
    assert request.headers["webhook-signature"].startswith("v1,")


@pytest.mark.parametrize(
    ("kind", "answer", "accepted"),
    [
        (DestinationKind.WECOM, '{"errcode":0,"errmsg":"ok"}', True),
        (DestinationKind.WECOM, '{"errcode":45009,"errmsg":"api freq out of limit"}', False),
        (DestinationKind.DINGTALK, '{"errcode":310000,"errmsg":"sign not match"}', False),
        (DestinationKind.FEISHU, '{"code":0,"msg":"success"}', True),
        (DestinationKind.FEISHU, '{"code":19021,"msg":"sign match fail"}', False),
        (DestinationKind.FEISHU, "<html>gateway</html>", False),
    ],
)
def test_robot_answers_are_read(kind: DestinationKind, answer: str, accepted: bool) -> None:
    assert (adapters.response_error(robot(kind), answer) is None) is accepted


def test_a_robot_refusal_is_retried_through_the_worker(
    book: CaseBook, clock: FakeClock, receiver: Receiver
) -> None:
    receiver.script(
        "/wecom",
        Reply(200, body='{"errcode":45009,"errmsg":"freq"}'),
        Reply(200, body='{"errcode":0,"errmsg":"ok"}'),
    )
    dest = Destination(
        id="wecom", url=receiver.url + "/wecom", kind=DestinationKind.WECOM, allow_private=True
    )
    outbox = Outbox(book, [dest])
    worker = Worker(outbox, clock, rng=random.Random(1))
    outbox.submit(make_alert(), clock())
    worker.run_once()
    (job,) = outbox.deliveries()
    assert job.state is DeliveryState.PENDING and "45009" in (job.last_error or "")
    clock.advance(minutes=1)
    worker.run_once()
    assert outbox.get(job.id).state is DeliveryState.DELIVERED
    assert "后勤保障处" in json.loads(receiver.on("/wecom")[-1].body)["markdown"]["content"]


def test_destinations_come_from_the_webhook_settings() -> None:
    from core.settings import Webhook

    hook = Webhook.model_validate(
        {
            "id": "case-system",
            "url": "https://cases.example.com/hook",
            "secret": "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",
            "previous_secret": "whsec_b2xkLXNlY3JldC1iZWluZy1yb3RhdGVk",
            "min_severity": "major",
        }
    )
    dest = Destination.from_settings(hook)
    assert dest.secrets == [
        "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",
        "whsec_b2xkLXNlY3JldC1iZWluZy1yb3RhdGVk",
    ]
    assert dest.kind is DestinationKind.GENERIC and dest.min_severity.value == "major"
    request = adapters.build_request(dest, "msg_1", "{}", START)
    assert len(request.headers["webhook-signature"].split(" ")) == 2
