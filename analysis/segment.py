"""Chinese segmentation for matching and indexing: normalise, then cut with jieba's dictionary."""

from __future__ import annotations

import logging
import unicodedata
from collections.abc import Iterable
from functools import lru_cache

import jieba

jieba.setLogLevel(logging.WARNING)


def normalize(text: str) -> str:
    """Full-width to half-width (NFKC) and lower case, so that ＳＵＤＡ and suda are one word."""
    return unicodedata.normalize("NFKC", text).lower()


def _is_word(token: str) -> bool:
    return any(ch.isalnum() for ch in token)


class Segmenter:
    """A jieba tokenizer of its own (so one institution's words do not leak into another's)."""

    def __init__(self, words: Iterable[str] = ()) -> None:
        self._jieba = jieba.Tokenizer()
        for word in words:
            self._jieba.add_word(normalize(word))

    def cut(self, text: str) -> list[str]:
        """Precise-mode words, punctuation and spaces dropped: what a query or a rule means."""
        return [t for t in self._jieba.lcut(normalize(text)) if _is_word(t)]

    def index_tokens(self, text: str) -> list[str]:
        """Search-mode words (a long word also yields its dictionary sub-words) for the index,
        so that 大学 finds 苏州大学 while 苏大 does not find 苏大强."""
        return [t for t in self._jieba.lcut_for_search(normalize(text)) if _is_word(t)]


@lru_cache(maxsize=1)
def default_segmenter() -> Segmenter:
    return Segmenter()
