"""Category: cue-word examples, and a quality gate with pinned per-class floors on the test
portion of the hand-written evaluation set and on a fresh held-out file (tuning used only the
dev portion).

Print the per-class precision/recall table:  uv run --frozen python tests/analysis/test_category.py
"""

from __future__ import annotations

import json
import sys
from collections.abc import Iterable
from pathlib import Path

import pytest

if __name__ == "__main__":
    sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from analysis.category import Categorizer, classify
from analysis.lexicons import LexiconError
from core.post import Category

EVAL = Path(__file__).parent / "data" / "category_eval.jsonl"
# Written in one go before the second tuning round, never looked at while tuning, scored once
# before and once after it (docs/analysis.md).
FRESH = Path(__file__).parent / "data" / "category_fresh.jsonl"


def load(split: str | None = None, path: Path = EVAL) -> list[dict[str, str]]:
    rows = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]
    return [r for r in rows if split is None or r["split"] == split]


def table(rows: Iterable[dict[str, str]]) -> dict[Category, tuple[float, float, int]]:
    """Per category: (precision, recall, support)."""
    pairs = [(Category(r["label"]), classify(r["text"]).category) for r in rows]
    out = {}
    for c in Category:
        predicted = sum(1 for _, p in pairs if p is c)
        actual = sum(1 for g, _ in pairs if g is c)
        right = sum(1 for g, p in pairs if g is c and p is c)
        out[c] = (
            right / predicted if predicted else 0.0,
            right / actual if actual else 0.0,
            actual,
        )
    return out


# Measured on the test portion (166 posts) with the lexicon tuned on the dev portion only:
#   appeal 0.92/1.00, hype 1.00/0.78, defamation 0.95/0.64, suggestion 0.97/0.97,
#   other 0.67/0.97 (precision/recall), accuracy 0.87 (before the second round: hype recall
#   0.63, defamation 0.55, accuracy 0.81). Floors sit a little below and only ever go up.
FLOORS = {
    Category.APPEAL: (0.88, 0.94),
    Category.HYPE: (0.94, 0.72),
    Category.DEFAMATION: (0.90, 0.57),
    Category.SUGGESTION: (0.91, 0.91),
    Category.OTHER: (0.60, 0.91),
}
# The fresh file (65 posts, 13 per class): accuracy 0.754 (0.615 before the second round);
# recall appeal 0.69, hype 0.77, defamation 0.69, suggestion 0.77, other 0.85. With 13 posts a
# class, one post is 0.077: the floors sit one post below.
FRESH_RECALL_FLOOR = 0.61
FRESH_ACCURACY_FLOOR = 0.70


def test_the_evaluation_set_is_big_enough_and_split() -> None:
    rows = load()
    assert len(rows) >= 200 and len({r["text"] for r in rows}) == len(rows)
    for c in Category:
        of_class = [r for r in rows if r["label"] == c.value]
        assert len(of_class) >= 30, c
        assert sum(r["split"] == "test" for r in of_class) >= 30, c
    fresh = load(path=FRESH)
    assert len(fresh) >= 60 and not {r["text"] for r in fresh} & {r["text"] for r in rows}
    assert all(r["split"] == "fresh" for r in fresh)
    for c in Category:
        assert sum(r["label"] == c.value for r in fresh) >= 12, c


@pytest.mark.parametrize("category", list(Category), ids=[c.value for c in Category])
def test_quality_gate_on_the_test_portion(category: Category) -> None:
    precision, recall, support = table(load("test"))[category]
    floor_p, floor_r = FLOORS[category]
    assert support >= 15
    assert precision >= floor_p, f"{category.value} precision {precision:.3f} < {floor_p}"
    assert recall >= floor_r, f"{category.value} recall {recall:.3f} < {floor_r}"


def test_accuracy_gate_on_the_test_portion() -> None:
    rows = load("test")
    right = sum(classify(r["text"]).category.value == r["label"] for r in rows)
    assert right / len(rows) >= 0.84


@pytest.mark.parametrize("category", list(Category), ids=[c.value for c in Category])
def test_quality_gate_on_the_fresh_file(category: Category) -> None:
    _, recall, support = table(load(path=FRESH))[category]
    assert support >= 12
    assert recall >= FRESH_RECALL_FLOOR, f"{category.value} recall {recall:.3f}"


def test_accuracy_gate_on_the_fresh_file() -> None:
    rows = load(path=FRESH)
    right = sum(classify(r["text"]).category.value == r["label"] for r in rows)
    assert right / len(rows) >= FRESH_ACCURACY_FLOOR


EXAMPLES = [
    ("请问研究生补助什么时候发？已经拖了两个月", Category.APPEAL, {"请问", "什么时候"}),
    ("凭什么周末也要查寝，有没有文件依据", Category.APPEAL, {"凭什么", "依据"}),
    ("求扩散！某医院门口出事了，大家转起来", Category.HYPE, {"求扩散", "转起来"}),
    ("顶上去，别让帖子沉了，一定要上热搜", Category.HYPE, {"顶上去", "热搜"}),
    ("揭露某校黑幕：处长吃回扣，全是骗子", Category.DEFAMATION, {"揭露", "黑幕", "回扣", "骗子"}),
    ("明天所有人团结起来去拉横幅", Category.DEFAMATION, {"团结起来", "拉横幅"}),
    ("建议食堂晚上延长供餐时间", Category.SUGGESTION, {"建议", "延长"}),
    ("如果校车能多开一班就好了", Category.SUGGESTION, {"就好了"}),
    ("我校在全国大学生数学建模竞赛中获奖", Category.OTHER, set()),
    ("关于网传信息的情况说明：经核查系不实信息", Category.OTHER, set()),
]


@pytest.mark.parametrize(("text", "category", "cues"), EXAMPLES, ids=[e[0][:8] for e in EXAMPLES])
def test_examples_with_the_cues_that_decided(text: str, category: Category, cues: set[str]) -> None:
    got = classify(text)
    assert got.category is category, (got.cues, dict(got.scores))
    assert cues <= set(got.cues)
    if category is not Category.OTHER:
        assert got.scores[category] == max(got.scores.values())


def test_pattern_cues_show_what_they_matched() -> None:
    got = classify("请问研究生补助什么时候发？已经拖了两个月")
    assert got.cues[:3] == ("请问", "什么时候", "?")
    assert "如果校车能多开一班就好了" in classify("如果校车能多开一班就好了").cues


def test_a_cue_inside_another_word_does_not_count() -> None:
    # The alias problem of watch rules, for cues: 苏大 is not in 苏大强.
    weights = {"苏大": {Category.APPEAL: 5.0}}
    small = Categorizer(weights)
    assert small.classify("苏大强的故事").category is Category.OTHER
    assert small.classify("苏大的食堂").cues == ("苏大",)


def test_title_counts_and_ties_go_to_the_more_urgent_category() -> None:
    got = classify("详情见正文", title="建议严查造谣者")
    assert got.category is Category.DEFAMATION and got.scores[Category.SUGGESTION] == 3
    assert classify("").category is Category.OTHER


def test_bad_configuration_is_refused() -> None:
    with pytest.raises(ValueError, match="min_score"):
        Categorizer({}, min_score=0)
    with pytest.raises(LexiconError, match=r"escalation\.tsv: bad row"):
        Categorizer.from_lexicon("escalation.tsv")


def main() -> int:
    for split, path in (("dev", EVAL), ("test", EVAL), (None, EVAL), (None, FRESH)):
        rows = load(split, path)
        print(f"\n{path.name} {split or 'all'} ({len(rows)} posts)")
        print(f"{'category':<12}{'precision':>10}{'recall':>8}{'F1':>7}{'posts':>7}")
        for c, (p, r, n) in table(rows).items():
            f1 = 2 * p * r / (p + r) if p + r else 0.0
            print(f"{c.value:<12}{p:>10.3f}{r:>8.3f}{f1:>7.3f}{n:>7}")
        right = sum(classify(r["text"]).category.value == r["label"] for r in rows)
        print(f"{'accuracy':<12}{right / len(rows):>10.3f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
