"""WordScan: which texts of a batch hold a word as a substring, in one pass."""

from __future__ import annotations

import random

from analysis.word_scan import WordScan


def test_holding_equals_substring_search() -> None:
    words = ["食堂", "苏大", "a", "东校区南门"]
    rnd = random.Random(5)
    pieces = ["食", "堂", "苏", "大", "强", "a", "b", "东校区", "南门", "，", "\ud800", "😀"]
    texts = ["".join(rnd.choices(pieces, k=rnd.randrange(0, 12))) for _ in range(2000)]
    expected = {n for n, text in enumerate(texts) if any(w in text for w in words)}
    assert WordScan(words).holding(texts) == expected
    assert 0 < len(expected) < len(texts)


def test_when_the_scan_cannot_tell() -> None:
    assert WordScan(["苏大"]).holding(["苏大", "这\x00那"]) is None  # the separator in a text
    assert WordScan(["苏\x00大"]).holding(["苏大"]) is None  # ... or in a word
    assert WordScan([]).holding(["苏大"]) == set()
    assert WordScan(["苏大"]).holding([]) == set()
