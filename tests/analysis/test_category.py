"""Category: cue-word examples, and a quality gate with pinned per-class floors on the test
portion of the hand-written evaluation set and on two fresh held-out files (tuning used only the
dev portion and the dev2 file).

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

from analysis.analyzer import Item
from analysis.category import Categorizer, classify
from analysis.lexicons import LexiconError, read_rows
from analysis.lexicons.gate import _needles
from core.post import Category
from core.settings import load_settings
from pipelines.analysis import build_analyzer

EVAL = Path(__file__).parent / "data" / "category_eval.jsonl"
# Written in one go before the second tuning round, never looked at while tuning, scored once
# before and once after it (docs/analysis.md).
FRESH = Path(__file__).parent / "data" / "category_fresh.jsonl"
# Round 3 (docs/category-evaluation.md): posts in voices the files above lack (forum slang,
# Weibo repost chains, long news comments, Traditional characters, mixed English, sarcasm,
# rumour refutations, notices, venting), written and committed before any change, scored once
# before and once after the round. DEV2 is what that round tuned on, with the dev portion.
FRESH2 = Path(__file__).parent / "data" / "category_fresh2.jsonl"
DEV2 = Path(__file__).parent / "data" / "category_dev2.jsonl"


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


# Measured on the test portion (166 posts) after round 3 (tuned on dev + dev2 only):
#   appeal 0.92/1.00, hype 1.00/0.78, defamation 0.96/0.76, suggestion 0.97/0.97,
#   other 0.73/0.97 (precision/recall), accuracy 0.898 (after round 2: defamation 0.95/0.64,
#   other 0.67/0.97, accuracy 0.873). Floors sit about one post below and only ever go up.
FLOORS = {
    Category.APPEAL: (0.88, 0.94),
    Category.HYPE: (0.94, 0.72),
    Category.DEFAMATION: (0.92, 0.72),
    Category.SUGGESTION: (0.91, 0.91),
    Category.OTHER: (0.70, 0.91),
}
TEST_ACCURACY_FLOOR = 0.87
# The fresh file (65 posts, 13 per class) after round 3: accuracy 0.815 (0.754 after round 2);
# recall appeal 0.77, hype 0.77, defamation 0.77, suggestion 0.85, other 0.92. With 13 posts a
# class, one post is 0.077: the floors sit one post below.
FRESH_RECALL_FLOOR = 0.69
FRESH_ACCURACY_FLOOR = 0.78
# The fresh2 file (169 posts, 32-37 per class): before round 3 accuracy 0.675, after 0.746;
# after: appeal 0.87/0.79, hype 0.93/0.76, defamation 0.87/0.61, suggestion 0.96/0.72,
# other 0.48/0.84. One post is about 0.03 of a class: the floors sit about one post below.
FRESH2_FLOORS = {
    Category.APPEAL: (0.83, 0.76),
    Category.HYPE: (0.88, 0.72),
    Category.DEFAMATION: (0.83, 0.57),
    Category.SUGGESTION: (0.91, 0.68),
    Category.OTHER: (0.46, 0.81),
}
FRESH2_ACCURACY_FLOOR = 0.73


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


def test_the_round_3_files_are_big_enough_and_disjoint() -> None:
    fresh2, dev2 = load(path=FRESH2), load(path=DEV2)
    assert len(fresh2) >= 150 and all(r["split"] == "fresh2" for r in fresh2)
    assert all(r["split"] == "dev" for r in dev2)
    for c in Category:
        assert sum(r["label"] == c.value for r in fresh2) >= 20, c
        assert sum(r["label"] == c.value for r in dev2) >= 20, c
    held_out = {r["text"] for r in load("test") + load(path=FRESH) + fresh2}
    assert len({r["text"] for r in fresh2}) == len(fresh2)
    assert not {r["text"] for r in dev2} & held_out
    assert not {r["text"] for r in fresh2} & {r["text"] for r in load() + load(path=FRESH)}
    assert all(isinstance(r.get("why", ""), str) for r in fresh2)


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
    assert right / len(rows) >= TEST_ACCURACY_FLOOR


@pytest.mark.parametrize("category", list(Category), ids=[c.value for c in Category])
def test_quality_gate_on_the_fresh_file(category: Category) -> None:
    _, recall, support = table(load(path=FRESH))[category]
    assert support >= 12
    assert recall >= FRESH_RECALL_FLOOR, f"{category.value} recall {recall:.3f}"


def test_accuracy_gate_on_the_fresh_file() -> None:
    rows = load(path=FRESH)
    right = sum(classify(r["text"]).category.value == r["label"] for r in rows)
    assert right / len(rows) >= FRESH_ACCURACY_FLOOR


@pytest.mark.parametrize("category", list(Category), ids=[c.value for c in Category])
def test_quality_gate_on_the_fresh2_file(category: Category) -> None:
    precision, recall, support = table(load(path=FRESH2))[category]
    floor_p, floor_r = FRESH2_FLOORS[category]
    assert support >= 20
    assert precision >= floor_p, f"{category.value} precision {precision:.3f} < {floor_p}"
    assert recall >= floor_r, f"{category.value} recall {recall:.3f} < {floor_r}"


def test_accuracy_gate_on_the_fresh2_file() -> None:
    rows = load(path=FRESH2)
    right = sum(classify(r["text"]).category.value == r["label"] for r in rows)
    assert right / len(rows) >= FRESH2_ACCURACY_FLOOR


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
    # Round 3: questions without a question mark, new incitement and insult forms.
    ("这个价格怎么来的，能不能公开一下明细", Category.APPEAL, {"能不能公开", "怎么来的"}),
    ("考研期间可以申请留校吗 宿管说要学院批", Category.APPEAL, {"吗"}),
    ("明天所有业主到售楼部门口，不给说法就不走", Category.DEFAMATION, {"不给说法就不走"}),
    ("物业就是一群垃圾", Category.DEFAMATION, {"垃圾"}),
    ("有没有可能把考试周拉长一点", Category.SUGGESTION, {"有没有可能"}),
    # A news report and a notice about an institution are "other", also in Traditional form.
    ("據本報報道，市一中今年新增學位五百個", Category.OTHER, set()),
    ("社区开展垃圾分类宣传活动", Category.OTHER, set()),
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


def test_a_post_that_quotes_a_rumour_to_refute_it_is_other() -> None:
    # The rumour's words (地沟油) score for defamation; the refutation outweighs them.
    got = classify("网传“某大学食堂用地沟油”系谣言，经市场监管局抽检全部合格")
    assert got.category is Category.OTHER
    assert 0 < got.scores[Category.DEFAMATION] < got.scores[Category.OTHER]
    assert classify("某大学食堂用地沟油，大家别去吃").category is Category.DEFAMATION


def test_other_shows_its_own_cues_when_they_decided_it() -> None:
    # An analyst sees why a post holding a rumour's words was judged other.
    got = classify("网传“某大学食堂用地沟油”系谣言，经市场监管局抽检全部合格")
    assert got.category is Category.OTHER and got.cues[0] == "系谣言"
    assert got.scores[Category.OTHER] >= 1.5
    # "other" as the fallback (no class reached the threshold) has no cue to show.
    small = Categorizer({"通知": {Category.OTHER: 1.0}, "食堂": {Category.APPEAL: 1.0}})
    assert small.classify("食堂通知").cues == ()
    assert small.classify("今天天气不错").cues == ()


def test_a_marked_pattern_cue_ends_on_a_word_boundary() -> None:
    # 赶紧转学 is "change schools at once", not 赶紧转 (a repost call) + 学.
    assert "赶紧转" not in classify("所有家长听好了，赶紧转学").cues
    assert classify("大家赶紧转，让更多人看到").category is Category.HYPE
    weights = {
        "re:传到.{0,6}(网|外)(?#word-end)": {Category.HYPE: 2.0},
        "re:到底.{0,4}哪": {Category.APPEAL: 2.0},
    }
    small = Categorizer(weights)
    # The longest shorter match that ends on a boundary counts (国外|网站: 传到国外).
    assert small.classify("已经传到国外网站了").cues == ("传到国外",)
    assert small.classify("已经传到外网了").cues == ("传到外网",)
    assert small.classify("已经传到网上了").cues == ()  # 网|上 ends inside the word 网上
    # An unmarked pattern may end inside a word, as it was written to (哪|个).
    assert small.classify("到底是哪个部门管").cues == ("到底是哪",)


def test_cues_inside_a_user_name_do_not_count() -> None:
    assert classify("@造谣小能手 今天天气不错").category is Category.OTHER
    assert classify("有人造谣说食堂用地沟油").category is Category.DEFAMATION
    small = Categorizer({"吃瓜": {Category.HYPE: 2.0}, "re:转发.{0,2}抽奖": {Category.HYPE: 2.0}})
    assert small.classify("//@吃瓜小能手:转发抽奖").cues == ("转发抽奖",)
    assert small.classify("大家都在吃瓜 @小明").cues == ("吃瓜",)


def test_every_pattern_cue_is_gated_by_a_literal_prefix() -> None:
    # A pattern without needles runs on every post (CueMatcher's gate cannot skip it).
    patterns = [cue for _, cue, _ in read_rows("category.tsv", 3) if cue.startswith("re:")]
    assert patterns
    assert [cue for cue in patterns if _needles(cue[3:]) is None] == []


def test_the_analyzer_gives_the_same_category_on_the_new_voices() -> None:
    """The analyzer's shared cut finds the same cues as ``classify`` on Traditional
    characters, mixed English, repost chains and spaces."""
    analyzer = build_analyzer(load_settings("config/example"))
    texts = [r["text"] for r in load(path=DEV2) + load(path=FRESH2)]
    results = analyzer.analyze([Item(text=t) for t in texts])
    for text, result in zip(texts, results, strict=True):
        alone = classify(text)
        assert (result.category.category, result.category.cues) == (alone.category, alone.cues)


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
    sets = [
        ("dev", EVAL),
        (None, DEV2),
        ("test", EVAL),
        (None, EVAL),
        (None, FRESH),
        (None, FRESH2),
    ]
    for split, path in sets:
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
