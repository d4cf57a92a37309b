"""to_simplified converts only the pieces of a text that may change, and gives OpenCC's own
convert() for every text: Traditional texts made from the corpus, mixed and plain ones."""

from __future__ import annotations

import opencc

from analysis.normalize import normalize, normalize_many, to_simplified, traditional_chars
from tests.analysis.test_segment import OWN_TEXTS, _corpus, _real_corpus


def test_to_simplified_is_opencc_convert() -> None:
    texts = OWN_TEXTS + _real_corpus(60)
    traditional = [opencc.OpenCC("s2t").convert(t) for t in texts]
    mixed = [f"{a}，{b} {a}" for a, b in zip(traditional, texts, strict=True)]
    odd = ["重覆", "乾脆", "，，蘇大。。", "", " ", "蘇\n大", "后來的頭髮"]
    reference = opencc.OpenCC("t2s")
    checked = [t for t in traditional + mixed + texts + odd if t != reference.convert(t)]
    assert len(checked) > 200  # the Traditional texts do change
    for text in traditional + mixed + texts + odd:
        assert to_simplified(text) == reference.convert(text), text


def test_normalize_many_converts_the_texts_that_hold_a_changing_character() -> None:
    """The batch finds the texts holding a character of ``traditional_chars`` in numpy, so a
    Traditional text first, last, alone among plain ones, or beyond the BMP, is converted."""
    wide = max(traditional_chars(), key=ord)  # a character beyond the BMP
    assert ord(wide) > 0xFFFF
    plain = [t for t in _corpus(40) if traditional_chars().isdisjoint(t)][:50]
    traditional = ["蘇州大學", f"x{wide}y", "重覆投訴", "ＡＢＣ學工處"]
    for at in (0, 7, len(plain)):
        for text in traditional:
            batch = [*plain[:at], text, *plain[at:]]
            assert normalize_many(batch) == [normalize(t) for t in batch]
            assert normalize_many(batch)[at] != text.lower()  # it did change
