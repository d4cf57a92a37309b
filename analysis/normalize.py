"""Text normalisation before matching and indexing: full-width to half-width, lower case,
Traditional to Simplified (OpenCC t2s, only when the text holds a character that changes)."""

from __future__ import annotations

import os
import unicodedata
from collections.abc import Sequence
from functools import lru_cache

import numpy as np
import opencc


@lru_cache(maxsize=1)
def _converter() -> opencc.OpenCC:
    return opencc.OpenCC("t2s")


def _read_pairs(path: str) -> list[tuple[str, str]]:
    pairs = []
    with open(path, encoding="utf-8") as fh:
        for line in fh:
            key, _, values = line.rstrip("\n").partition("\t")
            if key and values:
                pairs.append((key, values.split(" ")[0]))
    return pairs


@lru_cache(maxsize=1)
def traditional_chars() -> frozenset[str]:
    """Characters whose presence means t2s may change the text.

    OpenCC's pure-Python converter is slow, so the (common) all-Simplified text skips it. A
    character counts if it changes alone, or if it changes inside a phrase of otherwise
    unchanged characters (重覆 → 重复 although 覆 alone stays).
    """
    folder = os.path.join(os.path.dirname(opencc.__file__), "dictionary")
    chars = _read_pairs(os.path.join(folder, "TSCharacters.txt"))
    changing = {k for k, v in chars if k != v}
    for key, value in _read_pairs(os.path.join(folder, "TSPhrases.txt")):
        if key == value or changing.intersection(key):
            continue
        if len(key) == len(value):
            changing.update(a for a, b in zip(key, value, strict=True) if a != b)
        else:
            changing.update(key)
    return frozenset(changing)


@lru_cache(maxsize=1)
def _traditional_table() -> np.ndarray:
    """``traditional_chars`` as a table over every code point."""
    table = np.zeros(0x110000, dtype=bool)
    table[[ord(char) for char in traditional_chars()]] = True
    return table


def to_simplified(text: str) -> str:
    """Traditional to Simplified; the text itself when nothing in it would change."""
    changing = traditional_chars()
    if changing.isdisjoint(text):
        return text
    # OpenCC's convert() splits the text at its separators (punctuation, spaces: no
    # dictionary entry holds one) and converts each piece alone; only the pieces holding a
    # character that may change need its pure-Python converter (a post has few).
    converter = _converter()
    if not converter._dict_init_done:  # as convert() does on its first call
        converter._init_dict()
        converter._dict_init_done = True
    parts: list[str] = converter.split_chars_re.split(text)
    chain = converter._dict_chain_data
    for at in range(0, len(parts), 2):  # the separators stand at odd places
        if not changing.isdisjoint(parts[at]):
            parts[at] = converter._convert(parts[at], chain)
    return "".join(parts)


# The full-width forms (ＡＢＣ，！？) and the ideographic space, which Chinese text is full of,
# mapped as NFKC maps them: after this one pass most texts are NFKC already, and the quick
# check is cheaper than normalising (the result is NFKC's, tested on 150,000 texts).
_WIDE = {c: unicodedata.normalize("NFKC", chr(c)) for c in range(0xFF01, 0xFF5F)} | {0x3000: " "}


def nfkc(text: str) -> str:
    """``unicodedata.normalize("NFKC", text)``, faster on Chinese text."""
    text = text.translate(_WIDE)
    return text if unicodedata.is_normalized("NFKC", text) else unicodedata.normalize("NFKC", text)


def normalize(text: str) -> str:
    """Full-width to half-width (NFKC), lower case, Traditional to Simplified: so that ＳＵＤＡ,
    suda and 蘇大 match the rules and queries written as suda and 苏大."""
    return to_simplified(nfkc(text).lower())


def _narrow(text: str) -> str:
    """``text.translate(_WIDE)`` in numpy: each full-width form is its ASCII character moved
    by 0xFEE0 (as NFKC maps them, and _WIDE holds), the ideographic space a space. For a
    batch, twenty times faster than translate, which looks each character up in a dict."""
    codes = np.frombuffer(text.encode("utf-32-le"), dtype=np.uint32).copy()
    codes[(codes >= 0xFF01) & (codes <= 0xFF5E)] -= 0xFEE0
    codes[codes == 0x3000] = 0x20
    return codes.tobytes().decode("utf-32-le")


def normalize_many(texts: Sequence[str]) -> list[str]:
    """``normalize`` of each text, the steps run once over the batch joined by "\x00" (which
    no step changes or merges with its neighbours); NFKC in full only for the texts that need
    it (normalising the whole batch would cost more than those few)."""
    joined = _narrow("\x00".join(texts))
    parts = joined.split("\x00")
    if len(parts) != len(texts):  # a text holds "\x00" itself
        return [normalize(text) for text in texts]
    if not unicodedata.is_normalized("NFKC", joined):
        is_nfkc, nfkc_of = unicodedata.is_normalized, unicodedata.normalize
        parts = [p if is_nfkc("NFKC", p) else nfkc_of("NFKC", p) for p in parts]
        joined = "\x00".join(parts)
    folded = joined.lower()
    parts = folded.split("\x00")
    # The texts holding a character t2s may change, found in numpy: most hold none, and
    # asking each text (a set lookup per character) cost more than the conversions.
    codes = np.frombuffer(folded.encode("utf-32-le"), dtype=np.uint32)
    found = np.flatnonzero(_traditional_table()[codes])
    if found.size:
        holders = np.searchsorted(np.flatnonzero(codes == 0), found)  # separators before
        for k in np.unique(holders).tolist():
            parts[k] = to_simplified(parts[k])
    return parts
