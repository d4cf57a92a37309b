"""Full analysis (segmentation, watch rules, keywords, sentiment, category, routing, severity,
repost folding) vs plain jieba.lcut over the same texts, in the same run.

Run: uv run --frozen python bench/analysis_bench.py [--posts N] [--config PATH]
Goal (issue 4): the whole analysis at least 2x faster than jieba segmentation alone.
"""

from __future__ import annotations

import argparse
import logging
import time

import jieba

from analysis.analyzer import Item
from analysis.folding import Folder
from bench.corpus import posts
from core.settings import load_settings
from pipelines.analysis import build_analyzer

BATCH = 512


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--posts", type=int, default=10_000)
    parser.add_argument("--config", default="config/example")
    parser.add_argument("--rounds", type=int, default=3, help="best of this many rounds each")
    args = parser.parse_args()
    logging.disable(logging.WARNING)  # the example's unset secrets are not the point here

    sample = list(posts(args.posts))
    items = [
        Item(
            text=p.text,
            title=p.title,
            id=p.id,
            site=p.site,
            time=p.time,
            replies=p.reply_count or 0,
        )
        for p in sample
    ]
    texts = [f"{i.title}\n{i.text}" for i in items]
    megabytes = sum(len(t.encode("utf-8")) for t in texts) / 1e6

    jieba.setLogLevel(logging.WARNING)
    jieba.initialize()
    analyzer = build_analyzer(load_settings(args.config))
    analyzer.analyze(items[:50])  # warm: lazy tables, caches

    def jieba_run() -> None:
        for text in texts:
            jieba.lcut(text)

    def analysis_run() -> None:
        analyzer.folder = Folder()
        for start in range(0, len(items), BATCH):
            analyzer.analyze(items[start : start + BATCH])

    best = {"jieba": float("inf"), "analysis": float("inf")}
    cpu = dict(best)
    for _ in range(args.rounds):  # interleaved, so a busy moment on the machine hits both
        for name, run in (("jieba", jieba_run), ("analysis", analysis_run)):
            start, start_cpu = time.perf_counter(), time.process_time()
            run()
            best[name] = min(best[name], time.perf_counter() - start)
            cpu[name] = min(cpu[name], time.process_time() - start_cpu)

    print(f"{len(texts)} posts, {megabytes:.2f} MB, best of {args.rounds} rounds")
    for name, label in (("jieba", "jieba.lcut alone"), ("analysis", "full analysis")):
        secs = best[name]
        print(
            f"  {label:17} {len(texts) / secs:9.0f} posts/s {megabytes / secs:7.2f} MB/s"
            f" ({cpu[name]:.2f} CPU s)"
        )
    # CPU seconds are disturbed less than wall time when other jobs share the machine.
    print(
        f"  ratio (full analysis vs jieba.lcut): {best['jieba'] / best['analysis']:.2f}x, "
        f"by CPU time {cpu['jieba'] / cpu['analysis']:.2f}x (goal >= 2x)"
    )


if __name__ == "__main__":
    main()
