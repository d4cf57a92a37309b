"""Sentiment: texts/s, accuracy and negative F1 of the shipped model vs SnowNLP, in one run.

Usage: uv run --frozen python bench/sentiment_bench.py [--data DIR] [--rounds N] [--batch N]
Both run on the same held-out Weibo texts (scripts/train_sentiment.py's split), on one core,
in interleaved rounds so that load from other processes hits both sides alike. Speed is the
shipped model's; accuracy is that of the model trained without the held-out part (the shipped
one may have trained on it, see docs/sentiment-data-card.md).
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import sys
import time
from collections.abc import Callable, Sequence
from functools import partial
from pathlib import Path
from types import ModuleType

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:  # run as a script, the repo root is not on the path
    sys.path.insert(0, str(REPO))

import rjieba  # noqa: E402

from analysis.sentiment import SentimentModel, normalize  # noqa: E402  # needs sys.path above

HELDOUT_MODEL = REPO / "tests" / "analysis" / "data" / "sentiment_train80.npz"


def _trainer() -> ModuleType:
    spec = importlib.util.spec_from_file_location(
        "train_sentiment", REPO / "scripts" / "train_sentiment.py"
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _figures(pred_positive: Sequence[bool], labels: Sequence[int]) -> tuple[float, float]:
    """(accuracy, negative-class F1)."""
    right = sum(int(p) == y for p, y in zip(pred_positive, labels, strict=True))
    tp = sum(not p and y == 0 for p, y in zip(pred_positive, labels, strict=True))
    predicted_negative = sum(not p for p in pred_positive)
    negatives = sum(y == 0 for y in labels)
    f1 = 2 * tp / (predicted_negative + negatives) if predicted_negative + negatives else 0.0
    return right / len(labels), f1


class Clock:
    """Wall and CPU seconds summed over the rounds (CPU is steadier on a shared machine)."""

    def __init__(self) -> None:
        self.wall = 0.0
        self.cpu = 0.0

    def run(self, work: Callable[[], list[float]]) -> list[float]:
        wall, cpu = time.perf_counter(), time.process_time()
        out = work()
        self.wall += time.perf_counter() - wall
        self.cpu += time.process_time() - cpu
        return out


def main(argv: Sequence[str] | None = None) -> int:
    trainer = _trainer()
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=trainer.DEFAULT_DATA)
    parser.add_argument("--rounds", type=int, default=5, help="interleaved rounds")
    parser.add_argument("--batch", type=int, default=1000, help="texts per predict() call")
    parser.add_argument("--model", type=Path, default=HELDOUT_MODEL, help="model for figures")
    args = parser.parse_args(argv)
    if args.rounds < 1 or args.batch < 1:
        print("sentiment_bench: --rounds and --batch must be at least 1", file=sys.stderr)
        return 2
    if hasattr(os, "sched_setaffinity"):  # "one core": keep the process on one CPU
        os.sched_setaffinity(0, {min(os.sched_getaffinity(0))})
    try:
        rows = trainer.load_rows(args.data / trainer.TRAIN_FILE)
        scored = SentimentModel.load(args.model)
    except (trainer.DataError, OSError) as exc:
        print(f"sentiment_bench: {exc}", file=sys.stderr)
        return 2
    _, heldout = trainer.split(rows)
    texts = [t for t, _ in heldout]
    labels = [y for _, y in heldout]
    chars = sum(len(t) for t in texts)
    print(f"held-out Weibo texts: {len(texts)}, {chars / len(texts):.0f} characters on average")

    start = time.perf_counter()
    model = SentimentModel.load()
    print(f"model load: {time.perf_counter() - start:.2f} s")
    # What an analyzer that has already cut the text hands over (predict(texts, tokens=...)).
    cut = [rjieba.cut(normalize(t)) for t in texts]

    def ours(given: bool) -> list[float]:
        out: list[float] = []
        for i in range(0, len(texts), args.batch):
            part = cut[i : i + args.batch] if given else None
            out += [r.score for r in model.predict(texts[i : i + args.batch], part)]
        return out

    from snownlp import SnowNLP

    def snow(part: Sequence[str]) -> list[float]:
        return [float(SnowNLP(t).sentiments) for t in part]

    own, given, snowed = Clock(), Clock(), Clock()
    snow_scores = [0.0] * len(texts)
    for r in range(args.rounds):  # SnowNLP does 1/rounds of the texts per round
        own.run(partial(ours, False))
        given.run(partial(ours, True))
        snow_scores[r :: args.rounds] = snowed.run(partial(snow, texts[r :: args.rounds]))
    n = args.rounds * len(texts)
    our_rate, our_cpu_rate = n / own.wall, n / own.cpu
    given_rate, given_cpu_rate = n / given.wall, n / given.cpu
    snow_rate, snow_cpu_rate = len(texts) / snowed.wall, len(texts) / snowed.cpu
    our_acc, our_f1 = _figures([s >= 0.5 for s in scored.scores(texts).tolist()], labels)
    snow_acc, snow_f1 = _figures([s >= 0.5 for s in snow_scores], labels)

    print(f"{'':10} {'texts/s':>10} {'per CPU-s':>10} {'accuracy':>9} {'neg F1':>7}")
    print(f"{'yuqing':10} {our_rate:10,.0f} {our_cpu_rate:10,.0f} {our_acc:9.4f} {our_f1:7.4f}")
    print(f"{' +tokens':10} {given_rate:10,.0f} {given_cpu_rate:10,.0f}   (words given, not cut)")
    print(
        f"{'SnowNLP':10} {snow_rate:10,.0f} {snow_cpu_rate:10,.0f} {snow_acc:9.4f} {snow_f1:7.4f}"
    )
    print(
        f"ratio yuqing/SnowNLP: speed {our_rate / snow_rate:.1f}x "
        f"({our_cpu_rate / snow_cpu_rate:.1f}x per CPU second), "
        f"accuracy {our_acc / snow_acc:.2f}x, negative F1 {our_f1 / snow_f1:.2f}x"
    )
    print(
        "(accuracy and F1 with score >= 0.5 as positive, i.e. without the neutral band, of "
        f"{args.model.name}, trained on {scored.meta['train_rows']} texts without the held-out)"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
