"""Daemon memory over a simulated 24 hours of patrol, on a fast clock: the patrol daemon's own job
functions (each source's scheduled crawl in a forked child, the alert rules every minute, the
webhook worker every 10 s, 督办 every 5 minutes) are run in this process as many times as a day
of their schedules would run them, back to back, against locally served forums that gain posts
(negative ones raise alerts to a local receiver) every simulated hour.

    uv run --frozen python bench/memory_24h.py                      # 24 h, 3 forums every 15 min
    uv run --frozen python bench/memory_24h.py --hours 6 --every 30  # a quick look

Prints the RSS of this process (the daemon) and of the crawl children (the fork server and the
largest crawl child seen) per simulated hour, start/end/max and the slope per hour after the first
hour (warm-up), and the ratio end / start (the goal: <= 1.10, flat). A crawl child's RSS counts the
pages it shares with the fork server; its PSS counts them by share.
"""

from __future__ import annotations

import argparse
import os
import random
import sys
import tempfile
import threading
import time
from datetime import datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.detection_latency import SECRET, negative_post, write_config  # noqa: E402
from core.settings import load_settings  # noqa: E402
from crawler.runner import SourceSummary  # noqa: E402
from service import crawl_worker  # noqa: E402
from service.demo_sites import SitesServer, World  # noqa: E402
from service.demo_story import Event  # noqa: E402
from service.duties import Duties  # noqa: E402
from service.patrol import Patrol  # noqa: E402

FORUM_PATH = "/forum/forum.php?mod=forumdisplay&fid=2"


def rss_kib(pid: int | str = "self") -> int:
    """Resident set size in KiB from /proc (0 when the process is gone)."""
    return _proc_kib(f"/proc/{pid}/status", "VmRSS:")


def pss_kib(pid: int | str) -> int:
    """Proportional set size: pages shared with the fork server counted by share."""
    return _proc_kib(f"/proc/{pid}/smaps_rollup", "Pss:")


def _proc_kib(path: str, key: str) -> int:
    try:
        for line in Path(path).read_text().splitlines():
            if line.startswith(key):
                return int(line.split()[1])
    except (OSError, ValueError):
        pass
    return 0


def children_of(pid: int) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        if int(stat.rsplit(")", 1)[1].split()[1]) == pid:
            found.append(int(entry.name))
    return found


class ChildWatch:
    """Samples the fork server and its crawl children every 0.2 s; keeps the largest child."""

    def __init__(self) -> None:
        self.server_pid = 0
        self.peak_child = 0
        self.peak_pss = 0
        self.stop = threading.Event()
        threading.Thread(target=self._run, daemon=True).start()

    def _run(self) -> None:
        while not self.stop.wait(0.2):
            server = self.server_pid
            if server:
                for child in children_of(server):
                    self.peak_child = max(self.peak_child, rss_kib(child))
                    self.peak_pss = max(self.peak_pss, pss_kib(child))

    def take_peak(self) -> tuple[int, int]:
        """The largest crawl child's (RSS, PSS) since the last call."""
        peak = (self.peak_child, self.peak_pss)
        self.peak_child = self.peak_pss = 0
        return peak


class Sink(BaseHTTPRequestHandler):
    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("content-length", 0)))
        self.send_response(200)
        self.send_header("content-length", "0")
        self.end_headers()

    def log_message(self, format: str, *args: object) -> None:
        pass


def _serve(server: ThreadingHTTPServer) -> None:
    threading.Thread(target=server.serve_forever, daemon=True).start()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--hours", type=int, default=24, help="simulated hours")
    parser.add_argument("--sources", type=int, default=3, help="forums patrolled")
    parser.add_argument("--every", type=int, default=15, help="minutes between a source's patrols")
    parser.add_argument("--posts", type=int, default=2, help="new posts per forum per hour")
    args = parser.parse_args()
    if min(args.hours, args.sources, args.every, args.posts) < 1 or args.every > 60:
        parser.error("the counts must be at least 1, --every at most 60")
    os.environ["YUQING_CASES_SECRET"] = SECRET
    worlds = [World() for _ in range(args.sources)]
    servers = [SitesServer(("127.0.0.1", 0), w) for w in worlds]
    sink = ThreadingHTTPServer(("127.0.0.1", 0), Sink)
    for server in [*servers, sink]:
        _serve(server)
    folder = Path(tempfile.mkdtemp(prefix="yuqing-memory-"))
    forums = [f"http://127.0.0.1:{s.server_address[1]}{FORUM_PATH}" for s in servers]
    config = write_config(folder, forums, f"http://127.0.0.1:{sink.server_address[1]}/cases", 600)
    settings = load_settings(str(config))
    # Every call evaluates a window, as each minute's run would on the real clock.
    duties = Duties(settings, alert_interval=timedelta(microseconds=1))
    crawls: list[SourceSummary] = []
    patrol = Patrol(settings, str(config), crawls.append)
    patrol.attach(duties)
    watch = ChildWatch()
    rng = random.Random(3)
    per_hour = 60 // args.every
    print(
        f"{args.hours} simulated hours: {args.sources} forums patrolled every {args.every} min "
        f"({per_hour * args.sources} crawls/h), alert rules 60/h, webhooks 360/h, 督办 12/h",
        flush=True,
    )
    print(
        f"{'hour':>4} {'daemon MiB':>10} {'fork server':>11} {'crawl RSS':>9} {'crawl PSS':>9} "
        f"{'posts':>6}"
    )
    samples: list[int] = []
    started = time.monotonic()
    n = 0
    for hour in range(1, args.hours + 1):
        for world in worlds:
            for _ in range(args.posts):
                n += 1
                title, text = negative_post(n, rng)
                if n % 2:  # every other one an everyday post
                    title, text = f"第{n}号通知", f"江州理工大学图书馆第{n}期讲座本周五举行。"
                world.publish(
                    Event(0, "forum", "thread", f"p{n}", "学生", text, title), datetime.now()
                )
        for minute in range(60):
            if minute % args.every == 0:
                for source in patrol.sources():
                    patrol.scheduled(source.id)
                    if not watch.server_pid and crawl_worker._context is not None:
                        watch.server_pid = _forkserver_pid()
            patrol.duty("alert rules")
            for _ in range(6):
                patrol.duty("webhooks")
            if minute % 5 == 0:
                patrol.duty("督办")
        daemon = rss_kib()
        samples.append(daemon)
        child_rss, child_pss = watch.take_peak()
        print(
            f"{hour:>4} {daemon / 1024:>10.1f} {rss_kib(watch.server_pid) / 1024:>11.1f} "
            f"{child_rss / 1024:>9.1f} {child_pss / 1024:>9.1f} {n:>6}",
            flush=True,
        )
    watch.stop.set()
    duties.close()
    for server in [*servers, sink]:
        server.shutdown()
    failed = sum(s.outcome != "finished" for s in crawls)
    warm = samples[1:] or samples
    start, end = warm[0], warm[-1]
    slope = (end - start) / max(1, len(warm) - 1)
    print(
        f"{len(crawls)} crawls ({failed} not finished) in {time.monotonic() - started:.0f} s; "
        f"daemon RSS after warm-up {start / 1024:.1f} MiB, end {end / 1024:.1f} MiB, "
        f"max {max(samples) / 1024:.1f} MiB, slope {slope / 1024:+.2f} MiB per simulated hour"
    )
    print(f"ratio end / start = {end / start:.3f}  (goal <= 1.10)")
    return 0


def _forkserver_pid() -> int:
    from multiprocessing import forkserver

    return int(getattr(forkserver._forkserver, "_forkserver_pid", 0) or 0)


if __name__ == "__main__":
    sys.exit(main())
