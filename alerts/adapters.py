"""Render a payload for each kind of destination and build the signed HTTP request: generic
Standard Webhooks JSON (the case system) and the robots of WeCom, DingTalk and Feishu."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import urllib.parse
from dataclasses import dataclass
from datetime import datetime
from zoneinfo import ZoneInfo

from alerts import signing
from alerts.deadlines import DEFAULT_ZONE, zone_of
from alerts.models import Destination, DestinationKind
from alerts.payload import CaseData, CasePayload, OperationalPayload, Payload, to_json
from core.post import CATEGORY_LABELS, SENTIMENT_LABELS

ESCALATION_LABELS = {
    "report.near_due": "上报即将到期",
    "report.overdue": "上报已超时",
    "respond.near_due": "回应即将到期",
    "respond.overdue": "回应已超时",
    "special_report.near_due": "特报即将到期",
    "special_report.overdue": "特报已超时",
    # DOMAIN.md §5: still late after being chased, so reported to leadership.
    "report.still_late": "上报仍未完成·已报告领导",
    "respond.still_late": "回应仍未完成·已报告领导",
    "special_report.still_late": "特报仍未完成·已报告领导",
}


@dataclass(frozen=True)
class Request:
    url: str
    body: bytes
    headers: dict[str, str]


def _local(value: datetime, zone: ZoneInfo) -> str:
    return value.astimezone(zone).strftime("%Y-%m-%d %H:%M")


def _heading(payload: Payload) -> str:
    if isinstance(payload, OperationalPayload):
        return f"【系统告警】{payload.data.message}"
    data = payload.data
    if payload.type == "case.escalated" and data.escalation is not None:
        label = ESCALATION_LABELS.get(data.escalation.step, data.escalation.step)
        return f"【督办·{label}】{data.title}"
    prefix = "舆情升级" if payload.type == "case.severity_raised" else "舆情预警"
    if data.second_wave:
        prefix = "舆情二次发酵"
    return f"【{prefix}·{data.severity_label}】{data.title}"


def _case_lines(data: CaseData, zone: ZoneInfo) -> list[str]:
    unit = data.unit.name or data.unit.id or "未指定"
    if data.unit.liaison:
        contact = f" {data.unit.contact}" if data.unit.contact else ""
        unit += f"（联系人：{data.unit.liaison}{contact}）"
    lines = [
        f"案件：{data.case_ref}　状态：{data.state_label}　级别：{data.severity_label}",
        f"责任单位：{unit}",
        f"发现时间：{_local(data.detected_at, zone)}",
        f"上报时限：{_local(data.deadlines.report_by, zone)}",
        f"首次回应时限：{_local(data.deadlines.respond_by, zone)}"
        + ("（已延期）" if data.deadlines.respond_extended else ""),
    ]
    if data.deadlines.special_report_by is not None:
        made = data.deadlines.special_report_at
        lines.append(
            f"特报时限：{_local(data.deadlines.special_report_by, zone)}"
            + (f"（已于 {_local(made, zone)} 报送）" if made else "")
        )
    facts = []
    if data.category:
        facts.append(f"分类：{CATEGORY_LABELS.get(data.category, data.category)}")
    if data.sentiment:
        facts.append(f"情感：{SENTIMENT_LABELS.get(data.sentiment, data.sentiment)}")
    if data.cluster.size > 1 or data.cluster.sites:
        facts.append(f"传播：{data.cluster.size} 条，{len(data.cluster.sites)} 个站点")
    if facts:
        lines.append("　".join(facts))
    if data.severity_reasons:
        lines.append("定级依据：" + "；".join(data.severity_reasons))
    if data.keywords:
        lines.append("关键词：" + "、".join(data.keywords))
    if data.previous_case is not None:
        lines.append(f"关联旧案：C{data.previous_case:06d}")
    if data.escalation is not None:
        lines.append(f"督办节点到期：{_local(data.escalation.due, zone)}")
    return lines


def _links(payload: Payload) -> list[tuple[str, str]]:
    if not isinstance(payload, CasePayload):
        return []
    links = []
    if payload.data.link:
        links.append(("查看原帖", payload.data.link))
    if payload.data.evidence:
        links.append(("证据存档", payload.data.evidence))
    return links


def _markdown(payload: Payload, zone: ZoneInfo) -> str:
    parts = [f"**{_heading(payload)}**"]
    if isinstance(payload, CasePayload):
        parts += [f"> {line}" for line in _case_lines(payload.data, zone)]
        if payload.data.excerpt:
            parts.append(payload.data.excerpt)
    else:
        parts.append(f"> 目的地：{payload.data.destination}")
    links = _links(payload)
    if links:
        parts.append("　".join(f"[{text}]({href})" for text, href in links))
    return "\n".join(parts)


def _feishu_post(payload: Payload, zone: ZoneInfo) -> dict[str, object]:
    content: list[list[dict[str, str]]] = []
    if isinstance(payload, CasePayload):
        content += [[{"tag": "text", "text": line}] for line in _case_lines(payload.data, zone)]
        if payload.data.excerpt:
            content.append([{"tag": "text", "text": payload.data.excerpt}])
    else:
        content.append([{"tag": "text", "text": f"目的地：{payload.data.destination}"}])
    links = _links(payload)
    if links:
        content.append([{"tag": "a", "text": text, "href": href} for text, href in links])
    return {
        "msg_type": "post",
        "content": {"post": {"zh_cn": {"title": _heading(payload), "content": content}}},
    }


def render(destination: Destination, payload: Payload, zone: str = DEFAULT_ZONE) -> str:
    """The request body stored in the outbox for ``destination`` (signed later, at send time)."""
    tz = zone_of(zone)
    if destination.kind is DestinationKind.GENERIC:
        return to_json(payload)
    if destination.kind is DestinationKind.WECOM:
        body: dict[str, object] = {
            "msgtype": "markdown",
            "markdown": {"content": _markdown(payload, tz)},
        }
    elif destination.kind is DestinationKind.DINGTALK:
        body = {
            "msgtype": "markdown",
            "markdown": {"title": _heading(payload), "text": _markdown(payload, tz)},
        }
    else:
        body = _feishu_post(payload, tz)
    return json.dumps(body, ensure_ascii=False)


def dingtalk_sign(secret: str, timestamp_ms: int) -> str:
    """DingTalk: base64(HMAC-SHA256(key=secret, msg="timestamp\\nsecret")), URL-encoded."""
    to_sign = f"{timestamp_ms}\n{secret}".encode()
    digest = hmac.new(secret.encode(), to_sign, hashlib.sha256).digest()
    return urllib.parse.quote_plus(base64.b64encode(digest).decode())


def feishu_sign(secret: str, timestamp: int) -> str:
    """Feishu: base64(HMAC-SHA256(key="timestamp\\nsecret", msg=empty))."""
    key = f"{timestamp}\n{secret}".encode()
    return base64.b64encode(hmac.new(key, b"", hashlib.sha256).digest()).decode()


def build_request(destination: Destination, delivery_id: str, body: str, now: datetime) -> Request:
    """The HTTP request for one attempt; signatures carry this attempt's time."""
    data = body.encode()
    headers = {"content-type": "application/json; charset=utf-8", "user-agent": "yuqing-webhooks/1"}
    url = destination.url
    if destination.kind is DestinationKind.GENERIC:
        headers.update(
            signing.headers(delivery_id, int(now.timestamp()), data, destination.secrets)
        )
    elif destination.kind is DestinationKind.DINGTALK and destination.secrets:
        ms = int(now.timestamp() * 1000)
        sep = "&" if urllib.parse.urlsplit(url).query else "?"
        url = f"{url}{sep}timestamp={ms}&sign={dingtalk_sign(destination.secrets[0], ms)}"
    elif destination.kind is DestinationKind.FEISHU and destination.secrets:
        seconds = int(now.timestamp())
        signed = {
            "timestamp": str(seconds),
            "sign": feishu_sign(destination.secrets[0], seconds),
            **json.loads(body),
        }
        data = json.dumps(signed, ensure_ascii=False).encode()
    return Request(url=url, body=data, headers=headers)


def response_error(destination: Destination, text: str) -> str | None:
    """Robots answer 200 with an error code in the body; None when the message was accepted."""
    if destination.kind is DestinationKind.GENERIC:
        return None
    try:
        answer = json.loads(text)
    except ValueError:
        return f"unreadable robot answer: {text[:120]!r}"
    if not isinstance(answer, dict):
        return f"unexpected robot answer: {text[:120]!r}"
    field = "code" if destination.kind is DestinationKind.FEISHU else "errcode"
    code = answer.get(field, answer.get("StatusCode", 0))
    if code in (0, None):
        return None
    message = answer.get("msg") or answer.get("errmsg") or ""
    return f"robot refused the message: {field}={code} {message}".strip()
