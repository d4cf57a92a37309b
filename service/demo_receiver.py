"""The demo's stand-in for the opinion office: a loopback webhook receiver that checks each
Standard Webhooks signature and prints what arrives in plain Chinese."""

from __future__ import annotations

import json
import threading
from collections.abc import Callable
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from alerts.signing import SignatureError, verify

ZONE = ZoneInfo("Asia/Shanghai")
CATEGORIES = {
    "appeal": "询问/质疑/诉求",
    "hype": "恶意传播/炒作",
    "defamation": "捏造/歪曲/诽谤/煽动",
    "suggestion": "建议",
    "other": "其他",
}
EVENTS = {
    "case.opened": "新预警，已立案",
    "case.severity_raised": "舆情升级",
    "case.escalated": "督办提醒",
}


def _local(value: str | None) -> str:
    if not value:
        return "—"
    try:
        return datetime.fromisoformat(value).astimezone(ZONE).strftime("%m月%d日 %H:%M")
    except ValueError:
        return value


def describe_case(body: dict[str, Any]) -> list[str]:
    """A case payload (docs/webhook-payload.schema.json) as a few lines a person reads."""
    data = body.get("data", {})
    unit = data.get("unit") or {}
    who = unit.get("name") or "未指定单位"
    if unit.get("liaison"):
        who += f"（联系人 {unit['liaison']} {unit.get('contact') or ''}".rstrip() + "）"
    deadlines = data.get("deadlines") or {}
    cluster = data.get("cluster") or {}
    lines = [
        f"【{EVENTS.get(body.get('type', ''), body.get('type', ''))}·{data.get('severity_label')}】"
        f"{data.get('title')}",
        f"案件 {data.get('case_ref')}　状态：{data.get('state_label')}　责任单位：{who}",
        f"上报领导时限：{_local(deadlines.get('report_by'))}　"
        f"首次回应时限：{_local(deadlines.get('respond_by'))}",
    ]
    facts = []
    if data.get("category"):
        facts.append("分类：" + CATEGORIES.get(data["category"], data["category"]))
    if cluster.get("size", 0) > 1:
        facts.append(f"传播：{cluster['size']} 帖 / {len(cluster.get('sites', []))} 个站点")
    if data.get("keywords"):
        facts.append("关键词：" + "、".join(data["keywords"][:5]))
    if facts:
        lines.append("　".join(facts))
    if data.get("link"):
        lines.append(f"原帖：{data['link']}")
    return lines


def describe(body: dict[str, Any]) -> list[str]:
    kind = str(body.get("type", ""))
    data = body.get("data", {})
    if kind.startswith("case."):
        return describe_case(body)
    if kind == "report.published":
        return [f"【{data.get('title')}】{data.get('summary')}", f"报告：{data.get('link')}"]
    if kind.startswith("operational."):
        return [f"【系统告警】{data.get('message')}"]
    return [f"【{kind}】"]


class Receiver(ThreadingHTTPServer):
    """Takes the case system's signed webhooks and the WeCom robot's messages; every one is
    also appended to ``log`` (JSON lines) for the summary and the tests."""

    daemon_threads = True

    def __init__(
        self, address: tuple[str, int], secret: str, log: Path, say: Callable[[str], None]
    ) -> None:
        self.secret = secret
        self.log = log
        self.say = say
        self.lock = threading.Lock()
        super().__init__(address, _ReceiverHandler)

    def record(self, entry: dict[str, Any]) -> None:
        with self.lock, self.log.open("a", encoding="utf-8") as f:
            f.write(json.dumps(entry, ensure_ascii=False) + "\n")


def read_log(path: Path) -> list[dict[str, Any]]:
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line]


class _ReceiverHandler(BaseHTTPRequestHandler):
    server: Receiver

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length)
        try:
            body: dict[str, Any] = json.loads(raw)
        except ValueError:
            self._reply(400, {"error": "not JSON"})
            return
        if self.path.startswith("/hooks/cases"):
            self._case_system(raw, body)
        else:
            self._robot(body)

    def _case_system(self, raw: bytes, body: dict[str, Any]) -> None:
        try:
            msg_id = verify(dict(self.headers), raw, [self.server.secret], datetime.now(UTC))
        except SignatureError as exc:
            self.server.say(f"  ✗ 案件系统拒收一条签名无效的消息：{exc}")
            self.server.record({"to": "cases", "signed": False, "error": str(exc), "body": body})
            self._reply(401, {"error": str(exc)})
            return
        self.server.record({"to": "cases", "signed": True, "id": msg_id, "body": body})
        lines = describe(body)
        self.server.say(
            "\n".join(
                [f"📨 案件系统收到（签名已验证）{lines[0]}"] + [f"      {x}" for x in lines[1:]]
            )
        )
        self._reply(200, {"ok": True})

    def _robot(self, body: dict[str, Any]) -> None:
        text = str((body.get("markdown") or {}).get("content") or body.get("text") or "")
        first = text.strip().splitlines()[0].strip("*# ") if text.strip() else "(空消息)"
        self.server.record({"to": "wecom", "signed": False, "body": body})
        self.server.say(f"💬 企业微信群机器人：{first}")
        self._reply(200, {"errcode": 0, "errmsg": "ok"})

    def _reply(self, status: int, data: dict[str, Any]) -> None:
        out = json.dumps(data).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(out)))
        self.end_headers()
        self.wfile.write(out)

    def log_message(self, format: str, *args: object) -> None:
        """Quiet: what arrived is printed in words instead."""
