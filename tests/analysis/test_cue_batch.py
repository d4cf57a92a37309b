"""Cue matching over a batch (one Aho-Corasick pass, word boundaries from the cut) gives the
one-post path's hits, in order; the needles it gates patterns by are held by every match."""

from __future__ import annotations

import json
import random
import re
from pathlib import Path

import pytest

from analysis.analyzer import Item, _cut_many, cue_input
from analysis.category import default_categorizer
from analysis.lexicons import CueMatcher, read_rows
from analysis.lexicons.batch import required_elements, required_needles
from analysis.lexicons.gate import _needles
from analysis.severity import escalation_matcher
from core.settings import load_settings
from pipelines.analysis import build_analyzer
from tests.analysis.test_segment import _corpus

EVAL = [
    json.loads(line)
    for line in (Path(__file__).parent / "data" / "category_eval.jsonl")
    .read_text("utf-8")
    .splitlines()
    if line.strip()
]
ODD = [
    "领导批示了，媒体曝光以后才处理",  # a cue over two words of the cut
    "游行示威的人很多，领导/批示",  # a cue inside a longer word; punctuation between words
    "希望学校重视！！！真的吗？？为什么不给个说法",
    "@造谣君:这是谣言吧 //@吃瓜小能手: 赶紧转学了",  # hits inside an @name do not count
    "赶紧转学，赶紧转，快去看病，快去看",  # (?#word-end) patterns
    "这\x00那是谣言吗？",  # the batch separator inside a post
    "",
    "   ",
    "没有这回事，纯属谣言，别信谣传谣",
]


def _posts() -> list[Item]:
    texts = [row["text"] for row in EVAL] + _corpus(400) + ODD
    return [Item(text=t, title=t[:10] if k % 3 == 0 else "") for k, t in enumerate(texts)]


@pytest.fixture(scope="module")
def batch() -> tuple[list[str], list[list[str]], list[list[int]]]:
    plan = build_analyzer(load_settings("config/example")).plan()
    items = _posts()
    cuts = _cut_many(plan.segmenter, items)
    norms, starts = cue_input(items, cuts)
    words = [c.title_cut[0] + c.body_cut[0] for c in cuts]
    return norms, words, starts


@pytest.mark.parametrize("size", [1, 7, 512])
def test_batch_hits_equal_post_by_post(
    batch: tuple[list[str], list[list[str]], list[list[int]]], size: int
) -> None:
    norms, words, starts = batch
    for matcher in (default_categorizer().matcher, escalation_matcher()):
        got = []
        for at in range(0, len(norms), size):
            got += matcher.find_many(
                norms[at : at + size], words[at : at + size], starts[at : at + size]
            )
        expected = [
            matcher.find_tokens(n, w, s) for n, w, s in zip(norms, words, starts, strict=True)
        ]
        assert got == expected
        assert sum(map(len, got)) > 20  # the posts do hold cues


def test_a_matcher_of_its_own_words() -> None:
    # Not the shipped lexicons: its own automaton, and a cue never inside a longer word.
    matcher = CueMatcher(["苏大", "re:苏大.{0,2}学生"])
    norms = ["苏大强来了", "苏大的学生"]
    words = [["苏大强", "来", "了"], ["苏大", "的", "学生"]]
    starts = [[0, 3, 4], [0, 2, 3]]
    hits = matcher.find_many(norms, words, starts)
    assert [h.cue for h in hits[0]] == []
    assert [h.cue for h in hits[1]] == ["苏大", "re:苏大.{0,2}学生"]


def test_every_match_holds_a_needle() -> None:
    """The needles gating each shipped pattern in the batch, and every element the batch
    then requires of a post: every match holds one string of each."""
    patterns = [cue[3:] for _, cue, _ in read_rows("category.tsv", 3) if cue.startswith("re:")]
    texts = [row["text"] for row in EVAL] + _corpus(1000) + ODD
    rnd = random.Random(3)
    pieces = list({ch for t in texts[:200] for ch in t})
    texts += ["".join(rnd.choices(pieces, k=40)) for _ in range(500)]
    checked = 0
    for pattern in patterns:
        needles = required_needles(pattern) or _needles(pattern)
        assert needles is not None, pattern
        elements = required_elements(pattern)
        assert not elements or needles in elements, pattern
        compiled = re.compile(pattern)
        for text in texts:
            for m in compiled.finditer(text):
                for some in [needles, *elements]:
                    assert any(n in m.group() for n in some), (pattern, some, m.group())
                checked += 1
    assert checked > 100


@pytest.mark.parametrize(
    ("pattern", "elements"),
    [
        ("(都|快|赶紧)(给我)?(去|来)看(?#word-end)", [("都", "快", "赶紧"), ("去", "来"), ("看",)]),
        ("不(给|退|解决).{0,8}就不走", [("不",), ("给", "退", "解决"), ("就不走",)]),
        ("吗[?？。！!]?$", [("吗",)]),
        ("[!！]{2,}", [("!!", "!！", "！!", "！！")]),
        ("[!！]{0,3}好", [("好",)]),
        ("ab+c", [("ab",), ("c",)]),
        ("ab{3}c", [("abbb",), ("c",)]),
        ("垃圾(?!站|桶)", [("垃圾",)]),
        ("a|b", []),  # an alternation at the top: beyond the reading
    ],
)
def test_required_elements(pattern: str, elements: list[tuple[str, ...]]) -> None:
    assert required_elements(pattern) == elements


def test_a_pattern_without_needles_runs_on_every_post(
    batch: tuple[list[str], list[list[str]], list[list[int]]],
) -> None:
    # The batch runs such a pattern on each post, also those the scan finds nothing in.
    matcher = CueMatcher(["学校", "食堂", r"re:\d{3}"])
    assert matcher._always
    norms, words, starts = batch
    got = matcher.find_many(norms, words, starts)
    assert got == [
        matcher.find_tokens(n, w, s) for n, w, s in zip(norms, words, starts, strict=True)
    ]
    assert any(h.cue == r"re:\d{3}" for hits in got for h in hits)
