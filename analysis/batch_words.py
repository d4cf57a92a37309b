"""A batch's word lists numbered once, so that keywords and sentiment look each distinct word
up once (a batch of 512 posts holds some 36,000 words but only 6,500 distinct ones)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from itertools import chain, compress, count

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

    @classmethod
    def _made(
        cls,
        posts: Sequence[Sequence[str]],
        lengths: npt.NDArray[np.int64],
        ids: npt.NDArray[np.int64],
        words: list[str],
    ) -> BatchWords:
        made = cls.__new__(cls)
        made.posts, made.lengths, made.ids, made.words = posts, lengths, ids, words
        return made

    def replace(self, parts: Mapping[str, Sequence[str]]) -> BatchWords:
        """The posts with each word of ``parts`` replaced by its parts, numbered as
        ``BatchWords`` of those word lists would be, from the distinct words: no token is
        hashed again, and only the posts holding such a word are made anew."""
        hit = list(compress(range(len(self.words)), map(parts.__contains__, self.words)))
        if not hit:
            return self
        replaced = np.zeros(len(self.words), np.bool_)
        replaced[hit] = True
        posts = list(self.posts)
        for row in np.unique(self.rows()[replaced[self.ids]]).tolist():
            post = self.posts[row]
            new: list[str] = []
            done = 0  # the runs between the replaced words are copied as slices
            for at in compress(range(len(post)), map(parts.__contains__, post)):
                new += post[done:at]
                new += parts[post[at]]
                done = at + 1
            new += post[done:]
            posts[row] = new
        # Each distinct word's parts, in the order the words first appear: the new words'
        # first appearances come in this order too (a word's first token comes first).
        expansions = [parts.get(w, (w,)) for w in self.words]
        sizes = np.fromiter(map(len, expansions), np.int64, len(expansions))
        flat = list(chain.from_iterable(expansions))
        met: dict[str, int] = {}
        at_first = np.fromiter(map(met.setdefault, flat, count()), np.int64, len(flat))
        rank = np.zeros(len(flat), np.int64)
        rank[np.fromiter(met.values(), np.int64, len(met))] = np.arange(len(met))
        numbers = rank[at_first]  # each distinct word's parts' new numbers, end to end
        each = sizes[self.ids]  # how many words each token becomes
        starts = np.repeat(np.cumsum(sizes)[self.ids] - each, each)
        within = np.arange(len(starts)) - np.repeat(np.cumsum(each) - each, each)
        lengths = np.bincount(self.rows(), weights=each, minlength=len(posts)).astype(np.int64)
        return BatchWords._made(posts, lengths, numbers[starts + within], list(met))

    def __len__(self) -> int:
        return len(self.posts)

    def rows(self) -> npt.NDArray[np.int64]:
        """The post of each token."""
        return np.repeat(np.arange(len(self.posts), dtype=np.int64), self.lengths)
