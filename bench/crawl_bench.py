"""Crawl benchmarks on a locally served site, each against a baseline measured in the same run.

1. Pages/s through the full pipeline (site spider: page recognition, article extraction,
   analysis, evidence, index) vs. bare Scrapy fetching the same pages with the same
   politeness, in alternating rounds.
2. Re-patrol of unchanged sources: bytes and requests of a second patrol vs. the first.
3. (``--cpu-rounds N``) CPU per page of the crawl process's reactor thread and of the analysis
   worker, this tree and ``--compare``'s alternating.

    uv run --frozen python bench/crawl_bench.py [--pages 200] [--polite-pages 60] [--feeds 20]
        [--rounds 3] [--analysis-worker auto|on|off] [--compare OLD_TREE] [--cpu-rounds 3]

``--compare OLD_TREE`` also runs, in every round, the full pipeline of another checkout of the
project (say ``git archive 3f50822 | tar -x -C /tmp/old_crawl``) on the same site, so old and
new code alternate in one run under the same load.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.crawler.server import PAGES, Received, Reply, TestServer  # noqa: E402

# The same politeness for both runs: only the work done per page differs.
SETTINGS = {
    "DOWNLOAD_DELAY": 0.001,
    "AUTOTHROTTLE_ENABLED": False,
    "ROBOTSTXT_OBEY": False,
    "CONCURRENT_REQUESTS_PER_DOMAIN": 8,
    "RETRY_TIMES": 0,
    "LOG_LEVEL": "ERROR",
}
WORDS = [
    "学校",
    "学生",
    "食堂",
    "宿舍",
    "后勤",
    "图书馆",
    "老师",
    "课程",
    "考试",
    "通知",
    "安全",
    "管理",
    "服务",
    "校园",
    "活动",
    "会议",
    "工作",
    "部门",
    "反映",
    "问题",
    "处理",
    "情况",
    "建议",
    "意见",
    "改进",
    "开放",
    "时间",
    "价格",
    "质量",
    "环境",
]


def article(n: int, pages: int, rng: random.Random) -> str:
    paragraphs = "".join(
        "<p>" + "".join(rng.choice(WORDS) for _ in range(60)) + "。</p>" for _ in range(6)
    )
    links = "".join(f'<a href="/a/{(n * 7 + k) % pages}.html">相关{k}</a> ' for k in range(1, 4))
    return (
        f"<!DOCTYPE html><html><head><meta charset='utf-8'><title>第{n}号通知</title></head>"
        f"<body><div class='nav'><a href='/index.html'>首页</a></div><div class='article'>"
        f"<h1>第{n}号通知</h1><p class='info'>2026-11-{1 + n % 28:02d} 09:00</p>"
        f"{paragraphs}</div><div class='related'>{links}</div></body></html>"
    )


def serve_site(server: TestServer, pages: int) -> None:
    rng = random.Random(7)
    bodies = [article(n, pages, rng).encode("utf-8") for n in range(pages)]
    html = {"Content-Type": "text/html; charset=utf-8"}
    server.route(
        "/index.html",
        Reply(
            body="<html><body>"
            + "".join(f'<a href="/a/{n}.html">{n}</a>' for n in range(pages))
            + "</body></html>",
            headers=html,
        ),
    )

    def page(req: Received) -> Reply:
        n = int(req.path.rsplit("/", 1)[-1].split(".")[0])
        return Reply(body=bodies[n], headers=html)

    server.prefix_routes = [(p, h) for p, h in server.prefix_routes if p != "/a/"]
    server.route_prefix("/a/", page)


def run_job(job: dict[str, Any], work: Path, name: str, tree: Path = ROOT) -> dict[str, Any]:
    path = work / f"{name}.json"
    path.write_text(json.dumps(job), encoding="utf-8")
    return _child_json(["-m", "crawler.runner", str(path)], tree)


def _child_json(args: list[str], tree: Path) -> dict[str, Any]:
    """Run ``python ARGS`` in ``tree`` and read the last JSON line it prints (a crawl's
    result); a child that prints none ends the bench with its stderr."""
    done = subprocess.run(
        [sys.executable, *args], cwd=tree, capture_output=True, text=True, check=False
    )
    lines = [line for line in done.stdout.splitlines() if line.startswith("{")]
    if not lines:
        raise SystemExit(f"crawl failed:\n{done.stderr[-3000:]}")
    result: dict[str, Any] = json.loads(lines[-1])
    return result


def bare(url: str, delay: float) -> None:
    """Bare Scrapy: fetch every same-site link, do nothing else (run in a child process)."""

    import scrapy
    from scrapy.crawler import CrawlerProcess

    class Bare(scrapy.Spider):
        name = "bare"
        start_urls = [url]  # noqa: RUF012  # Scrapy's own attribute

        def parse(self, response: Any) -> Any:
            for href in response.css("a::attr(href)").getall():
                yield response.follow(href, self.parse)

    process = CrawlerProcess({**SETTINGS, "DOWNLOAD_DELAY": delay, "TELNETCONSOLE_ENABLED": False})
    crawler = process.create_crawler(Bare)
    process.crawl(crawler)
    process.start()
    assert crawler.stats is not None
    stats = crawler.stats.get_stats()
    seconds = (stats["finish_time"] - stats["start_time"]).total_seconds()
    print(json.dumps({"pages": stats.get("response_received_count", 0), "seconds": seconds}))


class Side:
    """One timed run: pages, crawl seconds, process seconds, CPU seconds (the process and its
    children: the analysis worker too), posts."""

    def __init__(self, pages: int, seconds: float, wall: float, cpu: float, posts: int) -> None:
        self.pages, self.seconds, self.wall, self.cpu, self.posts = pages, seconds, wall, cpu, posts

    @property
    def rate(self) -> float:
        return self.pages / self.seconds

    def show(self, name: str) -> str:
        return (
            f"{name} {self.pages:4d} pages in {self.seconds:6.2f}s {self.rate:6.1f}/s "
            f"(start-up {self.wall - self.seconds:4.1f}s, CPU {self.cpu:5.1f}s)"
        )


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def _bare_round(url: str, delay: float) -> Side:
    """Bare Scrapy in a child process."""
    started, cpu = time.perf_counter(), _children_cpu()
    out = subprocess.run(
        [sys.executable, __file__, "--bare", url, "--delay", str(delay)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    )
    base = json.loads(out.stdout.strip().splitlines()[-1])
    wall = time.perf_counter() - started
    return Side(base["pages"], base["seconds"], wall, _children_cpu() - cpu, 0)


def _job(url: str, work: Path, pages: int, delay: float, name: str, worker: str) -> dict[str, Any]:
    job: dict[str, Any] = {
        "sources": [
            {"id": "bench", "kind": "site", "urls": [url], "max_pages": pages + 10, "max_depth": 10}
        ],
        "data_dir": str(work / f"data-{name}"),
        "allow_private_addresses": True,
        "force": True,
        "settings": {**SETTINGS, "DOWNLOAD_DELAY": delay},
    }
    if worker != "auto":  # only then: an older checkout's job knows no such field
        job["analysis_worker"] = worker == "on"
    return job


def _full_round(
    url: str, work: Path, pages: int, delay: float, name: str, tree: Path, worker: str
) -> Side:
    """The full pipeline (crawler.runner) of the checkout ``tree``."""
    started, cpu = time.perf_counter(), _children_cpu()
    result = run_job(_job(url, work, pages, delay, name, worker), work, name, tree)
    wall = time.perf_counter() - started
    [summary] = result["sources"]
    seconds = (
        datetime.fromisoformat(summary["ended"]) - datetime.fromisoformat(summary["started"])
    ).total_seconds()
    return Side(summary["pages"], seconds, wall, _children_cpu() - cpu, summary["posts"])


def throughput(
    server: TestServer,
    work: Path,
    pages: int,
    delay: float,
    rounds: int,
    worker: str = "auto",
    compare: Path | None = None,
) -> None:
    serve_site(server, pages)
    url = server.url("/index.html")
    print(
        f"1. throughput over {pages} locally served article pages, per-domain delay {delay}s, "
        f"analysis worker {worker}; load average {_load()}"
    )
    # Each timed from the crawl's own start to its finish (Scrapy's stats): process start-up
    # (imports; for the pipeline also the analyzer's dictionaries and models, which a
    # pre-loaded worker builds once) is shown apart, not counted per page. Rounds rotate
    # which side goes first, so a load that comes and goes hits every side.
    sides = ["bare", "full", *(["old"] if compare else [])]
    ratios, old_ratios = [], []
    for n in range(rounds):
        shift = n % len(sides)
        got: dict[str, Side] = {}
        for side in sides[shift:] + sides[:shift]:
            if side == "bare":
                got[side] = _bare_round(url, delay)
            elif side == "full":
                got[side] = _full_round(url, work, pages, delay, f"new-{delay}-{n}", ROOT, worker)
            else:
                assert compare is not None
                got[side] = _full_round(
                    url, work, pages, delay, f"old-{delay}-{n}", compare, "auto"
                )
        bare, full = got["bare"], got["full"]
        ratios.append(full.rate / bare.rate)
        print(f"   round {n + 1} (load {_load()}): {bare.show('bare Scrapy')}")
        print(
            f"      {full.show('full pipeline')}, {full.posts} posts analysed and indexed, "
            f"evidence kept; ratio {full.rate / bare.rate:.2f}x"
        )
        if compare:
            old = got["old"]
            old_ratios.append(old.rate / bare.rate)
            print(
                f"      {old.show('old pipeline ')}, {old.posts} posts; ratio "
                f"{old.rate / bare.rate:.2f}x; new/old {full.rate / old.rate:.2f}x"
            )
    print(f"   ratio            {statistics.median(ratios):.2f}x median of {rounds} (goal >= 0.7x)")
    if compare:
        print(f"   old ({compare}) {statistics.median(old_ratios):.2f}x median of {rounds}")


def reactor_cpu(
    server: TestServer, work: Path, pages: int, rounds: int, worker: str, compare: Path | None
) -> None:
    """CPU per page of the crawl process's reactor thread (Scrapy and everything our pipeline
    still does there), first response to last, and of the analysis worker, this tree and
    ``compare`` alternating: unlike pages/s, hardly moved by what else the machine runs."""
    serve_site(server, pages)
    url = server.url("/index.html")
    print(f"3. CPU of the crawl over {pages} pages, per page; load average {_load()}")
    trees = [("new", ROOT), *([("old", compare)] if compare else [])]
    seen: dict[str, list[tuple[float, float]]] = {name: [] for name, _ in trees}
    for n in range(rounds):
        for name, tree in trees[n % len(trees) :] + trees[: n % len(trees)]:
            path = work / f"cpu-{name}-{n}.json"
            path.write_text(json.dumps(_job(url, work, pages, 0.001, f"cpu-{name}-{n}", worker)))
            got = _child_json([__file__, "--cpu-child", str(path), "--tree", str(tree)], tree)
            seen[name].append((got["reactor_ms"], got["worker_ms"]))
            print(
                f"   round {n + 1} {name} (load {_load()}): {got['pages']} pages, "
                f"{got['posts']} posts; reactor {got['reactor_ms']:5.2f} ms/page, analysis "
                f"worker {got['worker_ms']:5.2f} ms/page"
            )
    for name, values in seen.items():
        print(
            f"   {name}: reactor {statistics.median(v[0] for v in values):5.2f} ms/page, worker "
            f"{statistics.median(v[1] for v in values):5.2f} ms/page (medians of {rounds})"
        )


def cpu_child(job_path: str, tree: str) -> None:
    """One crawl of ``tree``'s code in this process, timing the reactor thread's CPU."""
    sys.path.insert(0, tree)
    from crawler.runner import CrawlJob, run

    marks: list[float] = []

    def progress(_source: str, _pages: int, _posts: int) -> None:
        marks.append(time.thread_time())  # on every response (and every 20th post)

    job = CrawlJob.model_validate_json(Path(job_path).read_text(encoding="utf-8"))
    [summary] = run(job, progress)
    pages = summary.pages
    print(
        json.dumps(
            {
                "pages": pages,
                "posts": summary.posts,
                "reactor_ms": 1000 * (marks[-1] - marks[0]) / max(pages - 1, 1),
                "worker_ms": 1000 * _children_cpu() / max(pages, 1),
            }
        )
    )


def _load() -> str:
    return " ".join(f"{v:.1f}" for v in os.getloadavg())


def repatrol(server: TestServer, work: Path, feeds: int) -> None:
    rng = random.Random(11)
    names = ["rss2.xml", "atom.xml", "rss1.rdf", "rss091.xml"]
    sources = []
    for n in range(feeds):
        base = (PAGES / "patrol" / names[n % len(names)]).read_text(encoding="utf-8")
        # Real feeds carry 20-50 entries: pad with comments so the sizes are realistic.
        filler = "<!-- " + "".join(rng.choice(WORDS) for _ in range(4000)) + " -->"
        # No <ttl>: the second patrol must ask (conditional GET), not skip the feed.
        body = base.replace("?>", "?>" + filler, 1).replace("<ttl>60</ttl>", "")
        server.route(
            f"/feeds/{n}.xml",
            Reply(body=body, conditional=True, headers={"Content-Type": "application/xml"}),
        )
        sources.append({"id": f"feed{n}", "kind": "feed", "urls": [server.url(f"/feeds/{n}.xml")]})
    sources.append(
        {
            "id": "forum",
            "kind": "forum",
            "profile": "discuz_x",
            "urls": [server.url("/discuz_x/forum-2-1.html")],
        }
    )
    # A scheduled patrol (not forced): sources decide for themselves what to fetch again.
    job = {
        "sources": sources,
        "data_dir": str(work / "data-patrol"),
        "allow_private_addresses": True,
        "settings": SETTINGS,
    }
    rounds = []
    for name in ("patrol1", "patrol2"):
        server.clear()
        result = run_job(job, work, name)
        rounds.append(
            (
                result,
                {
                    kind: (
                        len(server.received(prefix)),
                        sum(r.bytes_sent for r in server.received(prefix)),
                    )
                    for kind, prefix in (
                        ("feeds", "/feeds/"),
                        ("forum", "/discuz_x/"),
                        ("all", "/"),
                    )
                },
            )
        )
    (first, seen1), (second, seen2) = rounds
    not_modified = sum(s["not_modified"] for s in second["sources"])
    new = [sum(s["new_posts"] for s in r["sources"]) for r in (first, second)]
    print(
        f"2. re-patrol of {feeds} unchanged feeds and one unchanged forum (bytes the server sent)"
    )
    for kind in ("feeds", "forum", "all"):
        (req1, bytes1), (req2, bytes2) = seen1[kind], seen2[kind]
        print(
            f"   {kind:6s} first {req1:3d} requests {bytes1:8d} B; second {req2:3d} requests "
            f"{bytes2:8d} B; saved {1 - bytes2 / max(bytes1, 1):6.1%} of bytes"
        )
    print(
        f"   new posts: first {new[0]}, second {new[1]}; {not_modified} of {feeds} feeds "
        "answered 304  (goal >= 95% fewer bytes)"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pages", type=int, default=200)
    parser.add_argument("--feeds", type=int, default=20, help="0: skip the re-patrol")
    parser.add_argument("--rounds", type=int, default=3, help="throughput rounds, alternating")
    parser.add_argument(
        "--polite-pages",
        type=int,
        default=60,
        help="pages for the run at a polite delay (0: skip it)",
    )
    parser.add_argument(
        "--analysis-worker",
        choices=["auto", "on", "off"],
        default="auto",
        help="the pipeline's analysis in a worker process (auto: on 2+ cores)",
    )
    parser.add_argument(
        "--compare", type=Path, help="another checkout whose full pipeline runs in every round"
    )
    parser.add_argument(
        "--cpu-rounds",
        type=int,
        default=0,
        help="rounds of part 3, CPU per page of the reactor and the worker (0: skip it)",
    )
    parser.add_argument("--bare", help=argparse.SUPPRESS)
    parser.add_argument("--delay", type=float, default=0.001, help=argparse.SUPPRESS)
    parser.add_argument("--cpu-child", help=argparse.SUPPRESS)
    parser.add_argument("--tree", default=str(ROOT), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.bare:
        bare(args.bare, args.delay)
        return
    if args.cpu_child:
        cpu_child(args.cpu_child, args.tree)
        return
    with tempfile.TemporaryDirectory() as tmp:
        server = TestServer().start()
        try:
            options = {"worker": args.analysis_worker, "compare": args.compare}
            throughput(server, Path(tmp), args.pages, 0.001, args.rounds, **options)
            if args.polite_pages:
                # A polite crawl (still far below the 2 s default): is the pipeline the limit?
                throughput(server, Path(tmp), args.polite_pages, 0.1, args.rounds, **options)
            if args.feeds:
                repatrol(server, Path(tmp), args.feeds)
            if args.cpu_rounds:
                reactor_cpu(
                    server,
                    Path(tmp),
                    args.pages,
                    args.cpu_rounds,
                    args.analysis_worker,
                    args.compare,
                )
        finally:
            server.stop()


if __name__ == "__main__":
    main()
