"""Crawl start-up: one patrol of a small locally served forum as a fresh interpreter
(`python -m crawler.runner JOB.json`, how the daemon ran each crawl before) vs. forked from the
warm fork server (service/crawl_worker.py), in interleaved rounds so machine load hits both.

    uv run --frozen python bench/crawl_start_bench.py [--rounds 5]

Prints the wall time of each way (median) and the ratio fresh / forked.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from datetime import datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.detection_latency import FORUM_PATH, SECRET, write_config  # noqa: E402
from core.settings import load_settings  # noqa: E402
from core.settings_loader import config_path  # noqa: E402
from crawler.runner import job_for  # noqa: E402
from service.crawl_worker import crawl_in_child, warm  # noqa: E402
from service.demo_sites import SitesServer, World  # noqa: E402
from service.demo_story import SEED  # noqa: E402


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    world = World()
    for event in SEED:
        if event.site == "forum":
            world.publish(event, datetime.now())
    server = SitesServer(("127.0.0.1", 0), world)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    folder = Path(tempfile.mkdtemp(prefix="yuqing-crawlstart-"))
    url = f"http://127.0.0.1:{server.server_address[1]}{FORUM_PATH}"
    os.environ["YUQING_CASES_SECRET"] = SECRET
    config_dir = write_config(folder, [url], "http://127.0.0.1:9/cases", 600)
    settings = load_settings(str(config_dir))
    # As in the daemon, the data folder exists before the fork server warms up (the pipelines'
    # analyzer cache is keyed on the config path's modification time).
    settings.storage.data_dir.mkdir(parents=True, exist_ok=True)
    config = str(config_path(config_dir).resolve())
    job = job_for(settings, settings.sources, config=config)
    warm(config, job.dictionary_words)
    path = folder / "job.json"
    path.write_text(job.model_dump_json(), encoding="utf-8")
    limit = timedelta(minutes=5)
    t = time.perf_counter()
    crawl_in_child(job, limit)  # starts the fork server (and the first crawl indexes the posts)
    print(f"fork server start + first crawl: {time.perf_counter() - t:.1f} s", flush=True)
    fresh: list[float] = []
    forked: list[float] = []
    for n in range(args.rounds):
        t = time.perf_counter()
        done = subprocess.run(
            [sys.executable, "-m", "crawler.runner", str(path)],
            cwd=ROOT,
            capture_output=True,
            check=False,
        )
        fresh.append(time.perf_counter() - t)
        t = time.perf_counter()
        (summary,) = crawl_in_child(job, limit)
        forked.append(time.perf_counter() - t)
        print(
            f"round {n + 1}: fresh interpreter {fresh[-1]:.2f} s (exit {done.returncode}), "
            f"forked {forked[-1]:.2f} s ({summary.outcome}, {summary.pages} pages)",
            flush=True,
        )
    a, b = statistics.median(fresh), statistics.median(forked)
    print(f"median: fresh interpreter {a:.2f} s, forked from the warm server {b:.2f} s")
    print(f"ratio fresh / forked = {a / b:.1f}x")
    server.shutdown()
    return 0


if __name__ == "__main__":
    sys.exit(main())
