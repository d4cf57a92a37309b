"""The index of every word met (batch_words.WORDS) and the tables by its numbers: keywords'
judgement and priors, the sentiment model's word features, read for a batch's words looked up
once, also when the index fills up and starts again."""

from __future__ import annotations

import pickle

import numpy as np
import pytest

from analysis import batch_words
from analysis.batch_words import WORDS, BatchWords, WordColumn, WordIndex
from analysis.keywords import IdfModel, keyword_counts, keywords_many, keywords_of
from analysis.segment import Segmenter
from analysis.sentiment import SentimentModel, normalize
from tests.analysis.test_segment import WORDS as DICTIONARY
from tests.analysis.test_segment import _corpus


@pytest.fixture(scope="module")
def posts() -> list[list[str]]:
    seg = Segmenter(DICTIONARY)
    return [seg.cut(normalize(t)) for t in _corpus(300)]


def test_a_new_word_twice_in_one_call_gets_one_number() -> None:
    index = WordIndex()
    assert index.rows(["食堂", "饭菜", "食堂"]).tolist() == [0, 1, 0]
    assert index.rows(["太贵", "太贵", "饭菜"]).tolist() == [2, 2, 1]
    assert index.words == ["食堂", "饭菜", "太贵"] and len(index.index) == 3


def test_a_model_without_the_prior_indexes_no_words() -> None:
    before = len(WORDS.words)
    model = IdfModel(use_jieba_prior=False)
    assert model.priors(["从未见过的词甲", "从未见过的词乙"]) == (0, [0.0, 0.0])
    assert len(WORDS.words) == before


def test_words_are_numbered_in_order_of_first_meeting() -> None:
    index = WordIndex()
    assert index.rows(["食堂", "饭菜"]).tolist() == [0, 1]
    assert index.rows(["太贵", "食堂", "排队"]).tolist() == [2, 0, 3]
    assert index.words == ["食堂", "饭菜", "太贵", "排队"] and index.generation == 0
    assert index.rows([]).tolist() == []


def test_a_full_index_starts_again_and_its_columns_with_it(monkeypatch: pytest.MonkeyPatch) -> None:
    index = WordIndex()
    monkeypatch.setattr(index, "LIMIT", 3)
    index.rows(["一", "二"])
    assert index.rows(["三", "四"]).tolist() == [0, 1]  # 4 words would not fit: cleared
    assert index.words == ["三", "四"] and index.generation == 1
    assert index.rows(["五", "六", "七", "八"]).tolist() == [0, 1, 2, 3]  # more than fits: all
    assert index.generation == 2
    # A column over the shared index computes each word's value once, and again after a clear.
    asked: list[list[str]] = []

    def length(words: list[str]) -> list[int]:
        asked.append(words)
        return list(map(len, words))

    column = WordColumn(length, np.int64)
    rows = WORDS.rows(["甲乙丙", "丁"])
    assert column.at(rows).tolist() == [3, 1]
    assert column.at(WORDS.rows(["丁", "甲乙丙"])).tolist() == [1, 3]
    monkeypatch.setattr(WORDS, "LIMIT", len(WORDS.words) + 1)
    rows = WORDS.rows(["戊己", "庚"])  # two more than room for: cleared, numbered from 0
    assert rows.tolist() == [0, 1]
    assert column.at(rows).tolist() == [2, 1]
    assert asked[-1] == ["戊己", "庚"]


def test_keywords_and_sentiment_across_index_clears(
    posts: list[list[str]], monkeypatch: pytest.MonkeyPatch
) -> None:
    model = SentimentModel.load()
    texts = ["".join(post) for post in posts]
    one, many = IdfModel(), IdfModel()
    generation = WORDS.generation
    # Room for about a batch's words more: the index is cleared every batch or so, and
    # between the sentiment model's and the keywords' reading of one batch.
    for start in range(0, len(posts), 50):
        monkeypatch.setattr(WORDS, "LIMIT", len(WORDS.words) + 120)
        part, words = texts[start : start + 50], posts[start : start + 50]
        numbered = BatchWords(words)
        assert np.array_equal(
            model.scores(part, numbered), model.scores(part, words), equal_nan=True
        )
        WORDS.rows([f"词{start}-{k}" for k in range(100)])  # other words: cleared again
        expected = []
        for tokens in words:
            counts = keyword_counts(tokens)
            one.add_document(counts.keys())
            expected.append(keywords_of(counts, one, 5))
        assert keywords_many(numbered, many, 5) == expected
    assert WORDS.generation > generation + 2
    assert list(many.df.items()) == list(one.df.items())


def test_a_model_copied_to_another_process_looks_its_words_up_again(
    posts: list[list[str]], monkeypatch: pytest.MonkeyPatch
) -> None:
    model = SentimentModel.load()
    texts = ["".join(post) for post in posts[:40]]
    model.scores(texts, BatchWords(posts[:40]))  # its word features kept by this index
    copy = pickle.loads(pickle.dumps(model))
    # Another process: its own index, numbered from 0 in the same generation.
    other = WordIndex()
    other.generation = WORDS.generation
    monkeypatch.setattr(batch_words, "WORDS", other)
    other.rows([f"别的{k}" for k in range(50)] + posts[40])  # other words took the numbers
    expected = model.scores(texts, posts[:40])
    assert np.array_equal(copy.scores(texts, BatchWords(posts[:40])), expected, equal_nan=True)
