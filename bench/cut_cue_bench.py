"""The analysis's normalisation (normalize_many), cut (Segmenter.cut_offsets_many) and cue
matching (CueMatcher.find_many, category and escalation) on the analysis bench's posts, this
tree against an older tree's code in the same process, rounds interleaved with jieba.lcut;
CPU time relative to jieba.lcut.

Run: uv run --frozen python bench/cut_cue_bench.py --compare OLD_TREE [--posts N] [--rounds R]
(OLD_TREE: e.g. ``git archive <commit> | tar -x -C /tmp/old``.)
"""

from __future__ import annotations

import argparse
import importlib.util
import logging
import sys
import time
from collections.abc import Callable
from pathlib import Path
from types import ModuleType
from typing import Any

import jieba

from analysis.analyzer import Item, _cut_many, cue_input
from analysis.severity import escalation_matcher
from bench.corpus import posts
from core.settings import load_settings
from pipelines.analysis import build_analyzer

BATCH = 512


def _load(name: str, path: Path, package: bool = False) -> ModuleType:
    """A module of the old tree under ``name`` (its imports of ours are this tree's)."""
    where = [str(path.parent)] if package else None
    spec = importlib.util.spec_from_file_location(name, path, submodule_search_locations=where)
    if spec is None or spec.loader is None:
        raise SystemExit(f"cannot load {path}")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


def _old_segment(tree: Path) -> ModuleType:
    """The old tree's segment.py with its own segment_dict, segment_layout and segment_batch: put in
    place of this tree's while it loads (its imports bind them), then this tree's go back."""
    import analysis

    names = ("segment_dict", "segment_layout", "segment_batch", "segment")
    saved = {name: sys.modules[f"analysis.{name}"] for name in names}
    try:
        for name in names:
            path = tree / "analysis" / f"{name}.py"
            if path.exists():  # a tree older than the split has no segment_dict or _batch
                setattr(analysis, name, _load(f"analysis.{name}", path))
        return sys.modules["analysis.segment"]
    finally:
        for name, module in saved.items():
            sys.modules[f"analysis.{name}"] = module
            setattr(analysis, name, module)


def _hits(result: list[list[Any]]) -> list[list[tuple[str, int, str]]]:
    return [[(hit.cue, hit.start, hit.text) for hit in post] for post in result]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--compare", required=True, help="the older tree to compare with")
    parser.add_argument("--posts", type=int, default=2000)
    parser.add_argument("--rounds", type=int, default=5, help="best of this many rounds each")
    args = parser.parse_args()
    logging.disable(logging.WARNING)  # the example's unset secrets are not the point here
    old_tree = Path(args.compare).resolve()
    old_segment = _old_segment(old_tree)
    old_normalize = _load("old_normalize", old_tree / "analysis" / "normalize.py")
    old_lexicons = _load("old_lexicons", old_tree / "analysis/lexicons/__init__.py", True)
    old_batch = old_tree / "analysis/lexicons/batch.py"
    if old_batch.exists():  # the old matchers run the old batch code, not this tree's
        old_lexicons.__dict__["batch"] = _load("old_lexicons_batch", old_batch)

    items = [Item(text=p.text, title=p.title) for p in posts(args.posts)]
    texts = [f"{i.title}\n{i.text}" for i in items]
    analyzer = build_analyzer(load_settings("config/example"))
    analyzer.analyze(items[:50])  # warm: lazy tables, caches
    segmenter = analyzer.plan().segmenter
    old_segmenter = old_segment.Segmenter(sorted(segmenter.words))
    batches = [items[at : at + BATCH] for at in range(0, len(items), BATCH)]
    cuts = [_cut_many(segmenter, batch) for batch in batches]
    norms = [[c.title for c in cut] + [c.body for c in cut] for cut in cuts]
    cue_batches = []  # as Analyzer.analyze gives it: "title\nbody", the words, their offsets
    for batch, cut in zip(batches, cuts, strict=True):
        posts_norms, starts = cue_input(batch, cut)
        words = [c.title_cut[0] + c.body_cut[0] for c in cut]
        cue_batches.append((posts_norms, words, starts))
    category, escalation = analyzer.categorizer.matcher, escalation_matcher()
    # The old matchers from the same cues as written (words, then the re: patterns).
    old_category = old_lexicons.CueMatcher(
        [*category._words.values(), *(cue for cue, _, _ in category._patterns)]
    )
    old_escalation = old_lexicons.CueMatcher(list(escalation._words.values()))

    raw = [([i.title for i in b], [i.text for i in b]) for b in batches]

    def normalise_with(module: Any) -> list[Any]:
        return [
            (module.normalize_many(titles), module.normalize_many(bodies)) for titles, bodies in raw
        ]

    def cut_with(seg: Any) -> list[Any]:
        return [seg.cut_offsets_many(batch) for batch in norms]

    def cues_with(first: Any, second: Any) -> list[Any]:
        return [(first.find_many(*b), second.find_many(*b)) for b in cue_batches]

    differ = sum(
        a != b
        for x, y in zip(cut_with(segmenter), cut_with(old_segmenter), strict=True)
        for a, b in zip(x, y, strict=True)
    )
    new_hits = [_hits(h) for pair in cues_with(category, escalation) for h in pair]
    old_hits = [_hits(h) for pair in cues_with(old_category, old_escalation) for h in pair]
    from analysis import normalize

    normalised_alike = normalise_with(normalize) == normalise_with(old_normalize)
    jieba.setLogLevel(logging.WARNING)
    jieba.initialize()
    runs: dict[str, Callable[[], object]] = {
        "jieba.lcut": lambda: [jieba.lcut(text) for text in texts],
        "norm., old": lambda: normalise_with(old_normalize),
        "norm., new": lambda: normalise_with(normalize),
        "cut, old": lambda: cut_with(old_segmenter),
        "cut, new": lambda: cut_with(segmenter),
        "cues, old": lambda: cues_with(old_category, old_escalation),
        "cues, new": lambda: cues_with(category, escalation),
    }
    best = dict.fromkeys(runs, float("inf"))
    for _ in range(args.rounds):  # interleaved, so a busy moment on the machine hits all
        for name, run in runs.items():
            start = time.process_time()
            run()
            best[name] = min(best[name], time.process_time() - start)
    base = best["jieba.lcut"]
    print(f"{len(items)} posts ({sum(map(len, norms))} titles and bodies), best of {args.rounds}")
    for name, spent in best.items():
        print(f"  {name:11} {spent:6.3f} CPU s  {spent / base:5.3f} of jieba.lcut")
    alike = "the same texts" if normalised_alike else "TEXTS DIFFER"
    print(f"  normalisation: old/new {best['norm., old'] / best['norm., new']:.2f}x, {alike}")
    print(f"  the cut: old/new {best['cut, old'] / best['cut, new']:.2f}x, {differ} texts differ")
    same = "the same hits" if new_hits == old_hits else "HITS DIFFER"
    print(f"  cues: old/new {best['cues, old'] / best['cues, new']:.2f}x, {same}")


if __name__ == "__main__":
    main()
