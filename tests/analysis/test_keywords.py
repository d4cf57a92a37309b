"""Keywords: TF-IDF with a learning IDF, persistence, and hot words per window."""

from __future__ import annotations

import itertools
import json

import pytest

from analysis.keywords import (
    IdfModel,
    document_counts,
    hot_terms,
    is_keyword_candidate,
    jieba_idf,
    keywords,
)
from analysis.segment import Segmenter


@pytest.fixture(scope="module")
def seg() -> Segmenter:
    return Segmenter(["江州理工", "三食堂"])


def test_keywords_rank_topic_words_over_chatter(seg: Segmenter) -> None:
    tokens = seg.cut("江州理工三食堂的饭菜里吃出虫子，我们觉得三食堂必须给个说法，虫子太恶心了")
    words = [k.word for k in keywords(tokens, IdfModel(), top_k=4)]
    assert "虫子" in words and "三食堂" in words
    assert not {"我们", "觉得", "的"} & set(words)


def test_idf_learns_that_a_word_is_everywhere() -> None:
    model = IdfModel()
    before = model.idf("江州理工")
    rare_before = model.idf("虫子")
    for i in range(500):
        model.update(["江州理工", f"话题{i}"])
    assert model.idf("江州理工") < before / 2
    assert model.idf("虫子") == pytest.approx(rare_before, rel=0.5)
    assert model.idf("虫子") > model.idf("江州理工")


def test_idf_without_prior_is_plain_smoothed_idf() -> None:
    model = IdfModel(prior_docs=0)
    for doc in (["食堂", "虫子"], ["食堂"], ["宿舍"]):
        model.update(doc)
    assert model.idf("食堂") < model.idf("虫子") < model.idf("从未见过")


def test_idf_round_trips_through_json() -> None:
    model = IdfModel(prior_docs=50)
    model.update(["食堂", "虫子", "食堂"])
    model.update(["宿舍"])
    again = IdfModel.from_dict(json.loads(json.dumps(model.to_dict())))
    assert again.to_dict() == model.to_dict()
    assert again.idf("食堂") == model.idf("食堂")


@pytest.mark.parametrize(
    "data",
    [
        {},
        {"version": 2, "prior_docs": 0, "docs": 0, "df": {}},
        {"version": 1, "prior_docs": -1, "docs": 0, "df": {}},
        {"version": 1, "prior_docs": 0, "docs": 1, "df": {"食堂": 2}},
        {"version": 1, "prior_docs": 0, "docs": 1, "df": ["食堂"]},
    ],
)
def test_idf_refuses_bad_saved_data(data: dict[str, object]) -> None:
    with pytest.raises(ValueError):
        IdfModel.from_dict(data)


def test_prune_keeps_the_commonest() -> None:
    model = IdfModel(prior_docs=0)
    for doc in (["食堂", "虫子"], ["食堂"], ["宿舍", "食堂"]):
        model.update(doc)
    model.prune(1)
    assert dict(model.df) == {"食堂": 3}


def test_jieba_prior_is_loaded() -> None:
    table, median = jieba_idf()
    assert len(table) > 200_000 and 5 < median < 15


@pytest.mark.parametrize(
    ("word", "ok"), [("食堂", True), ("的", False), ("我们", False), ("2024", False), ("ai", True)]
)
def test_candidates(word: str, ok: bool) -> None:
    assert is_keyword_candidate(word) is ok


def test_keywords_of_nothing() -> None:
    assert keywords([], IdfModel()) == []
    assert keywords(["的", "，"], IdfModel()) == []


BASELINE = [["食堂", "饭菜"]] * 40 + [["宿舍", "停电"]] * 20 + [["食堂", "虫子"]]
CURRENT = [["食堂", "虫子"]] * 12 + [["食堂", "饭菜"]] * 6 + [["门禁", "故障"]] * 6 + [["宿舍"]] * 2


def test_hot_terms_finds_new_and_rising() -> None:
    hot = hot_terms(
        document_counts(CURRENT),
        document_counts(BASELINE),
        current_docs=len(CURRENT),
        baseline_docs=len(BASELINE),
        min_count=5,
        min_ratio=3.0,
    )
    by_word = {h.word: h for h in hot}
    assert set(by_word) == {"虫子", "门禁", "故障"}
    assert by_word["门禁"].new and by_word["故障"].new
    assert not by_word["虫子"].new and by_word["虫子"].baseline == 1 and by_word["虫子"].count == 12
    assert hot[0].word in {"虫子", "门禁", "故障"}
    assert all(a.ratio >= b.ratio for a, b in itertools.pairwise(hot))


@pytest.mark.parametrize(("min_count", "expected"), [(7, {"虫子"}), (13, set())])
def test_hot_terms_threshold(min_count: int, expected: set[str]) -> None:
    hot = hot_terms(
        document_counts(CURRENT),
        document_counts(BASELINE),
        current_docs=len(CURRENT),
        baseline_docs=len(BASELINE),
        min_count=min_count,
    )
    assert {h.word for h in hot} == expected


def test_hot_terms_refuses_nonsense_thresholds() -> None:
    with pytest.raises(ValueError):
        hot_terms({}, {}, current_docs=0, baseline_docs=0)
    with pytest.raises(ValueError):
        hot_terms({}, {}, current_docs=1, baseline_docs=1, min_ratio=1)
