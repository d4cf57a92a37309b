"""to_simplified converts only the pieces of a text that may change, and gives OpenCC's own
convert() for every text: Traditional texts made from the corpus, mixed and plain ones."""

from __future__ import annotations

import opencc

from analysis.normalize import to_simplified
from tests.analysis.test_segment import OWN_TEXTS, _corpus


def test_to_simplified_is_opencc_convert() -> None:
    texts = OWN_TEXTS + _corpus(60)
    traditional = [opencc.OpenCC("s2t").convert(t) for t in texts]
    mixed = [f"{a}，{b} {a}" for a, b in zip(traditional, texts, strict=True)]
    odd = ["重覆", "乾脆", "，，蘇大。。", "", " ", "蘇\n大", "后來的頭髮"]
    reference = opencc.OpenCC("t2s")
    checked = [t for t in traditional + mixed + texts + odd if t != reference.convert(t)]
    assert len(checked) > 200  # the Traditional texts do change
    for text in traditional + mixed + texts + odd:
        assert to_simplified(text) == reference.convert(text), text
