"""Sentiment: cost against jieba.lcut, texts/s and figures vs SnowNLP, old code vs new, one run.

Usage: uv run --frozen python bench/sentiment_bench.py [--data DIR] [--rounds N] [--batch N]
    [--baseline TREE]   (also time TREE/analysis/sentiment.py, e.g. an older checkout made
                         with `git archive 3f50822 | tar -x -C /tmp/old`, on the same model)
Everything runs on the same held-out Weibo texts (scripts/train_sentiment.py's split), on one
core, in interleaved rounds so that load from other processes hits every side alike. Speed is
the shipped model's; figures are those of the model trained without the held-out part.
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
from typing import Any

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:  # run as a script, the repo root is not on the path
    sys.path.insert(0, str(REPO))

import numpy as np  # noqa: E402
import rjieba  # noqa: E402

from analysis.sentiment import SentimentModel, normalize  # noqa: E402  # needs sys.path above

HELDOUT_MODEL = REPO / "tests" / "analysis" / "data" / "sentiment_train80.npz"


def _module(name: str, path: Path) -> ModuleType:
    spec = importlib.util.spec_from_file_location(name, path)
    if spec is None or spec.loader is None:
        raise OSError(f"cannot load {path}")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module  # dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


def _figures(pred: Sequence[int], labels: Sequence[int]) -> tuple[float, float]:
    """(accuracy, negative-class F1); pred is 1 positive, 0 negative, -1 neutral (wrong)."""
    right = sum(p == y for p, y in zip(pred, labels, strict=True))
    tp = sum(p == 0 and y == 0 for p, y in zip(pred, labels, strict=True))
    predicted_negative = sum(p == 0 for p in pred)
    negatives = sum(y == 0 for y in labels)
    f1 = 2 * tp / (predicted_negative + negatives) if predicted_negative + negatives else 0.0
    return right / len(labels), f1


class Clock:
    """Wall and CPU seconds summed over the rounds (CPU is steadier on a shared machine)."""

    def __init__(self) -> None:
        self.wall = 0.0
        self.cpu = 0.0

    def run(self, work: Callable[[], Any]) -> Any:
        wall, cpu = time.perf_counter(), time.process_time()
        out = work()
        self.wall += time.perf_counter() - wall
        self.cpu += time.process_time() - cpu
        return out


def main(argv: Sequence[str] | None = None) -> int:
    trainer = _module("train_sentiment", REPO / "scripts" / "train_sentiment.py")
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=trainer.DEFAULT_DATA)
    parser.add_argument("--rounds", type=int, default=5, help="interleaved rounds")
    parser.add_argument("--batch", type=int, default=1000, help="texts per predict() call")
    parser.add_argument("--model", type=Path, default=HELDOUT_MODEL, help="model for figures")
    parser.add_argument("--baseline", type=Path, default=None, help="older tree to time too")
    parser.add_argument("--no-snownlp", action="store_true", help="skip SnowNLP (slow)")
    args = parser.parse_args(argv)
    if args.rounds < 1 or args.batch < 1:
        print("sentiment_bench: --rounds and --batch must be at least 1", file=sys.stderr)
        return 2
    if hasattr(os, "sched_setaffinity"):  # "one core": keep the process on one CPU
        os.sched_setaffinity(0, {min(os.sched_getaffinity(0))})
    try:
        rows = trainer.load_rows(args.data / trainer.TRAIN_FILE)
        scored = SentimentModel.load(args.model)
        old = None
        if args.baseline is not None:
            old_code = _module("baseline_sentiment", args.baseline / "analysis" / "sentiment.py")
            old = old_code.SentimentModel.load()
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
    import jieba

    jieba.setLogLevel(60)
    jieba.lcut("预热")  # its dictionary loads on first use: not part of the timing

    def batched(which: Any, given: bool, numbered: bool = False) -> list[Any]:
        out: list[Any] = []
        for i in range(0, len(texts), args.batch):
            part: Any = cut[i : i + args.batch] if given else None
            if numbered:  # the words numbered for the batch, as the analyzer hands them over
                part = BatchWords(cut[i : i + args.batch])
            out += which.predict(texts[i : i + args.batch], part)
        return out

    from snownlp import SnowNLP

    def snow(part: Sequence[str]) -> list[float]:
        return [float(SnowNLP(t).sentiments) for t in part]

    sides: dict[str, tuple[Clock, Callable[[], Any]]] = {
        "jieba.lcut": (Clock(), lambda: [jieba.lcut(t) for t in texts]),
        "yuqing": (Clock(), lambda: batched(model, False)),
        "+tokens": (Clock(), lambda: batched(model, True)),
    }
    try:
        from analysis.batch_words import BatchWords
    except ImportError:  # an older tree's code on PYTHONPATH
        pass
    else:
        sides["+numbered"] = (Clock(), lambda: batched(model, True, numbered=True))
    if old is not None:
        sides["old"] = (Clock(), lambda: batched(old, False))
        sides["old+tokens"] = (Clock(), lambda: batched(old, True))
    snowed = Clock()
    snow_scores = [0.0] * len(texts)
    for r in range(args.rounds):  # SnowNLP does 1/rounds of the texts per round
        for clock, work in sides.values():
            clock.run(work)
        if not args.no_snownlp:
            snow_scores[r :: args.rounds] = snowed.run(partial(snow, texts[r :: args.rounds]))
    n = args.rounds * len(texts)
    jieba_cpu = sides["jieba.lcut"][0].cpu
    print(f"{'':12} {'texts/s':>9} {'per CPU-s':>10} {'CPU vs jieba.lcut':>18}")
    for name, (clock, _) in sides.items():
        ratio = clock.cpu / jieba_cpu
        print(f"{name:12} {n / clock.wall:9,.0f} {n / clock.cpu:10,.0f} {ratio:18.4f}")
    if not args.no_snownlp:
        rate = len(texts) / snowed.cpu
        print(f"{'SnowNLP':12} {len(texts) / snowed.wall:9,.0f} {rate:10,.0f}")
    if old is not None:
        ours, theirs = model.scores(texts), old.scores(texts)
        same = np.array_equal(ours, theirs, equal_nan=True)
        differ = int(np.sum(~((ours == theirs) | (np.isnan(ours) & np.isnan(theirs)))))
        print(
            f"old/new CPU time: {sides['old'][0].cpu / sides['yuqing'][0].cpu:.2f}x, "
            f"{sides['old+tokens'][0].cpu / sides['+tokens'][0].cpu:.2f}x with tokens given; "
            f"scores {'identical' if same else f'differ for {differ} texts'} (same model file)"
        )

    if "+numbered" in sides:
        given = batched(model, True)
        same = batched(model, True, numbered=True) == given
        print(f"numbered words: results {'identical to' if same else 'DIFFER from'} the lists'")
    two_way = [int(s >= 0.5) for s in np.nan_to_num(scored.scores(texts), nan=0.5).tolist()]
    code = {"negative": 0, "positive": 1, "neutral": -1}
    three_way = [code[r.label.value] for r in scored.predict(texts)]
    print(f"figures of {args.model.name} ({scored.meta['train_rows']} texts, no held-out one):")
    print(f"{'':26} {'accuracy':>9} {'neg F1':>7}")
    print("{:26} {:9.4f} {:7.4f}".format("two-way (score >= 0.5)", *_figures(two_way, labels)))
    neutral = three_way.count(-1) / len(texts)
    print(
        "{:26} {:9.4f} {:7.4f}".format(
            f"neutral wrong ({neutral:.1%})", *_figures(three_way, labels)
        )
    )
    if not args.no_snownlp:
        snow_labels = [int(s >= 0.5) for s in snow_scores]
        print("{:26} {:9.4f} {:7.4f}".format("SnowNLP", *_figures(snow_labels, labels)))
    if trainer.NEUTRAL_SET.is_file():
        news = [r.label.value for r in scored.predict(trainer.neutral_texts())]
        print(f"news and notices called neutral: {news.count('neutral')} of {len(news)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
