"""The batch keywords' sorting helpers: the order by post and weight (one argsort of a combined
key), ties broken by word, and the counting of (post, word) pairs."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from analysis.batch_words import tally
from analysis.keywords import IdfModel, _by_post, keyword_counts, keywords_many, keywords_of


@pytest.mark.parametrize("posts", [5, 600, 40_000])  # 40,000 posts: keys too large, lexsort
def test_order_by_post_then_weight_is_lexsorts(posts: int) -> None:
    rng = np.random.default_rng(posts)
    rows = np.sort(rng.integers(0, posts, 20_000))
    # Values rounded to 6 places as the weights are, many of them tied within a post.
    values = np.round(rng.choice(rng.uniform(0, 30, 50), 20_000) + rng.integers(0, 3) * 1e-6, 6)
    order = _by_post(rows, values)
    expected = np.lexsort((-values, rows))
    assert sorted(order.tolist()) == list(range(len(rows)))
    # The same sequence of (post, value); equal ones may come in either order.
    assert (rows[order] == rows[expected]).all() and (values[order] == values[expected]).all()


def test_order_keeps_values_a_rounding_step_apart() -> None:
    rows = np.array([511, 511, 511, 0, 0], np.int64)
    values = np.array([29.999999, 30.0, 29.999998, 0.000001, 0.0])
    order = _by_post(rows, values).tolist()
    assert order == [3, 4, 1, 0, 2]


@pytest.mark.parametrize("top_k", [1, 2, 5])
def test_tied_words_are_ranked_by_word_in_the_batch_as_one_by_one(top_k: int) -> None:
    # Words seen nowhere before, once per post: the same weight, the order by word decides
    # which reach the top k. Shuffled so that the batch meets them in no sorted order.
    rng = np.random.default_rng(7)
    vocabulary = [f"词{chr(0x4E00 + k)}{chr(0x4E00 + 3 * k % 17)}" for k in range(40)]
    posts = [rng.permutation(vocabulary)[: 3 + k % 9].tolist() for k in range(60)]
    one, many = IdfModel(), IdfModel()
    expected = []
    for words in posts:
        counts = keyword_counts(words)
        one.add_document(counts.keys())
        expected.append(keywords_of(counts, one, top_k))
    got = keywords_many(posts, many, top_k)
    assert got == expected
    every = keywords_many(posts, IdfModel(), 50)  # ties there are, at the cut of the top k
    assert any(len(post) > top_k and post[top_k - 1].weight == post[top_k].weight for post in every)


@pytest.mark.parametrize("kind", [np.int32, np.int64])
def test_tally_counts_as_unique(kind: type[np.signedinteger[Any]]) -> None:
    rng = np.random.default_rng(3)
    for size in (0, 1, 2, 1000):
        values = rng.integers(-50, 50, size).astype(kind)
        distinct, counts = tally(values)
        expected = np.unique(values, return_counts=True)
        assert distinct.tolist() == expected[0].tolist()
        assert counts.tolist() == expected[1].tolist()
