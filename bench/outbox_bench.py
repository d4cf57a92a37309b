"""Webhook outbox benchmark: alerts per second and alert-to-receiver latency of the durable outbox
(SQLite commit, then a signed send) vs. signing and POSTing the same payloads directly, in one run.

    uv run --frozen python bench/outbox_bench.py [--alerts 300]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import threading
import time
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from alerts import adapters, signing  # noqa: E402
from alerts.cases import CaseBook  # noqa: E402
from alerts.delivery import Outbox  # noqa: E402
from alerts.models import Alert, Destination  # noqa: E402
from alerts.payload import case_payload  # noqa: E402
from alerts.sender import Worker  # noqa: E402
from core.post import Severity  # noqa: E402
from store.state import StateDB  # noqa: E402

SECRET = signing.new_secret()


class Receiver:
    """Verifies each signature and notes when each webhook-id first arrived."""

    def __init__(self) -> None:
        self.arrived: dict[str, float] = {}
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("content-length", 0)))
                msg_id = signing.verify(
                    dict(self.headers.items()), body, [SECRET], datetime.now(UTC)
                )
                outer.arrived.setdefault(msg_id, time.perf_counter())
                self.send_response(204)
                self.end_headers()

            def log_message(self, format: str, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"


def alerts(n: int, run: str) -> list[Alert]:
    now = datetime.now(UTC)
    return [
        Alert(
            rule="bench",
            key=f"{run}-{i}",
            severity=Severity.MAJOR,
            title=f"测试舆情 {i}",
            excerpt="某学院学生反映宿舍停水三天无人处理。" * 3,
            link=f"https://bbs.example.edu.cn/t/{i}",
            detected_at=now,
        )
        for i in range(n)
    ]


def direct(
    receiver: Receiver, batch: list[Alert], dest: Destination, book: CaseBook
) -> tuple[float, list[float]]:
    """Baseline: render, sign and POST each alert at once, with no durable record."""
    latencies = []
    started = time.perf_counter()
    with httpx.Client(trust_env=False) as client:
        for alert in batch:
            t0 = time.perf_counter()
            with book.db.transaction() as conn:  # a case is still needed for the payload
                case = book.record_alert(conn, alert, alert.detected_at).case
            body = adapters.render(
                dest, case_payload("case.opened", case, alert, datetime.now(UTC))
            )
            msg_id = f"msg_{alert.key}"
            request = adapters.build_request(dest, msg_id, body, datetime.now(UTC))
            client.post(
                request.url, content=request.body, headers=request.headers
            ).raise_for_status()
            latencies.append(receiver.arrived[msg_id] - t0)
    return time.perf_counter() - started, latencies


def outbox(
    receiver: Receiver, batch: list[Alert], dest: Destination, book: CaseBook
) -> tuple[float, list[float]]:
    """The outbox: commit alert + case + job, then the worker sends (one pass per alert)."""
    box = Outbox(book, [dest])
    worker = Worker(box, lambda: datetime.now(UTC))
    latencies = []
    started = time.perf_counter()
    for alert in batch:
        t0 = time.perf_counter()
        (msg_id,) = box.submit(alert, datetime.now(UTC)).deliveries
        worker.run_once()
        latencies.append(receiver.arrived[msg_id] - t0)
    worker.close()
    return time.perf_counter() - started, latencies


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--alerts", type=int, default=300)
    args = parser.parse_args()
    receiver = Receiver()
    dest = Destination(id="cs", url=receiver.url, secrets=[SECRET], allow_private=True)
    results: dict[str, tuple[float, list[float]]] = {}
    with tempfile.TemporaryDirectory() as tmp:
        book = CaseBook(StateDB.in_data_dir(tmp))
        # Warm up both paths, then alternate rounds and keep each path's best, so neither
        # pays for first-use costs (imports, connection set-up, file growth).
        for run in ("warm", "1", "2", "3"):
            for name, path in (("direct POST (baseline)", direct), ("outbox", outbox)):
                size = 20 if run == "warm" else args.alerts
                got = path(receiver, alerts(size, f"{name}-{run}"), dest, book)
                if run != "warm" and (name not in results or got[0] < results[name][0]):
                    results[name] = got
    (base_s, base_lat), (box_s, box_lat) = results["direct POST (baseline)"], results["outbox"]
    for name, seconds, lat in (
        ("direct POST (baseline)", base_s, base_lat),
        ("outbox", box_s, box_lat),
    ):
        q = statistics.quantiles(lat, n=20)
        print(
            f"{name:<24} {args.alerts / seconds:8.1f} alerts/s   latency p50 "
            f"{statistics.median(lat) * 1000:6.1f} ms  p95 {q[18] * 1000:6.1f} ms"
        )
    print(
        f"outbox / baseline: {box_s / base_s:.2f}x the time, p95 latency "
        f"{statistics.quantiles(box_lat, n=20)[18] / statistics.quantiles(base_lat, n=20)[18]:.2f}x"
    )
    receiver.server.shutdown()
    return 0


if __name__ == "__main__":
    sys.exit(main())
