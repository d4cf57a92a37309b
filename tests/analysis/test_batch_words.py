"""A batch's words numbered once (analysis/batch_words.py): the numbering itself, and keywords
and sentiment given the numbered batch answer as they do given the word lists."""

from __future__ import annotations

import numpy as np
import pytest

from analysis.batch_words import BatchWords
from analysis.keywords import IdfModel, keywords_many
from analysis.segment import Segmenter
from analysis.sentiment import SentimentModel, normalize
from tests.analysis.test_segment import WORDS, _corpus

ODD = [[], ["服务", "", "态度", "很差"], ["非常", "满\x00意", "满意"], ["[怒]", "abc", "ａｂｃ"]]


@pytest.fixture(scope="module")
def posts() -> list[list[str]]:
    seg = Segmenter(WORDS)
    return [seg.cut(normalize(t)) for t in _corpus(400)] + ODD


def test_numbers_are_the_distinct_words_in_order_of_first_appearance() -> None:
    batch = BatchWords([["食堂", "饭菜", "食堂"], [], ["饭菜", "太贵"]])
    assert batch.words == ["食堂", "饭菜", "太贵"]
    assert batch.ids.tolist() == [0, 1, 0, 1, 2]
    assert batch.rows().tolist() == [0, 0, 0, 2, 2]
    assert len(batch) == 3


def test_every_token_is_its_words_number(posts: list[list[str]]) -> None:
    batch = BatchWords(posts)
    flat = [w for post in posts for w in post]
    assert [batch.words[i] for i in batch.ids.tolist()] == flat
    assert len(set(batch.words)) == len(batch.words)
    assert BatchWords([]).words == [] and len(BatchWords([[]]).ids) == 0


def test_words_must_be_lists_of_strings() -> None:
    with pytest.raises(TypeError, match="words 1 is str"):
        BatchWords([["服务"], "服务态度"])
    with pytest.raises(TypeError, match="hold int"):
        BatchWords([["服务"], ["非常", 3]])  # type: ignore[list-item]  # the wrong type is the point


@pytest.mark.parametrize("learn", [True, False])
@pytest.mark.parametrize("top_k", [0, 3, 8])
def test_keywords_of_the_numbered_batch(posts: list[list[str]], learn: bool, top_k: int) -> None:
    lists, numbered = IdfModel(), IdfModel()
    for size in (300, 10, len(posts)):
        for start in range(0, len(posts), size):
            part = posts[start : start + size]
            expected = keywords_many(part, lists, top_k, learn=learn)
            assert keywords_many(BatchWords(part), numbered, top_k, learn=learn) == expected
    assert list(numbered.df.items()) == list(lists.df.items()) and numbered.docs == lists.docs
    assert lists.docs == (3 * len(posts) if learn else 0)


def test_sentiment_of_the_numbered_batch(posts: list[list[str]]) -> None:
    model = SentimentModel.load()
    texts = ["".join(post) for post in posts]
    for part in (slice(None), slice(0, 1), slice(-len(ODD), None)):
        words = posts[part]
        expected = model.scores(texts[part], words)
        got = model.scores(texts[part], BatchWords(words))
        assert np.array_equal(got, expected, equal_nan=True)
        assert model.predict(texts[part], BatchWords(words)) == model.predict(texts[part], words)
    # The numbered words are what the word features come from, not a cut of the texts.
    assert (
        model.scores(["服务态度很差"], BatchWords([["服务态度很差"]]))[0]
        != model.scores(["服务态度很差"])[0]
    )
    with pytest.raises(ValueError, match="1 word lists for 2 texts"):
        model.predict(["好", "好"], BatchWords([["好"]]))


def test_replaced_words_are_numbered_as_the_replaced_lists(posts: list[list[str]]) -> None:
    counts: dict[str, int] = {}
    for post in posts:
        for word in post:
            counts[word] = counts.get(word, 0) + 1
    common = sorted(counts, key=counts.__getitem__)[-40:]
    # Words split in two, one into a word met later and a new one, one into nothing.
    parts: dict[str, tuple[str, ...]] = {w: (w[:1], w[1:]) for w in common if len(w) > 1}
    parts[common[0]] = (common[1], "新词")
    parts[common[2]] = ()
    parts["不在其中"] = ("不", "在")
    parts[common[3]] = ("新词", common[3], common[4])  # a new part met twice, a word kept
    replaced = [[p for w in post for p in parts.get(w, (w,))] for post in posts]
    got, expected = BatchWords(posts).replace(parts), BatchWords(replaced)
    assert got.posts == replaced
    assert got.words == expected.words
    assert got.ids.tolist() == expected.ids.tolist()
    assert got.lengths.tolist() == expected.lengths.tolist()
    kept = [k for k, post in enumerate(posts) if not set(post) & set(parts)]
    assert kept and all(got.posts[k] is posts[k] for k in kept)  # not copied
    same = BatchWords(posts)
    assert same.replace({"不在其中": ("不",)}) is same
    # Replacing again, in the replaced words (numbered by replace, not by a cut).
    again = {common[5]: ("又", "新词"), "新词": ("新", "词")}
    twice = [[p for w in post for p in again.get(w, (w,))] for post in replaced]
    got, expected = got.replace(again), BatchWords(twice)
    assert (got.posts, got.words) == (twice, expected.words)
    assert got.ids.tolist() == expected.ids.tolist()
    assert got.lengths.tolist() == expected.lengths.tolist()
