"""Segmentation speed: Segmenter.cut and index_tokens vs plain jieba.lcut on the same texts,
in the same run. Run: uv run --frozen python bench/segment_bench.py [--texts N]"""

from __future__ import annotations

import argparse
import csv
import itertools
import logging
import time
from collections.abc import Callable
from pathlib import Path

import jieba

from analysis.normalize import normalize
from analysis.segment import Segmenter

SENTIMENT = Path(__file__).resolve().parents[2] / "shared" / "data" / "sentiment"
WORDS = ["苏州大学", "苏大", "苏大附一院", "三食堂", "张三", "独墅湖校区", "学工处", "文正学院"]


def load(limit: int) -> list[str]:
    texts: list[str] = []
    files = sorted(SENTIMENT.glob("*.csv"))
    if not files:
        raise SystemExit(f"no texts: {SENTIMENT} has no *.csv")
    per_file = max(1, limit // len(files))
    for path in files:
        with path.open(encoding="utf-8") as fh:
            rows = csv.reader(fh)
            next(rows)
            texts.extend(row[1] for row in itertools.islice(rows, per_file) if len(row) > 1)
    return texts


def seconds(fn: Callable[[str], object], texts: list[str]) -> float:
    start = time.perf_counter()
    for text in texts:
        fn(text)
    return time.perf_counter() - start


def identity(seg: Segmenter, texts: list[str]) -> None:
    """Segmenter.raw_cut (rjieba where safe) against jieba.lcut with the same added words."""
    reference = jieba.Tokenizer()
    for word, freq in seg.added.items():
        reference.add_word(word, freq)
    differ = []
    for text in texts:
        norm = normalize(text)
        expected = [t for t in reference.lcut(norm) if any(c.isalnum() for c in t)]
        if seg.raw_cut(norm) != expected:
            differ.append(text)
    print(f"{len(texts) - len(differ)} of {len(texts)} texts token-identical to jieba.lcut")
    for text in differ[:10]:
        print("  differs:", text[:80])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--texts", type=int, default=8000, help="how many texts (default 8000)")
    parser.add_argument("--rounds", type=int, default=3, help="best of N rounds (default 3)")
    parser.add_argument(
        "--identity",
        action="store_true",
        help="instead of timing, count the texts whose words differ from jieba.lcut's",
    )
    args = parser.parse_args()
    jieba.setLogLevel(logging.WARNING)
    texts = load(args.texts)
    megabytes = sum(len(t.encode("utf-8")) for t in texts) / 1e6
    seg = Segmenter(WORDS)
    baseline = jieba.Tokenizer()
    for word in WORDS:
        baseline.add_word(word)
    baseline.lcut("预热")
    seg.cut("预热")
    if args.identity:
        identity(seg, texts)
        return
    print(f"{len(texts)} texts, {megabytes:.2f} MB (UTF-8), best of {args.rounds} rounds")
    contenders: list[tuple[str, Callable[[str], object]]] = [
        ("jieba.lcut", baseline.lcut),
        ("Segmenter.cut", seg.cut),
        ("Segmenter.index_tokens", seg.index_tokens),
        ("Segmenter(fast=False).cut", Segmenter(WORDS, fast=False).cut),
    ]
    # Rounds interleave the contenders, and each keeps its best round: on a shared machine the
    # load changes from second to second, and the best round is the least disturbed one.
    best = {name: float("inf") for name, _ in contenders}
    for _ in range(args.rounds):
        for name, fn in contenders:
            best[name] = min(best[name], seconds(fn, texts))
    base = megabytes / best["jieba.lcut"]
    for name, _ in contenders:
        mbs = megabytes / best[name]
        print(f"{name:27} {mbs:6.2f} MB/s  {mbs / base:5.2f}x")


if __name__ == "__main__":
    main()
