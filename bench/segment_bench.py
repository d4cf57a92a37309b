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


def batch_identity(texts: list[str], words: list[str]) -> None:
    """The batch cut (``cut_offsets_many``, batches of 512) against the one-text cut with
    ``words`` added (so with the alias guard), and against jieba.lcut token for token with
    jieba's own dictionary."""
    from analysis.segment_batch import _troubles

    norms = [normalize(t) for t in texts]
    batches = [norms[i : i + 512] for i in range(0, len(norms), 512)]
    seg, plain, reference = Segmenter(words), Segmenter([]), jieba.Tokenizer()
    guarded = [
        t
        for b in batches
        for t, cut in zip(b, seg.cut_offsets_many(b), strict=True)
        if cut != seg.cut_offsets(t)
    ]
    differ = []
    for batch in batches:
        for text, (words, starts) in zip(batch, plain.cut_offsets_many(batch), strict=True):
            expected = [t for t in reference.lcut(text) if any(c.isalnum() for c in t)]
            offsets_ok = all(text[s : s + len(w)] == w for w, s in zip(words, starts, strict=True))
            if words != expected or not offsets_ok:
                differ.append(text)
    with_words = jieba.Tokenizer()
    for word, freq in seg.added.items():
        with_words.add_word(word, freq)
    unguarded = [
        text
        for text in norms
        if seg.raw_cut(text) != [t for t in with_words.lcut(text) if any(c.isalnum() for c in t)]
    ]
    flagged = sum(len(_troubles([t for t in b if t])) for b in batches)
    print(f"{len(norms)} texts, {flagged} flagged (runs, repeats, other letters)")
    print(f"  batch cut = one-text cut (institution's words): {len(norms) - len(guarded)}")
    print(f"  batch cut = jieba.lcut (jieba's dictionary): {len(norms) - len(differ)}")
    print(f"  raw_cut = jieba.lcut (the same words added): {len(norms) - len(unguarded)}")
    for text in (guarded + differ + unguarded)[:10]:
        print("  differs:", text[:80])


def rules_bench(seg: Segmenter, texts: list[str], count: int) -> None:
    """A compiled RuleSet against evaluating each rule on its own, on the same tokenized posts."""
    from collections import Counter

    from analysis.keywords import is_keyword_candidate
    from analysis.watch import RuleSet, WatchSpec

    freq = Counter(w for t in texts[:2000] for w in seg.cut(t) if is_keyword_candidate(w))
    words = [w for w, _ in freq.most_common(400)]
    if len(words) < 400:
        raise SystemExit("not enough distinct words in the texts for the rules")
    specs = []
    for i in range(count):
        a, b, c, d = words[i % 50], words[50 + i % 350], words[(i * 7) % 400], words[(i * 13) % 400]
        if i % 4 == 3:
            specs.append(WatchSpec(f"r{i}", expression=f"{a} AND ({b} OR {c}) -{d}"))
        else:
            specs.append(
                WatchSpec(f"r{i}", subject=(a,), event=(b, c), exclude=(d,) * (i % 3 == 0))
            )
    rules = RuleSet(specs, seg)
    posts = [rules.tokenize("", t) for t in texts]
    start = time.perf_counter()
    together = [{m.rule_id for m in rules.match(p)} for p in posts]
    compiled = time.perf_counter() - start
    start = time.perf_counter()
    alone = [{r for r in rules.rules if rules.explain(r, p).matched} for p in posts]
    naive = time.perf_counter() - start
    if together != alone:
        raise SystemExit("the compiled rule set disagrees with the rules taken one at a time")
    hits = sum(len(m) for m in together)
    print(f"{count} rules × {len(posts)} posts, {hits} matches (same answers both ways)")
    print(f"one rule at a time      {len(posts) / naive:9.0f} posts/s  1.00x")
    print(f"RuleSet.match           {len(posts) / compiled:9.0f} posts/s  {naive / compiled:5.2f}x")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--texts", type=int, default=8000, help="how many texts (default 8000)")
    parser.add_argument("--rounds", type=int, default=3, help="best of N rounds (default 3)")
    parser.add_argument(
        "--rules",
        type=int,
        default=0,
        help="instead: time N watch rules over the texts, compiled set vs one rule at a time",
    )
    parser.add_argument(
        "--batch-identity",
        action="store_true",
        help="instead of timing, check the batch cut against the one-text cut and jieba.lcut",
    )
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
    if args.batch_identity:
        from analysis.lexicons import _shared_words
        from tests.analysis.test_segment import OWN_TEXTS
        from tests.analysis.test_segment import WORDS as TEST_WORDS

        # The tests' institution words and every cue word: the analyzer's kind of dictionary.
        batch_identity(OWN_TEXTS + texts, TEST_WORDS + sorted(_shared_words()))
        return
    if args.rules:
        rules_bench(seg, texts, args.rules)
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
