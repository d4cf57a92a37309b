"""Chinese segmentation for matching and indexing: normalise, then cut with jieba's dictionary
plus the institution's own words; rjieba is the fast path wherever it gives jieba's tokens."""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from functools import cached_property, lru_cache
from itertools import accumulate, compress, repeat
from typing import NamedTuple

from analysis import segment_batch
from analysis.normalize import normalize

# _BLOCK and _plain_jieba are imported from here by the cue matchers and the tests.
from analysis.segment_dict import _BLOCK as _BLOCK
from analysis.segment_dict import (
    _WHOLE_TEXT_UNSAFE,
    USER_WORD_FREQ,
    _base_dictionary,
    _Dictionary,
    _guard,
    _is_word,
    _words_mask,
    in_jieba_dictionary,
)
from analysis.segment_dict import _plain_jieba as _plain_jieba

__all__ = [
    "USER_WORD_FREQ",
    "Segmenter",
    "Token",
    "default_segmenter",
    "in_jieba_dictionary",
    "normalize",
]


class Token(NamedTuple):
    """A word and where it is in the normalised text (character offsets, end exclusive).
    A named tuple: posts make hundreds of them, and tuples are the cheapest to build."""

    word: str
    start: int
    end: int


# Token(word, start, end) without the named tuple's Python-level __new__: a post makes hundreds.
_new_token = tuple.__new__


class Segmenter:
    """A tokenizer of its own (so one institution's words do not leak into another's).

    ``cut`` and ``index_tokens`` take raw text and normalise it first (see normalize.py).
    """

    def __init__(self, words: Iterable[str] = (), *, fast: bool = True) -> None:
        self.fast = fast
        own = {normalize(w).strip() for w in words}
        own.discard("")
        self.words = frozenset(own)
        base = _base_dictionary(fast)
        # A word jieba already holds at least this often needs nothing (and adding it again
        # would only inflate jieba's total, which decides close routes).
        freqs = {
            w: USER_WORD_FREQ
            for w in sorted(self.words)
            if base.jieba.FREQ.get(w, 0) < USER_WORD_FREQ
        }
        self.added = freqs  # what this segmenter adds to jieba's dictionary, with frequencies
        # Words only this institution knows: never a sub-word of someone else's word.
        self._only_ours = frozenset(w for w in self.words if not base.jieba.FREQ.get(w))
        self._subword_cache: dict[str, tuple[tuple[int, str], ...]] = {}

    @cached_property
    def _dict(self) -> _Dictionary:
        # Built at first cut: a segmenter made only to be widened (the analyzer adds the cue
        # words to the institution's) never cuts, and each dictionary costs 0.2-0.3 s.
        return _Dictionary(self.added, self.fast) if self.added else _base_dictionary(self.fast)

    def _blocks(self, text: str, guarded: bool) -> Iterator[tuple[int, list[str]]]:
        """(offset, tokens) per jieba block of normalised text; between blocks jieba yields
        single characters, which only matter when they are letters (kana, hangul...)."""
        fast = self._dict.rjieba
        if fast is not None and not _WHOLE_TEXT_UNSAFE.search(text):
            tokens = fast.cut(text)
            if guarded and self.words and not self.words.isdisjoint(tokens):
                plain = _base_dictionary(self.fast).rjieba
                assert plain is not None  # built with the same fast flag
                tokens = _guard(tokens, plain.cut(text), self.words)
            yield 0, tokens
            return
        pos = 0
        for i, part in enumerate(_BLOCK.split(text)):
            if i % 2:
                tokens = self._dict.cut_block(part)
                if guarded and self.words and not self.words.isdisjoint(tokens):
                    base = _base_dictionary(self.fast).cut_block(part)
                    tokens = _guard(tokens, base, self.words)
                yield pos, tokens
            else:
                for j, ch in enumerate(part):
                    if ch.isalnum():
                        yield pos + j, [ch]
            pos += len(part)

    def raw_cut(self, text: str) -> list[str]:
        """The dictionary's precise-mode words of already-normalised text, before the alias
        guard: token for token what ``jieba.lcut`` gives with the same words added."""
        return [t for _, ts in self._blocks(text, False) for t in ts if _is_word(t)]

    def cut(self, text: str) -> list[str]:
        """Precise-mode words, punctuation and spaces dropped: what a query or a rule means."""
        return self.cut_normalized(normalize(text))

    def cut_normalized(self, norm: str) -> list[str]:
        """``cut`` of text the caller has already normalised (normalize() is not free)."""
        out: list[str] = []
        for _, ts in self._blocks(norm, True):
            out.extend(compress(ts, _words_mask(ts)))
        return out

    def cut_offsets(self, norm: str) -> tuple[list[str], list[int]]:
        """``cut_normalized`` with each word's start offset in ``norm``: two plain lists, the
        cheapest form for the analyzer, which cuts a post once for all its stages."""
        words: list[str] = []
        starts: list[int] = []
        for pos, ts in self._blocks(norm, True):
            mask = _words_mask(ts)
            words.extend(compress(ts, mask))
            # accumulate yields one offset more than there are tokens: compress stops first.
            starts.extend(compress(accumulate(map(len, ts), initial=pos), mask))
        return words, starts

    def cut_offsets_many(self, norms: Sequence[str]) -> list[tuple[list[str], list[int]]]:
        """``cut_offsets`` of each normalised text: most of them from one rjieba call over the
        batch (see segment_batch.py), the same words and offsets."""
        return segment_batch.cut_offsets_many(self, norms)

    def subwords(self, word: str) -> tuple[tuple[int, str], ...]:
        """The sub-words ``index_tokens`` adds for one word, with their offsets in it."""
        return self._subwords(word) if len(word) > 2 else ()

    def tokens(self, text: str) -> list[Token]:
        """``cut`` with each word's offsets in the normalised text (for proximity and "why")."""
        out: list[Token] = []
        for pos, ts in self._blocks(normalize(text), True):
            # Built by map/zip/compress, not a Python loop per token: a post has hundreds.
            # (ends holds one offset more than there are tokens: zip stops at the last token.)
            ends = list(accumulate(map(len, ts), initial=pos))
            made = map(_new_token, repeat(Token), zip(ts, ends, ends[1:], strict=False))
            out.extend(compress(made, _words_mask(ts)))
        return out

    def index_tokens(self, text: str) -> list[str]:
        """Search-mode words (a long word also yields its dictionary sub-words) for the index,
        so that 大学 finds 苏州大学 while 苏大 does not find 苏大强.

        jieba's cut_for_search over ``cut``, except that a word only the institution's list
        knows is a sub-word of its other words only (苏大 in 苏大附一院, not in 苏大强).
        """
        out: list[str] = []
        for word in self.cut(text):
            if len(word) > 2:
                out.extend(gram for _, gram in self._subwords(word))
            out.append(word)
        return out

    def subword_tokens(self, tokens: Iterable[Token]) -> list[Token]:
        """The sub-words ``index_tokens`` adds, with offsets: 食堂 inside 三食堂."""
        return [
            _new_token(Token, (gram, t.start + i, t.start + i + len(gram)))
            for t in tokens
            if len(t.word) > 2
            for i, gram in self._subwords(t.word)
        ]

    def _subwords(self, word: str) -> tuple[tuple[int, str], ...]:
        # Cached: the same long words recur post after post, and the answer never changes.
        found = self._subword_cache.get(word)
        if found is None:
            freq, own, ours = self._dict.jieba.FREQ, self.words, self._only_ours
            known = word in own
            n = len(word)
            found = tuple(
                (i, word[i : i + size])
                for size in ((2, 3) if n > 3 else (2,))
                for i in range(n - size + 1)
                if freq.get(word[i : i + size]) and (known or word[i : i + size] not in ours)
            )
            if len(self._subword_cache) >= 65536:
                self._subword_cache.clear()
            self._subword_cache[word] = found
        return found


@lru_cache(maxsize=1)
def default_segmenter() -> Segmenter:
    return Segmenter()
