"""A batch's word lists numbered once, so that keywords and sentiment look each distinct word
up once (a batch of 512 posts holds some 36,000 words but only 6,500 distinct ones)."""

from __future__ import annotations

from collections.abc import Sequence
from itertools import chain, count

import numpy as np
import numpy.typing as npt


class BatchWords:
    """``posts`` (one word list per post) with each word's number: its index in ``words``, the
    batch's distinct words in order of first appearance (the order the IDF meets them)."""

    __slots__ = ("ids", "lengths", "posts", "words")

    def __init__(self, posts: Sequence[Sequence[str]]) -> None:
        for row, post in enumerate(posts):
            if isinstance(post, str):  # a string would be read as one word per character
                raise TypeError(f"words {row} is str, expected a list of words")
        self.posts = posts
        self.lengths: npt.NDArray[np.int64] = np.fromiter(map(len, posts), np.int64, len(posts))
        flat = list(chain.from_iterable(posts))
        # One pass in C: each token gets where its word first occurs; those places, in order,
        # are the distinct words' numbers.
        met: dict[str, int] = {}
        at_first = np.fromiter(map(met.setdefault, flat, count()), np.int64, len(flat))
        rank = np.zeros(len(flat), np.int64)
        rank[np.fromiter(met.values(), np.int64, len(met))] = np.arange(len(met))
        self.ids: npt.NDArray[np.int64] = rank[at_first]
        self.words: list[str] = list(met)
        kinds = set(map(type, self.words))  # each distinct word once
        if not kinds <= {str}:
            wrong = min(kind.__name__ for kind in kinds - {str})
            raise TypeError(f"words hold {wrong}, expected str")

    def __len__(self) -> int:
        return len(self.posts)

    def rows(self) -> npt.NDArray[np.int64]:
        """The post of each token."""
        return np.repeat(np.arange(len(self.posts), dtype=np.int64), self.lengths)
