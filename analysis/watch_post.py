"""A post's words per field as the watch rules read them (offsets in the normalised field
text), and the rule words found in it."""

from __future__ import annotations

from dataclasses import dataclass
from itertools import compress, count, repeat
from operator import contains
from typing import Literal

from analysis.normalize import normalize
from analysis.segment import Segmenter, Token

FieldName = Literal["title", "body"]


@dataclass(frozen=True)
class Hit:
    """A rule word found in a post: the word as the rule writes it, the field, the offsets in
    the normalised field text, and the group it belongs to (group form)."""

    word: str
    field: FieldName
    start: int
    end: int
    group: str = ""


Cut = tuple[list[str], list[int]]  # a field's words and their start offsets


class PostTokens:
    """A post's words per field (offsets in the normalised field text), with sub-words (食堂
    in 三食堂) kept apart from the cut. Built from one cut per field; the Token lists are
    made only when asked for (matching needs the words, and offsets only for hits)."""

    def __init__(self, segmenter: Segmenter, cuts: dict[FieldName, Cut]) -> None:
        self.segmenter = segmenter
        self.cuts = cuts
        self._fields: dict[FieldName, list[Token]] | None = None

    @classmethod
    def of(cls, segmenter: Segmenter, title: str = "", body: str = "") -> PostTokens:
        texts: tuple[tuple[FieldName, str], ...] = (("title", title), ("body", body))
        return cls(
            segmenter,
            {
                name: segmenter.cut_offsets(normalize(text)) if text else ([], [])
                for name, text in texts
            },
        )

    @property
    def fields(self) -> dict[FieldName, list[Token]]:
        if self._fields is None:
            self._fields = {
                name: [Token(w, s, s + len(w)) for w, s in zip(words, starts, strict=True)]
                for name, (words, starts) in self.cuts.items()
            }
        return self._fields

    @property
    def subwords(self) -> dict[FieldName, list[Token]]:
        return {name: self.segmenter.subword_tokens(ts) for name, ts in self.fields.items()}

    def cut_words(self) -> set[str]:
        """The distinct words of the cut, sub-words left out."""
        out: set[str] = set()
        for words, _ in self.cuts.values():
            out.update(words)
        return out

    def find(self, tokens: tuple[str, ...], inside: bool = True) -> list[Hit]:
        """Occurrences of a token sequence: one word may also be a sub-word (``inside``
        False: the caller knows no word holds it); several words must follow one another in
        the cut. (The caller names the hits' word.)"""
        text = ""
        hits: list[Hit] = []
        first, n = tokens[0], len(tokens)
        for name, (words, starts) in self.cuts.items():
            if first in words:  # then its places, found in C (list.index)
                for i in _positions(words, first):
                    if n == 1:
                        hits.append(Hit(text, name, starts[i], starts[i] + len(first)))
                    elif tuple(words[i : i + n]) == tokens:
                        end = starts[i + n - 1] + len(words[i + n - 1])
                        hits.append(Hit(text, name, starts[i], end))
            if n == 1 and inside:
                subwords = self.segmenter.subwords
                # A sub-word is a slice of the word: the words holding it picked in C.
                for i in compress(count(), map(contains, words, repeat(first))):
                    word = words[i]
                    if len(word) > 2:
                        hits += [
                            Hit(text, name, starts[i] + at, starts[i] + at + len(first))
                            for at, gram in subwords(word)
                            if gram == first
                        ]
        return hits


def _positions(words: list[str], word: str) -> list[int]:
    """Every index of ``word`` in ``words``."""
    out: list[int] = []
    at = -1
    while True:
        try:
            at = words.index(word, at + 1)
        except ValueError:
            return out
        out.append(at)
