"""The batch paths give the answers of the one-post paths: normalisation, the cut (and jieba's
cut where the dictionary is jieba's own), keywords with a learning IDF, cue matching."""

from __future__ import annotations

import logging
from typing import TypeVar

import jieba
import pytest

from analysis.analyzer import Item, _cut_many, cue_input
from analysis.keywords import IdfModel, keyword_counts, keywords_many, keywords_of
from analysis.normalize import _WIDE, _narrow, normalize, normalize_many
from analysis.segment import Segmenter
from analysis.severity import escalation_matcher
from core.settings import load_settings
from pipelines.analysis import build_analyzer
from tests.analysis.test_segment import WORDS, _corpus, _real_corpus

jieba.setLogLevel(logging.WARNING)

# Runs of + # & . _ % - between pieces, at block edges, joining digits, beside single
# characters, next to the institution's words; and text holding the batch's own separators.
RUNS = [
    "不行...今天再说",
    "1.接电源 2.开机",
    "3.5分，100%满意，c++和c#",
    "苏大...苏大强...三食堂...",
    "电...脑坏了",
    "好...的吧",
    "a-b c_d e&f g#h",
    "...开头和结尾...",
    "5.1放假去苏大",
    "这\x00那",
    "这\x01那...",
    "哈哈哈...哈哈哈",
]


T = TypeVar("T")


def _batches(texts: list[T], size: int = 512) -> list[list[T]]:
    return [texts[i : i + size] for i in range(0, len(texts), size)]


@pytest.fixture(scope="module")
def texts() -> list[str]:
    return RUNS + _corpus(1500) + RUNS


@pytest.fixture(scope="module")
def cut_posts(texts: list[str]) -> list[list[str]]:
    seg = Segmenter(WORDS)
    return [seg.cut(t) for t in texts[:1200]]


def test_normalize_many_equals_normalize(texts: list[str]) -> None:
    odd = ["ﬁ ㎏ ① 蘇大 …", "İSTANBUL ΣΑΣ", "e\u0301", "\u0301开头", "", "a\x00b"]
    for batch in [*_batches(texts), odd, odd[:4], []]:
        assert normalize_many(batch) == [normalize(t) for t in batch]


def test_narrowing_in_numpy_is_the_translate_table() -> None:
    every = "".join(chr(c) for c in range(1, 0x30000) if not 0xD800 <= c <= 0xDFFF)
    assert _narrow(every) == every.translate(_WIDE)


def test_batch_cut_equals_the_cut_one_by_one(texts: list[str]) -> None:
    seg = Segmenter(WORDS)
    for batch in _batches([normalize(t) for t in texts]):
        assert seg.cut_offsets_many(batch) == [seg.cut_offsets(t) for t in batch]


def test_batch_cut_is_jiebas_cut(texts: list[str]) -> None:
    """With jieba's own dictionary (no words added, so no alias guard) the batch cut is
    token for token jieba.lcut's, punctuation and spaces dropped."""
    plain = Segmenter([])
    reference = jieba.Tokenizer()
    for batch in _batches([normalize(t) for t in texts]):
        for text, (words, starts) in zip(batch, plain.cut_offsets_many(batch), strict=True):
            assert words == [t for t in reference.lcut(text) if any(c.isalnum() for c in t)]
            assert [text[s : s + len(w)] for w, s in zip(words, starts, strict=True)] == words


@pytest.mark.parametrize("learn", [True, False])
@pytest.mark.parametrize("top_k", [0, 1, 3, 8, 50])
def test_keywords_many_equal_one_by_one(
    cut_posts: list[list[str]], learn: bool, top_k: int
) -> None:
    posts = cut_posts
    one, many = IdfModel(), IdfModel()
    for model in (one, many):  # a model that has seen posts already
        for words in posts[:100]:
            model.update(words)
    expected = []
    for words in posts:
        counts = keyword_counts(words)
        if learn:
            one.add_document(counts.keys())
        expected.append(keywords_of(counts, one, top_k))
    got = [
        kw
        for batch in _batches(posts, 300)
        for kw in keywords_many(batch, many, top_k, learn=learn)
    ]
    assert got == expected
    assert (many.docs, list(many.df.items())) == (one.docs, list(one.df.items()))


def test_cue_matching_on_a_batch_equals_post_by_post() -> None:
    analyzer = build_analyzer(load_settings("config/example"))
    plan = analyzer.plan()
    items = [Item(text=t, title=t[:12] if k % 2 else "") for k, t in enumerate(_real_corpus(300))]
    cuts = _cut_many(plan.segmenter, items)
    norms, starts = cue_input(items, cuts)
    words = [c.title_cut[0] + c.body_cut[0] for c in cuts]
    for matcher in (analyzer.categorizer.matcher, escalation_matcher()):
        many = matcher.find_many(norms, words, starts)
        assert many == [
            matcher.find_tokens(n, w, s) for n, w, s in zip(norms, words, starts, strict=True)
        ]
        assert sum(map(len, many)) > 10  # the sample does hold cues


def test_warm_up_builds_the_lazy_parts_and_learns_nothing() -> None:
    from analysis import lexicons
    from analysis.folding import Folder

    lexicons._segmenter.cache_clear()  # the cue matchers' own segmenter: built anew below
    analyzer = build_analyzer(load_settings("config/example"))
    analyzer.folder = folder = Folder()
    before = analyzer.idf.to_dict()
    analyzer.warm_up()
    matchers = (analyzer.categorizer.matcher, escalation_matcher())
    assert all("_dict" in m.segmenter.__dict__ for m in matchers)  # its dictionary is built
    assert "_dict" in analyzer.plan().segmenter.__dict__
    assert analyzer.idf.to_dict() == before
    assert analyzer.folder is folder and len(folder) == 0  # the warm-up post was not folded
    analyzer.analyze([Item(text="宿舍停水", id="p1")])
    assert len(folder) == 1
