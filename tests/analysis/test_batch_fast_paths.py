"""The third round's speed-ups give the answers of the plain paths: the batch content codes of
repost folding, the gates before the boilerplate patterns, the LSH table holding one post id
as a string, the Keyword objects made without __init__, the shared IDF prior cache."""

from __future__ import annotations

import math
import pickle
import random
from datetime import UTC, datetime, timedelta

import numpy as np
import pytest

from analysis.folding import Folder
from analysis.keywords import IdfModel, Keyword, _keywords, _round6, jieba_idf
from analysis.repost_text import _URL, strip_boilerplate
from analysis.repost_text import content_codes as _content_codes
from analysis.repost_text import content_codes_many as _content_codes_many
from tests.analysis.test_segment import _corpus, _real_corpus

# Greek final sigma (lower() depends on the neighbours), İ (lower() makes two characters),
# underscores, NUL and \x01, astral letters and emoji, full-width and combining characters.
ALPHABET = [
    *"ab_ΣσςİIi. ,\x00\x01中文字。！Ａ1２㎏ﬁ\u0301😀\U00020000\U0001d400",
    "ΑΣ ",
    "ΣΑ",
    "Σ_",
]


def test_batch_content_codes_equal_one_by_one() -> None:
    rnd = random.Random(3)
    for _ in range(3000):
        texts = [
            "".join(rnd.choice(ALPHABET) for _ in range(rnd.randint(0, 12)))
            for _ in range(rnd.randint(0, 6))
        ]
        codes, sizes = _content_codes_many(texts)
        alone = [_content_codes(t) for t in texts]
        assert sizes == [c.size for c in alone], texts
        assert np.array_equal(codes, np.concatenate([np.zeros(0, np.uint64), *alone])), texts


def test_batch_content_codes_judge_every_character_as_the_pattern_does() -> None:
    every = "".join(chr(c) for c in range(1, 0x110000) if not 0xD800 <= c <= 0xDFFF)
    codes, sizes = _content_codes_many([every, every[::-1]])
    assert sizes == [_content_codes(every).size] * 2
    assert np.array_equal(codes[: sizes[0]], _content_codes(every))


def test_batch_signatures_equal_one_by_one_on_real_posts() -> None:
    folder = Folder()
    texts = [*_corpus(600), "", "短", "\x00" * 30, "转发微博 " * 3]
    batch = folder.sign_many(texts)
    for text, (size, signature, keys) in zip(texts, batch, strict=True):
        alone_size, alone_signature, alone_keys = folder.sign_many([text])[0]
        assert size == alone_size
        assert keys == alone_keys
        assert (signature is None) == (alone_signature is None)
        if signature is not None and alone_signature is not None:
            assert np.array_equal(signature, alone_signature)


@pytest.mark.parametrize(
    ("raw", "kept"),
    [
        ("HTTP://X.COM/a 食堂又出事了", "食堂又出事了"),
        ("食堂又出事了 WWW.Example.com/x", "食堂又出事了"),
        ("食堂又出事了 T.CN/Abc", "食堂又出事了"),
        ("食堂又出事了\nVIA：某某网", "食堂又出事了"),
        ("食堂又出事了\nvıa: 某某网", "食堂又出事了"),  # re.I: ı matches i
        ("食堂又出事了\n作者：张三", "食堂又出事了"),
        ("版本3.5发布了，www没有点", "版本3.5发布了,www没有点"),
    ],
)
def test_boilerplate_gates_let_every_case_through(raw: str, kept: str) -> None:
    assert strip_boilerplate(raw) == kept


def test_url_gate_holds_what_the_url_pattern_needs() -> None:
    """Every text the URL pattern changes passes the gate's literal test."""
    rnd = random.Random(9)
    pieces = [
        "http://a.b",
        "HTTPS://x",
        "www.a",
        "WwW.b",
        "t.cn/x",
        "T.CN/y",
        "dwz.cn/z",
        ". ",
        "cn/",
    ]
    for _ in range(2000):
        text = "".join(rnd.choice([*pieces, "中文", " "]) for _ in range(4))
        if _URL.sub(" ", text) != text:
            lowered = text.lower()
            assert "://" in text or "www." in lowered or ".cn/" in lowered, text


def test_lsh_table_gives_the_clusters_of_lists() -> None:
    """Posts sharing band keys (reposts), one post per key, eviction and the viral bound: the
    clusters are those of the plain one-list-per-key table, checked through a restart too."""
    folder = Folder()
    texts = _real_corpus(200)
    start = datetime(2026, 3, 1, tzinfo=UTC)
    ids = []
    for k in range(1200):
        text = texts[k % 200] + ("" if k < 200 else f" 转发{k % 7}")
        when = start + timedelta(hours=k)  # 50 days: the first ones leave the horizon
        ids.append(folder.add(f"p{k}", text, f"s{k % 3}", when).cluster_id)
    long = [
        k for k in range(200, 1200) if _content_codes(strip_boilerplate(texts[k % 200])).size > 40
    ]
    assert len(long) > 300
    assert all(ids[k] == ids[k - 200] for k in long)  # each repost joins the one before
    table = folder._table
    assert all(isinstance(v, str) or len(v) >= 2 for v in table.values())
    entries = sum(1 if isinstance(v, str) else len(v) for v in table.values())
    assert entries == folder.indexed * folder.config.bands
    restored = Folder.from_bytes(folder.to_bytes())
    assert restored._table == table


def test_keywords_made_without_init_are_keywords() -> None:
    made = _keywords(["食堂", "排队"], [0.5, 0.25])
    assert made == [Keyword("食堂", 0.5), Keyword("排队", 0.25)]
    assert [hash(k) for k in made] == [hash(Keyword("食堂", 0.5)), hash(Keyword("排队", 0.25))]
    assert pickle.loads(pickle.dumps(made)) == made
    with pytest.raises(AttributeError):
        made[0].word = "x"  # type: ignore[misc]  # frozen: the point of the test


def test_idf_priors_in_one_pass_equal_one_word_at_a_time() -> None:
    table, median = jieba_idf()
    words = [*list(table)[:500], "没有这个词", "江州理工大学", ""]
    batch = IdfModel(prior_docs=321).priors(words)
    assert batch == (321, [321 * math.exp(-table.get(w, median)) for w in words])
    assert IdfModel(prior_docs=321).idfs(words) == [IdfModel(prior_docs=321).idf(w) for w in words]


def test_signatures_in_groups_equal_one_text_at_a_time() -> None:
    """Runs of every size, a single run wider than a group, one-shingle runs."""
    signer = Folder()._signer
    rng = np.random.default_rng(2)
    for widest in (5, 300, 40_000):
        lengths = rng.integers(1, widest, int(rng.integers(1, 60)))
        shingles = rng.integers(0, 2**42, int(lengths.sum()), dtype=np.uint64)
        starts = np.cumsum(lengths) - lengths
        expected = np.stack(
            [signer.sign(shingles[a : a + n]) for a, n in zip(starts, lengths, strict=True)]
        )
        assert np.array_equal(signer.sign_segments(shingles, starts), expected)


def test_rounding_in_numpy_is_round() -> None:
    rng = np.random.default_rng(4)
    halves = (rng.integers(0, 30_000_000, 50_000) + 0.5) / 1e6  # at and beside the halves
    values = np.concatenate(
        [rng.random(200_000) * 30, halves, np.nextafter(halves, 0), np.nextafter(halves, 99)]
    )
    assert _round6(values).tolist() == [round(v, 6) for v in values.tolist()]
