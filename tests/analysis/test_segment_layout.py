"""The batch cut's numpy bookkeeping (segment_layout.py) against the per-text steps it stands
for: word masks and offsets, the institution's words, runs that fail, the alias guard's
suspects, runs that join digits."""

from __future__ import annotations

import random
import re
from itertools import accumulate

import numpy as np
import pytest

from analysis.normalize import normalize
from analysis.segment import Segmenter
from analysis.segment_batch import _SEP, _joining, _marked, _unmark
from analysis.segment_dict import (
    _BLOCK,
    _FAST_SAFE,
    _HAN,
    _PUNCT_RUN,
    _base_dictionary,
    _words_mask,
    joins_digits,
)
from analysis.segment_layout import (
    ALNUM,
    BLOCK,
    OTHER,
    PUNCT,
    SIMPLE,
    char_classes,
    failing_runs,
    guard_suspects,
    layout,
    own_words,
    token_lengths,
)
from tests.analysis.test_segment import OWN_TEXTS, WORDS, _corpus

# rjieba's block characters beyond jieba's (jieba-rs's RE_HAN_DEFAULT, its BMP part).
_RJIEBA_HAN = re.compile("[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]")
# Letters and digits in and out of the BMP, marks, spaces, "\r\n", runs, repeats.
ALPHABET = "苏大强学生的了今天好电脑abc12.%-+#&_\x01 \r\n，。！😀𠀀①ｶ한"


def _random_texts(count: int, seed: int) -> list[str]:
    rnd = random.Random(seed)
    return ["".join(rnd.choices(ALPHABET, k=rnd.randint(1, 16))) for _ in range(count)]


def _codes(text: str) -> tuple[np.ndarray, np.ndarray]:
    codes = np.frombuffer(text.encode("utf-32-le"), dtype=np.uint32)
    return codes, char_classes(codes)


@pytest.fixture(scope="module")
def seg() -> Segmenter:
    return Segmenter(WORDS)


def test_layout_gives_each_texts_words_and_offsets(seg: Segmenter) -> None:
    fast = seg._dict.rjieba
    assert fast is not None
    texts = _random_texts(2000, 1) + OWN_TEXTS[:-2] + ["\r\n", "😀"]
    texts = [t.replace(_SEP, "") or "x" for t in texts]
    joined = _SEP.join(texts)
    tokens = fast.cut(joined)
    lay = layout(joined, tokens)
    for k, text in enumerate(texts):
        own = fast.cut(text)
        mask = _words_mask(own)
        words = [t for t, keep in zip(own, mask, strict=True) if keep]
        starts = [
            s for s, keep in zip(accumulate(map(len, own), initial=0), mask, strict=False) if keep
        ]
        assert lay.words[lay.bounds[k] : lay.bounds[k + 1]] == words, text
        assert lay.offsets[lay.bounds[k] : lay.bounds[k + 1]] == starts, text
        bounds = lay.token_bounds()
        assert tokens[bounds[k] : bounds[k + 1] - 1] == own, text


def test_own_words_are_the_words_in_the_set(seg: Segmenter) -> None:
    fast = seg._dict.rjieba
    assert fast is not None
    texts = [normalize(t) for t in _corpus(300)] + ["苏大强苏大的学生在三食堂", "交大师生"]
    joined = _SEP.join(t.replace(_SEP, "") for t in texts if t)
    lay = layout(joined, fast.cut(joined))
    found = own_words(lay, seg.words).tolist()
    assert found == [j for j, word in enumerate(lay.words) if word in seg.words]
    assert found  # the texts hold the institution's words


def test_failing_runs_are_the_runs_unmark_fails(seg: Segmenter) -> None:
    """Where ``failing_runs`` flags a mark, ``_unmark`` fails that text's run, and nowhere
    else, on texts whose runs join no digits (the batch holes those)."""
    fast = seg._dict.rjieba
    assert fast is not None
    freq = seg._dict.jieba.FREQ
    pieces = [
        "书的质量实在太差",
        "今天去了",
        "电",
        "脑坏了",
        "好",
        "的吧",
        "不行",
        "苏大",
        "ab",
        "x",
    ]
    rnd = random.Random(2)
    texts = [
        "".join(rnd.choice(pieces) + rnd.choice(["...", ".", "-", "+#", "&"]) for _ in range(3))
        + rnd.choice(pieces)
        for _ in range(1500)
    ]
    texts = [t for t in texts if not _joining(*_codes(t)).size]
    cut = [_marked(t) for t in texts]
    joined = _SEP.join(cut)
    tokens = fast.cut(joined)
    lay = layout(joined, tokens)
    flagged = lay.texts_at(
        lay.starts[failing_runs(tokens, lay.codes[lay.starts], lay.lengths, freq)]
    )
    failed = {k for k, t in enumerate(texts) if _unmark(freq, fast.cut(cut[k]), t, cut[k])[1]}
    assert flagged == failed
    assert 0 < len(failed) < len(texts)  # both kinds occur


def test_guard_suspects_hold_every_text_the_guard_changes(seg: Segmenter) -> None:
    fast, plain = seg._dict.rjieba, _base_dictionary(True)
    assert fast is not None and plain.rjieba is not None
    texts = [normalize(t) for t in _corpus(600)] + ["苏大强是电视剧里的人物", "苏大的学生"]
    texts = [t for t in texts if t and not _PUNCT_RUN.search(t) and _SEP not in t]
    joined = _SEP.join(texts)
    lay = layout(joined, fast.cut(joined))
    owned = own_words(lay, seg.words)
    suspects = lay.texts_at(guard_suspects(lay, owned, plain.rjieba.cut, plain.jieba.FREQ))
    changed = {k for k, t in enumerate(texts) if seg.cut_normalized(t) != seg.raw_cut(t)}
    assert changed <= suspects
    assert len(texts) - 2 in suspects and len(texts) - 1 not in suspects


def test_joining_runs_are_those_joins_digits_finds() -> None:
    rnd = random.Random(3)
    alphabet = "a1Z9苏.%_-+#&．２²"
    texts = ["".join(rnd.choices(alphabet, k=rnd.randint(1, 10))) for _ in range(4000)]
    for text in texts:
        expected = [
            m.start()
            for m in _PUNCT_RUN.finditer(text)
            if joins_digits(m.group(), text[m.start() - 1 : m.start()], text[m.end() : m.end() + 1])
        ]
        assert _joining(*_codes(text)).tolist() == expected, text


def test_char_classes_are_the_regexes_and_isalnum() -> None:
    every = "".join(chr(c) for c in range(1, 0x30000) if not 0xD800 <= c <= 0xDFFF)
    classes = char_classes(np.frombuffer(every.encode("utf-32-le"), dtype=np.uint32))
    other = re.compile(f"[^\\W{_HAN}a-z0-9]")
    for ch, bits in zip(every, classes.tolist(), strict=True):
        assert bool(bits & ALNUM) == ch.isalnum(), hex(ord(ch))
        assert bool(bits & OTHER) == bool(other.match(ch)), hex(ord(ch))
        assert bool(bits & SIMPLE) == bool(_FAST_SAFE.fullmatch(ch)), hex(ord(ch))
        assert bool(bits & PUNCT) == bool(_PUNCT_RUN.fullmatch(ch)), hex(ord(ch))
        # A block character of jieba's or rjieba's is never taken for a non-block one.
        assert bits & BLOCK or not (_BLOCK.fullmatch(ch) or _RJIEBA_HAN.fullmatch(ch))


def test_token_lengths_past_a_byte(seg: Segmenter) -> None:
    tokens = ["苏大", "a" * 255, "b" * 256, "", "学"]
    assert token_lengths(tokens).tolist() == [2, 255, 256, 0, 1]
    assert token_lengths(tokens[:2]).tolist() == [2, 255]
    texts = ["x" + "abcdefghij" * 30 + "苏大的学生", "苏大的学生，三食堂", "abc" * 100]
    assert seg.cut_offsets_many(texts) == [seg.cut_offsets(t) for t in texts]
