"""Test support: a controllable clock, a real webhook receiver on 127.0.0.1, an alert factory."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from alerts import signing
from alerts.models import Alert
from core.post import Category, Sentiment, Severity

SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
START = datetime(2026, 11, 18, 2, 0, tzinfo=UTC)  # a Wednesday, 10:00 in Beijing


class FakeClock:
    """Time that moves only when a test says so."""

    def __init__(self, start: datetime = START) -> None:
        self.now = start

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **delta: float) -> datetime:
        self.now += timedelta(**delta)
        return self.now


@dataclass
class Reply:
    status: int = 200
    headers: dict[str, str] = field(default_factory=dict)
    body: str = ""
    delay: float = 0.0  # seconds to stall before answering (to provoke client timeouts)


@dataclass
class Received:
    path: str
    headers: dict[str, str]
    body: bytes
    webhook_id: str | None
    verified: bool


class Receiver:
    """A real HTTP webhook receiver. Paths under /cases/ verify Standard Webhooks signatures
    and keep one case per webhook-id, as a case system does; other paths answer as scripted."""

    def __init__(self, clock: Callable[[], datetime], secrets: list[str]) -> None:
        self.clock = clock
        self.secrets = secrets
        self.received: list[Received] = []
        self.cases: dict[str, dict[str, Any]] = {}
        self.scripts: dict[str, list[Reply]] = {}
        self.lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("content-length", 0)))
                receiver._handle(self, body)

            def log_message(self, format: str, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    def script(self, path: str, *replies: Reply) -> None:
        """Answer requests on ``path`` with ``replies`` in turn; the last one repeats."""
        self.scripts[path] = list(replies)

    def on(self, path: str) -> list[Received]:
        return [r for r in self.received if r.path.split("?")[0] == path]

    def _handle(self, handler: BaseHTTPRequestHandler, body: bytes) -> None:
        path = handler.path
        headers = {k.lower(): v for k, v in handler.headers.items()}
        webhook_id, verified = headers.get("webhook-id"), False
        reply = Reply()
        with self.lock:
            script = self.scripts.get(path.split("?")[0])
            if script:
                reply = script.pop(0) if len(script) > 1 else script[0]
            if path.startswith("/cases"):
                try:
                    webhook_id = signing.verify(headers, body, self.secrets, self.clock())
                    verified = True
                except signing.SignatureError as exc:
                    reply = Reply(401, body=str(exc))
            self.received.append(Received(path, headers, body, webhook_id, verified))
            if verified and 200 <= reply.status < 300 and webhook_id:
                self.cases.setdefault(webhook_id, json.loads(body))
        if reply.delay:
            time.sleep(reply.delay)
        data = reply.body.encode()
        try:
            handler.send_response(reply.status)
            for name, value in reply.headers.items():
                handler.send_header(name, value)
            handler.send_header("content-length", str(len(data)))
            handler.end_headers()
            handler.wfile.write(data)
        except OSError:
            pass  # the client gave up (timeout test)

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def make_alert(**overrides: Any) -> Alert:
    fields: dict[str, Any] = {
        "rule": "negative-canteen",
        "key": "cluster-1",
        "severity": Severity.GENERAL,
        "title": "食堂饭菜出现异物，学生发帖质疑",
        "excerpt": "今天在二食堂吃饭发现菜里有异物，希望学校给个说法。",
        "link": "https://bbs.example.edu.cn/thread-1-1-1.html",
        "evidence": "https://yuqing.example.edu.cn/evidence/abc",
        "keywords": ["食堂", "异物"],
        "sentiment": Sentiment.NEGATIVE,
        "category": Category.APPEAL,
        "severity_reasons": ["负面", "涉及学生饮食安全"],
        "unit": "logistics",
        "unit_name": "后勤保障处",
        "liaison": "王老师",
        "contact": "0571-88880000",
        "cluster_size": 3,
        "sites": ["bbs.example.edu.cn", "tieba.baidu.com"],
        "detected_at": START,
    }
    fields.update(overrides)
    return Alert(**fields)
