"""Detection latency: from a negative post appearing on a locally served forum to its signed
webhook arriving at a local receiver, through the real `yuqing patrol` daemon (a child process,
embedded store, every source polled every --poll seconds). Events land at random times on
several forums at once, so a 60 s run of 50 events takes about 13 minutes.

    uv run --frozen python bench/detection_latency.py --poll 60 --events 50   # the goal's run
    uv run --frozen python bench/detection_latency.py --poll 10 --events 20   # a quick look

Prints p50/p95 and the ratio p95 / (poll + 10 s): the goal is a ratio <= 1.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import math
import os
import random
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from alerts import signing  # noqa: E402
from service.demo_sites import SitesServer, World  # noqa: E402
from service.demo_story import Event  # noqa: E402

SECRET = signing.new_secret()
FORUM_PATH = "/forum/forum.php?mod=forumdisplay&fid=2"
EXAMPLE = ROOT / "config" / "example"

# Distinct words per event, so no two posts fold into one repost cluster.
PLACES = ["三食堂", "一食堂", "东校区食堂", "二食堂", "清真食堂", "北区食堂", "西苑食堂"]
DISHES = ["红烧肉", "麻辣烫", "炒饭", "包子", "米线", "盖浇饭", "凉皮", "饺子", "面条", "烤鱼"]
HARMS = ["拉肚子", "呕吐", "食物中毒", "腹泻", "吃坏了肚子"]


def negative_post(i: int, rng: random.Random) -> tuple[str, str]:
    place, dish, harm = rng.choice(PLACES), rng.choice(DISHES), rng.choice(HARMS)
    title = f"第{i}号投诉 {place}的{dish}有问题"
    text = (
        f"江州理工大学{place}今天卖的{dish}明显变质，我们{rng.randint(2, 9)}个同学吃完{harm}，"
        "太恶心了，强烈要求学校彻查，到现在没有任何说法，真让人寒心！后勤处到底管不管？"
        f"（投诉编号{rng.randint(10_000, 99_999)}）"
    )
    return title, text


class Receiver:
    """Verifies each Standard Webhooks signature; notes when each case's title first arrived."""

    def __init__(self) -> None:
        self.arrived: dict[str, float] = {}
        self.unverified = 0
        self.lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("content-length", 0)))
                now = time.time()
                headers = {k.lower(): v for k, v in self.headers.items()}
                try:
                    signing.verify(headers, body, [SECRET], datetime.now(UTC))
                    title = str(json.loads(body)["data"].get("title", ""))
                    with receiver.lock:
                        receiver.arrived.setdefault(title.split("：", 1)[-1], now)
                    self.send_response(200)
                except (signing.SignatureError, ValueError, KeyError):
                    with receiver.lock:
                        receiver.unverified += 1
                    self.send_response(401)
                self.send_header("content-length", "0")
                self.end_headers()

            def log_message(self, format: str, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}/cases"


def _serve(world: World) -> SitesServer:
    server = SitesServer(("127.0.0.1", 0), world)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


def write_config(folder: Path, forums: list[str], receiver: str, poll: int) -> Path:
    """The config in ``folder``/config (returned), the data in ``folder``/data beside it."""

    def load(name: str) -> dict[str, Any]:
        data: dict[str, Any] = yaml.safe_load((EXAMPLE / name).read_text(encoding="utf-8"))
        return data

    config = folder / "config"
    config.mkdir(parents=True, exist_ok=True)
    institution = load("institution.yaml")
    institution["storage"]["data_dir"] = str(folder / "data")
    institution["crawl"].update(delay="0.05s", run_timeout="2m", obey_robots=False)
    institution["alerting"].update(interval="2s", storm_cap=10_000)  # every event its own alert
    institution["cases"]["escalate_to"] = ["cases"]
    institution.pop("api", None)
    units = load("units.yaml")
    for unit in units["units"]:
        unit.pop("webhook", None)
    files: dict[str, Any] = {
        "institution.yaml": institution,
        "rules.yaml": load("rules.yaml"),
        "units.yaml": units,
        "sources.yaml": {
            "sources": [
                {
                    "id": f"bbs-{n}",
                    "kind": "forum",
                    "urls": [url],
                    "profile": "discuz_x",
                    "schedule": f"{poll}s",
                    "max_pages": 200,
                }
                for n, url in enumerate(forums)
            ]
        },
        "webhooks.yaml": {
            "webhooks": [
                {
                    "id": "cases",
                    "kind": "generic",
                    "url": receiver,
                    "secret_env": "YUQING_CASES_SECRET",
                    "allow_private": True,
                }
            ]
        },
        "alerts.yaml": {
            "alert_rules": [
                {
                    "id": "negative-canteen",
                    "kind": "match",
                    "name": "食堂负面帖",
                    "watch_rules": ["canteen-safety"],
                    "filters": {"sentiments": ["negative"]},
                    "destinations": ["cases"],
                }
            ]
        },
    }
    for name, data in files.items():
        (config / name).write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    return config


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, math.ceil(q * len(ordered)) - 1))]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--poll", type=int, default=60, help="seconds between patrols (>= 10)")
    parser.add_argument("--events", type=int, default=50, help="negative posts to detect")
    parser.add_argument("--sources", type=int, default=5, help="forums patrolled at once")
    parser.add_argument("--per-cycle", type=int, default=5, help="events per poll interval")
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()
    if args.poll < 10 or args.events < 1 or args.sources < 1 or args.per_cycle < 1:
        parser.error("--poll must be at least 10; the counts at least 1")
    rng = random.Random(args.seed)
    worlds = [World() for _ in range(args.sources)]
    servers = [_serve(w) for w in worlds]
    receiver = Receiver()
    folder = Path(tempfile.mkdtemp(prefix="yuqing-latency-"))
    forums = [f"http://127.0.0.1:{s.server_address[1]}{FORUM_PATH}" for s in servers]
    config = write_config(folder, forums, receiver.url, args.poll)
    for world in worlds:  # something to patrol from the start
        world.publish(
            Event(0, "forum", "thread", "hello", "版务", "江州理工大学图书馆开放到十点。", "公告"),
            datetime.now(),
        )
    log = (folder / "patrol.log").open("wb")
    env = {**os.environ, "YUQING_CASES_SECRET": SECRET, "PYTHONUNBUFFERED": "1"}
    daemon = subprocess.Popen(
        [sys.executable, "-m", "service.cli", "--config", str(config), "patrol"],
        cwd=ROOT,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    try:
        print(f"daemon {daemon.pid}, data in {folder}; waiting for the first patrols", flush=True)
        deadline = time.monotonic() + 180
        while (folder / "patrol.log").read_text(errors="replace").count(": finished") < len(forums):
            if time.monotonic() > deadline or daemon.poll() is not None:
                print("the daemon did not patrol every forum within 3 minutes", file=sys.stderr)
                return 1
            time.sleep(1)
        span = math.ceil(args.events / args.per_cycle) * args.poll
        start = time.time()
        plan = sorted(
            (start + rng.uniform(0, span), rng.randrange(args.sources), i)
            for i in range(args.events)
        )
        print(
            f"{args.events} events over {span} s on {args.sources} forums, poll {args.poll} s",
            flush=True,
        )
        posted: dict[str, float] = {}
        for at, forum, i in plan:
            time.sleep(max(0.0, at - time.time()))
            title, text = negative_post(i, rng)
            worlds[forum].publish(
                Event(0, "forum", "thread", f"e{i}", "学生", text, title), datetime.now()
            )
            posted[title] = time.time()
        deadline = time.monotonic() + args.poll * 2 + 60
        while len(receiver.arrived) < len(posted) and time.monotonic() < deadline:
            time.sleep(1)
    finally:
        daemon.send_signal(signal.SIGTERM)
        try:
            daemon.wait(180)
        except subprocess.TimeoutExpired:
            daemon.kill()
        with contextlib.suppress(ProcessLookupError):
            os.killpg(daemon.pid, signal.SIGKILL)  # the fork server, if it lingers
        log.close()
        for server in servers:
            server.shutdown()
    latencies = [receiver.arrived[t] - at for t, at in posted.items() if t in receiver.arrived]
    missed = len(posted) - len(latencies)
    if not latencies:
        print("no webhook arrived", file=sys.stderr)
        return 1
    p50, p95 = statistics.median(latencies), percentile(latencies, 0.95)
    goal = args.poll + 10
    print(
        f"events {len(posted)}, detected {len(latencies)}, missed {missed}, "
        f"unverified webhooks {receiver.unverified}"
    )
    print(
        f"latency post -> signed webhook: p50 {p50:.1f} s, p95 {p95:.1f} s, "
        f"max {max(latencies):.1f} s (poll {args.poll} s)"
    )
    print(f"ratio p95 / (poll + 10 s) = {p95 / goal:.2f}  (goal <= 1.00)")
    return 0 if missed == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
