"""A batch's word lists numbered once, so that keywords and sentiment look each distinct word
up once (a batch of 512 posts holds some 36,000 words but only 6,500 distinct ones), in the
one index of every word met that both keep their tables per word by."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from itertools import chain, repeat
from typing import Any

import numpy as np
import numpy.typing as npt


class WordIndex:
    """Every word met (bounded), numbered in order of first meeting: what other modules keep
    per word (keywords' judgement, the sentiment model's word features) are arrays by these
    numbers (``WordColumn``), read by numpy for a batch's distinct words looked up once here
    (``BatchWords.indexed``), whichever of them comes first."""

    LIMIT = 262_144

    def __init__(self) -> None:
        self.index: dict[str, int] = {}
        self.words: list[str] = []  # by number
        self.generation = 0  # clears so far (when full): the numbers start again

    def rows(self, words: list[str]) -> npt.NDArray[np.int64]:
        """Each word's number; the words never met get the next ones."""
        rows = np.fromiter(map(self.index.get, words, repeat(-1)), np.int64, len(words))
        fresh = np.flatnonzero(rows < 0)
        if not fresh.size:
            return rows
        if self.index and len(self.index) + fresh.size > self.LIMIT:  # (once: then empty)
            self.index.clear()
            self.words.clear()
            self.generation += 1
            return self.rows(words)
        # A word new to the index and twice in ``words`` gets one number (as a batch's
        # distinct words never do, other callers' lists may).
        new = list(dict.fromkeys(map(words.__getitem__, fresh.tolist())))
        start = len(self.words)
        self.index.update(zip(new, range(start, start + len(new)), strict=True))
        self.words += new
        if len(new) == fresh.size:
            rows[fresh] = np.arange(start, start + len(new))
        else:
            rows[fresh] = np.fromiter(
                map(self.index.__getitem__, map(words.__getitem__, fresh.tolist())),
                np.int64,
                fresh.size,
            )
        return rows


WORDS = WordIndex()


class WordColumn:
    """A value for each word of ``WORDS``, by its number; ``compute`` gives the values of the
    words met since it last ran (all of them again once the index was cleared)."""

    def __init__(self, compute: Callable[[list[str]], npt.ArrayLike], dtype: npt.DTypeLike) -> None:
        self._compute = compute
        self.values: npt.NDArray[Any] = np.zeros(0, dtype)
        self._filled = 0
        self._generation = WORDS.generation

    def __getstate__(self) -> dict[str, Any]:
        # The values go by this process's numbers: a copy (pickled to another) starts empty.
        return {**self.__dict__, "values": self.values[:0], "_filled": 0}

    def at(self, rows: npt.NDArray[np.int64]) -> npt.NDArray[Any]:
        """The values of the words numbered ``rows`` (numbers of the index as it is now)."""
        if self._generation != WORDS.generation:
            self._generation, self._filled = WORDS.generation, 0
        end = len(WORDS.words)
        if end > self._filled:
            if end > len(self.values):
                self.values = np.resize(self.values, max(end, 2 * len(self.values), 4096))
            self.values[self._filled : end] = self._compute(WORDS.words[self._filled : end])
            self._filled = end
        return self.values[rows]


class BatchWords:
    """``posts`` (one word list per post) with each word's number: its index in ``words``, the
    batch's distinct words in order of first appearance (the order the IDF meets them)."""

    __slots__ = ("_indexed", "_places", "ids", "lengths", "posts", "words")

    def __init__(self, posts: Sequence[Sequence[str]]) -> None:
        for row, post in enumerate(posts):
            if isinstance(post, str):  # a string would be read as one word per character
                raise TypeError(f"words {row} is str, expected a list of words")
        self.posts = posts
        self.lengths: npt.NDArray[np.int64] = np.fromiter(map(len, posts), np.int64, len(posts))
        total = int(self.lengths.sum())
        # One pass in C over the tokens (not copied into one list first): each token gets
        # where its word first occurs; those places, in order, are the distinct words' numbers.
        met: dict[str, int] = {}
        tokens = chain.from_iterable(posts)
        at_first = np.fromiter(map(met.setdefault, tokens, range(total)), np.int64, total)
        rank = np.empty(total, np.int64)
        rank[np.fromiter(met.values(), np.int64, len(met))] = np.arange(len(met))
        self.ids: npt.NDArray[np.int64] = rank.take(at_first)
        self.words: list[str] = list(met)
        self._places: dict[str, int] | None = met  # each word's first token, for replace
        self._indexed: tuple[int, npt.NDArray[np.int64]] | None = None
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
        made._places = None
        made._indexed = None
        return made

    def indexed(self) -> npt.NDArray[np.int64]:
        """Each distinct word's number in ``WORDS``, looked up once for the batch."""
        if self._indexed is None or self._indexed[0] != WORDS.generation:
            rows = WORDS.rows(self.words)
            self._indexed = (WORDS.generation, rows)
        return self._indexed[1]

    def replace(self, parts: Mapping[str, Sequence[str]]) -> BatchWords:
        """The posts with each word of ``parts`` replaced by its parts, numbered as
        ``BatchWords`` of those word lists would be, from the distinct words: no token is
        hashed again, and only the posts holding such a word are made anew."""
        places = self._places
        if places is None:  # made by replace: each word's first token
            firsts = np.unique(self.ids, return_index=True)[1].tolist()
            places = self._places = dict(zip(self.words, firsts, strict=True))
        # The batch holds a few of the split words: they are looked up, not its words in them.
        found = [at for at in map(places.get, parts) if at is not None]
        if not found:
            return self
        words, size = self.words, len(self.words)
        hit = np.unique(self.ids[found])
        # The replaced words' parts by number: a part the batch holds as a word has that
        # word's number, another a number past the batch's words (one per string).
        extra: dict[str, int] = {}
        spans: list[int] = []
        codes: list[int] = []
        for number in hit.tolist():
            split = parts[words[number]]
            spans.append(len(split))
            for part in split:
                at = places.get(part)
                codes.append(
                    int(self.ids[at])
                    if at is not None
                    else extra.setdefault(part, size + len(extra))
                )
        # Each distinct word's parts end to end (a word not replaced is its own part), and
        # the new words in order of first appearance there, as the replaced lists meet them.
        sizes = np.ones(size, np.int64)
        sizes[hit] = spans
        ends = np.cumsum(sizes)
        flat = np.repeat(np.arange(size, dtype=np.int64), sizes)
        count = np.asarray(spans, np.int64)
        flat[np.repeat(ends[hit] - count, count) + _within(count)] = codes
        met, first = np.unique(flat, return_index=True)
        order = met[np.argsort(first)]
        renumber = np.empty(size + len(extra), np.int64)
        renumber[order] = np.arange(len(order))
        numbers = renumber[flat]  # each distinct word's parts' new numbers, end to end
        strings = np.asarray(words + list(extra), dtype=object)[order]  # the new words
        # A token's parts: its word's, from that word's end less its size on, where the new
        # tokens up to and with it (``after``) less its size begin.
        each = sizes.take(self.ids)  # how many words each token becomes
        after = np.cumsum(each)
        ids = numbers[np.repeat(ends.take(self.ids) - after, each) + np.arange(int(after[-1]))]
        bounds = np.cumsum(self.lengths)  # each post's tokens end there, old and new
        reach = np.concatenate(([0], after))
        lengths = reach[bounds] - reach[bounds - self.lengths]
        # Only the posts holding a replaced word are made anew, from the new numbers.
        replaced = np.zeros(size, np.bool_)
        replaced[hit] = True
        posts = list(self.posts)
        holding = np.zeros(len(self), np.bool_)
        holding[self.rows()[replaced.take(self.ids)]] = True
        rows = np.flatnonzero(holding)
        held = np.repeat(holding, lengths)  # the new tokens of those posts
        tokens = strings[ids[held]].tolist()
        stops = np.cumsum(lengths[rows]).tolist()
        for row, lo, hi in zip(rows.tolist(), [0, *stops], stops, strict=False):
            posts[row] = tokens[lo:hi]
        return BatchWords._made(posts, lengths, ids, strings.tolist())

    def __len__(self) -> int:
        return len(self.posts)

    def rows(self) -> npt.NDArray[np.int64]:
        """The post of each token."""
        return np.repeat(np.arange(len(self.posts), dtype=np.int64), self.lengths)


def _within(counts: npt.NDArray[np.int64]) -> npt.NDArray[np.int64]:
    """0, 1, ... count - 1 for each count, end to end."""
    return np.arange(int(counts.sum())) - np.repeat(np.cumsum(counts) - counts, counts)


def tally(values: npt.NDArray[np.integer[Any]]) -> tuple[npt.NDArray[Any], npt.NDArray[np.intp]]:
    """Each distinct value, in order, and how often it occurs: np.unique's return_counts by a
    plain sort (several times faster here; quicker still on int32 than on int64)."""
    ordered = np.sort(values)
    new = np.ones(len(ordered) + 1, np.bool_)  # and one past the end: the last run's end
    np.not_equal(ordered[1:], ordered[:-1], out=new[1:-1])
    first = np.flatnonzero(new)
    return ordered[first[:-1]], np.diff(first)
