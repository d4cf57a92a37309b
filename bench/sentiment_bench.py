"""Sentiment: texts/s, accuracy and negative F1 of the shipped model vs SnowNLP, in one run.

Usage: uv run --frozen python bench/sentiment_bench.py [--data DIR] [--repeat N] [--batch N]
Both run on the same held-out Weibo texts (scripts/train_sentiment.py's split), on one core.
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from types import ModuleType

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:  # run as a script, the repo root is not on the path
    sys.path.insert(0, str(REPO))

from analysis.sentiment import SentimentModel  # noqa: E402  # needs the sys.path line above


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


def _timed(run: Callable[[], list[float]]) -> tuple[list[float], float, float]:
    """Scores, wall seconds and CPU seconds (the CPU figure is steadier on a shared machine)."""
    wall, cpu = time.perf_counter(), time.process_time()
    scores = run()
    return scores, time.perf_counter() - wall, time.process_time() - cpu


def main(argv: Sequence[str] | None = None) -> int:
    trainer = _trainer()
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=trainer.DEFAULT_DATA)
    parser.add_argument("--repeat", type=int, default=5, help="passes of our model over the texts")
    parser.add_argument("--batch", type=int, default=1000, help="texts per predict() call")
    args = parser.parse_args(argv)
    if args.repeat < 1 or args.batch < 1:
        print("sentiment_bench: --repeat and --batch must be at least 1", file=sys.stderr)
        return 2
    if hasattr(os, "sched_setaffinity"):  # "one core": keep the process on one CPU
        os.sched_setaffinity(0, {min(os.sched_getaffinity(0))})
    try:
        rows = trainer.load_rows(args.data / trainer.TRAIN_FILE)
    except trainer.DataError as exc:
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

    def ours() -> list[float]:
        out: list[float] = []
        for _ in range(args.repeat):
            out = []
            for i in range(0, len(texts), args.batch):
                out += [r.score for r in model.predict(texts[i : i + args.batch])]
        return out

    from snownlp import SnowNLP

    def snow() -> list[float]:
        return [float(SnowNLP(t).sentiments) for t in texts]

    our_scores, our_wall, our_cpu = _timed(ours)
    snow_scores, snow_wall, snow_cpu = _timed(snow)
    our_rate, our_cpu_rate = (args.repeat * len(texts) / t for t in (our_wall, our_cpu))
    snow_rate, snow_cpu_rate = (len(texts) / t for t in (snow_wall, snow_cpu))
    our_acc, our_f1 = _figures([s >= 0.5 for s in our_scores], labels)
    snow_acc, snow_f1 = _figures([s >= 0.5 for s in snow_scores], labels)

    print(f"{'':10} {'texts/s':>10} {'per CPU-s':>10} {'accuracy':>9} {'neg F1':>7}")
    print(f"{'yuqing':10} {our_rate:10,.0f} {our_cpu_rate:10,.0f} {our_acc:9.4f} {our_f1:7.4f}")
    print(
        f"{'SnowNLP':10} {snow_rate:10,.0f} {snow_cpu_rate:10,.0f} {snow_acc:9.4f} {snow_f1:7.4f}"
    )
    print(
        f"ratio yuqing/SnowNLP: speed {our_rate / snow_rate:.1f}x "
        f"({our_cpu_rate / snow_cpu_rate:.1f}x per CPU second), "
        f"accuracy {our_acc / snow_acc:.2f}x, negative F1 {our_f1 / snow_f1:.2f}x"
    )
    print("(accuracy and F1 with score >= 0.5 as positive, i.e. without the neutral band)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
