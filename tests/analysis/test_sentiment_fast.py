"""The sentiment model's batch machinery (analysis/sentiment_tables.py) against plain Python."""

from __future__ import annotations

import random
import unicodedata
from itertools import chain

import numpy as np
import pytest
import rjieba

from analysis.batch_words import BatchWords
from analysis.sentiment import SentimentModel, features, normalize
from analysis.sentiment_tables import (
    _INVERSE,
    HashTable,
    Strings,
    decode,
    encode,
    normalize_batch,
)

# Texts where normalisation is not character by character, or white space is unusual.
TRICKY = [
    "",
    " ",
    "  两头  空格  ",
    "\t\n\r\x0b\x0c\x1c\x1d\x1e\x1f",
    "ΑΣ ΣΑ Σ ὈΔΥΣΣΕΎΣ",  # capital sigma: its lower case depends on the neighbours
    "e\u0301 a\u0327\u0301 \u0301首",  # combining marks that compose or reorder
    "ｶﾞ ｶ\uff9e ﾊﾟ",  # half-width voiced marks that compose with the character before
    "½ ㈱ ﬁ … ℃ ´ ‾ ￣ ™",  # NFKC gives several characters
    "İstanbul ẞ",  # lower case gives two characters
    "\ud800x\udfff",  # lone surrogates
    "[哈哈]\x00[怒 ][微笑",
    "𝐀𝚺𝛴 😀😡 𠀀",  # astral: mathematical letters, emoji, CJK extension B
    " \u3000全角\u3000 ＡＢＣ１２３ ",
    "한국어 ᄀ\u1161 각\u11a8",  # conjoining jamo
    "⊂(˃̶͈̀ε ˂̶͈́ ⊂ )",  # a kaomoji whose marks are not in canonical order
    "普通的中文句子，没有什么特别的。",
]


@pytest.fixture(scope="module")
def model() -> SentimentModel:
    return SentimentModel.load()


def _batch(texts: list[str]) -> list[str]:
    codes, lengths = normalize_batch(
        texts, "".join(texts), np.asarray([len(t) for t in texts], dtype=np.int64)
    )
    text = decode(codes)
    bounds = np.cumsum(lengths).tolist()
    return [text[a:b] for a, b in zip([0, *bounds[:-1]], bounds, strict=True)]


def test_batch_normalisation_equals_normalize() -> None:
    assert _batch(TRICKY) == [normalize(t) for t in TRICKY]
    for text in TRICKY:  # alone, and between others: a text's neighbours never matter
        assert _batch([text]) == [normalize(text)]
        assert _batch(["a", text, "b"]) == ["a", normalize(text), "b"]


def test_batch_normalisation_of_random_characters() -> None:
    rng = random.Random(7)
    pool = [chr(c) for c in range(0x20, 0x3000) if unicodedata.category(chr(c)) != "Cs"]
    pool += [*"，。！？：；“”【】（）…—～·", "\u0301", "\u0327", "\uff9e", "\u1161"]
    texts = ["".join(rng.choice(pool) for _ in range(rng.randrange(0, 12))) for _ in range(3000)]
    assert _batch(texts) == [normalize(t) for t in texts]


def test_scores_equal_the_reference_features(model: SentimentModel) -> None:
    texts = [
        *TRICKY,
        "[哈哈][哈哈]哈哈[允悲]",
        "[一二三四五六七八]",  # 8 characters inside: an emoticon
        "[一二三四五六七八九]",  # 9: not one
        "[a[b]] [] [ ] ][",
        "[哈",  # an emoticon must not run on into the next text
        "哈]",
        "https://t.cn/abcdefghijklmnopqrstuvwxyz0123456789 超长的单词",
    ]
    expected = []
    for text in texts:
        counts: dict[int, int] = {}
        for f in features(text):
            if f in model._vocabulary:
                counts[model._vocabulary[f]] = counts.get(model._vocabulary[f], 0) + 1
        ids = list(counts)
        tf = 1.0 + np.log(np.asarray(list(counts.values()), dtype=np.float64))
        norm = float(np.sqrt(np.sum((tf * model._idf[ids]) ** 2)))
        if norm == 0:
            expected.append(np.nan)
            continue
        z = float(np.sum(tf * model._weight[ids])) / norm + model._intercept
        expected.append(1.0 / (1.0 + np.exp(-z)))
    assert np.allclose(model.scores(texts), expected, equal_nan=True, atol=1e-12)


def test_given_words_with_odd_contents(model: SentimentModel) -> None:
    texts = ["服务态度很差", "非常满意", "一般"]
    plain = [["服务", "态度", "很差"], ["非常", "满意"], ["一般"]]
    odd = [["服务", "", "态度", "很差"], ["非常", "满\x00意", "满意"], []]
    scores = model.scores(texts, odd)
    # The same words in dict lookups, the definition: "" and "满\x00意" are no word.
    assert scores[0] == model.scores(texts[:1], plain[:1])[0]
    assert scores[1] == model.scores([texts[1]], [["非常", "满意"]])[0]
    # Numbered, the distinct words are looked up on their own: the same scores.
    assert np.array_equal(model.scores(texts, BatchWords(odd)), scores, equal_nan=True)
    assert np.isnan(model.scores([""], BatchWords([[]]))[0])
    long = ["超" * 40, "abcdefghijklmnopqrstuvwxyz"]
    assert np.isfinite(model.scores(["超长"], [long])[0])
    with pytest.raises(TypeError, match="tokens 1 holds int"):
        model.predict(texts[:2], [["服务"], ["非常", 3]])  # type: ignore[list-item]  # the point


def test_hash_table_equals_a_dict() -> None:
    rng = np.random.default_rng(3)
    keys = np.unique(rng.integers(1, 1 << 40, 5000))
    # Keys in shared buckets, so that probes run on.
    keys = np.concatenate([keys, (np.arange(1, 50) << 40) + 12345])
    values = rng.integers(0, 1 << 30, len(keys))
    table = HashTable(keys, values)
    probe = np.concatenate([keys, rng.integers(1, 1 << 41, 5000)])
    truth = dict(zip(keys.tolist(), values.tolist(), strict=True))
    assert table.find(probe).tolist() == [truth.get(k, -1) for k in probe.tolist()]
    assert HashTable(keys[:0], values[:0]).find(probe[:10]).tolist() == [-1] * 10
    # Keys that all hash to the first bucket (k * multiplier = j mod 2**64), with 0 among them,
    # looked up with absent keys of that bucket and of the last.
    crowded = (np.arange(40, dtype=np.uint64) * _INVERSE).view(np.int64)
    values = rng.integers(0, 1 << 30, 40)
    table = HashTable(crowded[::2], values[::2])
    probe = np.concatenate([crowded, np.asarray([-1, 1 << 62, 0])])
    truth = dict(zip(crowded[::2].tolist(), values[::2].tolist(), strict=True))
    assert table.find(probe).tolist() == [truth.get(k, -1) for k in probe.tolist()]
    with pytest.raises(ValueError, match="distinct"):
        HashTable(np.asarray([5, 5]), np.asarray([1, 2]))


def test_strings_equal_a_dict() -> None:
    rng = random.Random(11)
    alphabet = "的一是不了人我在有他这为之大来以个中上们到说国和地也子时道出而要于就下得可你年生"
    known = sorted({"".join(rng.choices(alphabet, k=rng.randrange(1, 25))) for _ in range(3000)})
    values = np.arange(len(known), dtype=np.int64) * 7
    strings = Strings(known, values)
    truth = dict(zip(known, values.tolist(), strict=True))
    words = [*known, *("".join(rng.choices(alphabet, k=rng.randrange(0, 25))) for _ in range(3000))]
    words += [w + "x" for w in known[:100]] + [w[:-1] for w in known[:100]]
    codes = encode("".join(words))
    lengths = np.asarray([len(w) for w in words], dtype=np.int64)
    starts = np.cumsum(lengths) - lengths
    assert strings.find(codes, starts, lengths).tolist() == [truth.get(w, -1) for w in words]
    # Many long words at once: the hash runs over prefix sums instead; the same answers.
    few = words[:40] * 50
    codes = encode("".join(few))
    lengths = np.asarray([len(w) for w in few], dtype=np.int64)
    starts = np.cumsum(lengths) - lengths
    assert strings.find(codes, starts, lengths).tolist() == [truth.get(w, -1) for w in few]


def test_own_cut_equals_given_rjieba_cut(model: SentimentModel) -> None:
    texts = [t for t in TRICKY if "\ud800" not in t]  # rjieba refuses lone surrogates
    texts += ["感谢老师们的培养，爱你母校[心]", "垃圾学校[怒]，投诉也没人管"]
    words = [rjieba.cut(normalize(t)) for t in texts]
    assert np.array_equal(model.scores(texts), model.scores(texts, words), equal_nan=True)
    flat = list(chain.from_iterable(words))
    assert flat  # the words really were given


def test_evidence_decides_neutral(model: SentimentModel) -> None:
    texts = ["垃圾学校，食堂饭菜难吃得要死[怒]", "本周四下午两点召开教学工作会议", "感谢老师[心]"]
    evidence = model.evidence(texts)
    assert evidence[0] > evidence[1] and evidence[2] > evidence[1]
    scores = model.scores(texts)
    level = float(evidence[1]) + 1e-9  # just above the notice: it alone is neutral
    two_way = SentimentModel.load(neutral_band=(0.5, 0.5), neutral_evidence=0.0)
    ruled = SentimentModel.load(neutral_band=(0.5, 0.5), neutral_evidence=level)
    labels = [r.label.value for r in ruled.predict(texts)]
    assert labels == ["negative", "neutral", "positive"]
    assert [r.score for r in ruled.predict(texts)] == scores.tolist()
    assert "neutral" not in [r.label.value for r in two_way.predict(texts)]
    assert model.evidence([""])[0] == 0.0
    with pytest.raises(ValueError, match="neutral evidence"):
        SentimentModel.load(neutral_evidence=-1.0)


def test_a_batch_too_big_for_32_bit_keys_scores_the_same(model: SentimentModel) -> None:
    # Occurrences are sorted as row << bits | feature id in 32 bits while the batch fits
    # (8,192 texts for this vocabulary), in 64 beyond: both must give the same scores.
    texts = [f"第{i}条：服务态度很差[怒]" if i % 3 else f"感谢第{i}位老师[心]" for i in range(9000)]
    whole = model.scores(texts)
    parts = np.concatenate([model.scores(texts[i : i + 1000]) for i in range(0, 9000, 1000)])
    assert np.array_equal(whole, parts)
