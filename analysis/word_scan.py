"""Which posts of a batch hold any of a few words as a substring, in one Aho-Corasick pass:
the watch rules look closer only at those (most posts hold none)."""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import ahocorasick_rs

# Joins the batch's texts: no word holds it, so no occurrence spans two posts.
_SEP = "\x00"


class WordScan:
    """Finds the texts holding any of ``words``. The scan reads UTF-8 (a substring stays one,
    and bytes scan in about half the time of str); surrogatepass: any str encodes."""

    def __init__(self, words: Iterable[str]) -> None:
        keys = sorted(set(words))
        self._aho: ahocorasick_rs.BytesAhoCorasick | None = None
        self._none = not keys  # no word: no text holds one
        if keys and all(keys) and not any(_SEP in key for key in keys):
            self._aho = ahocorasick_rs.BytesAhoCorasick(
                [key.encode("utf-8", "surrogatepass") for key in keys],
                implementation=ahocorasick_rs.Implementation.DFA,
            )

    def holding(self, texts: Sequence[str]) -> set[int] | None:
        """The indices of the texts holding a word; None when the scan cannot tell (a text
        holds the separator, or a word is empty or does): every text may."""
        if self._none or not texts:
            return set()
        data = _SEP.join(texts).encode("utf-8", "surrogatepass")
        if self._aho is None or data.count(b"\x00") != len(texts) - 1:
            return None
        found: set[int] = set()
        post, done = 0, 0
        for _, start, _ in self._aho.find_matches_as_indexes(data):  # in order
            post += data.count(b"\x00", done, start)
            done = start
            found.add(post)
        return found
