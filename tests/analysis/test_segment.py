"""Segmentation: the institution's words, the alias guard, normalisation, and rjieba's fast
path giving jieba's tokens."""

from __future__ import annotations

import csv
import itertools
import logging
from pathlib import Path

import jieba
import pytest

from analysis.normalize import normalize, to_simplified, traditional_chars
from analysis.segment import USER_WORD_FREQ, Segmenter, Token, _plain_jieba

jieba.setLogLevel(logging.WARNING)

SENTIMENT = Path(__file__).resolve().parents[3] / "shared" / "data" / "sentiment"
WORDS = [
    "苏州大学", "苏大", "苏大附一院", "三食堂", "张三", "李四光", "独墅湖校区", "文正学院",
    "计算机科学与技术学院", "学工处", "交大", "SUDA", "ICS实验室", "食堂", "学生会",
]  # fmt: skip

OWN_TEXTS = [
    "苏大强是电视剧里的人物",
    "苏大学生食堂投诉，三食堂的饭菜太难吃了！！！",
    "蘇州大學學生在獨墅湖校區抗議，學工處不回應",
    "ＳＵＤＡ的ＩＣＳ实验室2024年招生1-6人，详见https://www.suda.edu.cn/a.html?x=1&y=2",
    "哈哈哈哈哈哈哈啊啊啊啊啊苏大苏大苏大加油加油",
    "张三老师在计算机科学与技术学院上课，李四光是地质学家",
    "外交大臣访问上海交大，交大师生欢迎",
    "重覆投诉三次了，学校乾脆不理",
    "a-b c.d e_f 100% #话题# @某人 //@用户:转发 ㈠ ① ½ ｶﾀｶﾅ カタカナ 한국어 ぁぃ",
    "苏大附一院看病排队三小时，苏大附一院的医生态度差",
    "",
    "   \n\t ",
]


def _corpus(per_file: int = 2500) -> list[str]:
    texts = list(OWN_TEXTS)
    for path in sorted(SENTIMENT.glob("*.csv")):
        with path.open(encoding="utf-8") as fh:
            rows = csv.reader(fh)
            next(rows)
            texts.extend(row[1] for row in itertools.islice(rows, per_file) if len(row) > 1)
    return texts


def _real_corpus(per_file: int) -> list[str]:
    """``_corpus`` for a test whose point needs the real posts (counts of matches, changes):
    skipped, with the reason, where the shared data is not next to the repository."""
    if not SENTIMENT.is_dir():
        pytest.skip(f"shared sentiment data absent ({SENTIMENT})")
    return _corpus(per_file)


@pytest.fixture(scope="module")
def seg() -> Segmenter:
    return Segmenter(WORDS)


@pytest.fixture(scope="module")
def slow() -> Segmenter:
    return Segmenter(WORDS, fast=False)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("苏大强是电视剧里的人物", ["苏大强", "是", "电视剧", "里", "的", "人物"]),
        ("苏大学生食堂投诉", ["苏大", "学生", "食堂", "投诉"]),
        ("苏大的学生", ["苏大", "的", "学生"]),
        ("苏大强又作妖了", ["苏大强", "又", "作", "妖", "了"]),
        ("我在苏大读书", ["我", "在", "苏大", "读书"]),
        ("苏大附一院看病", ["苏大附一院", "看病"]),
        ("蘇大學生食堂投訴", ["苏大", "学生", "食堂", "投诉"]),
        ("ＳＵＤＡ的ＩＣＳ实验室", ["suda", "的", "ics实验室"]),
        ("外交大臣来访", ["外交大臣", "来访"]),
        ("三食堂，三食堂！", ["三食堂", "三食堂"]),
    ],
)
def test_cut_with_institution_words(seg: Segmenter, text: str, expected: list[str]) -> None:
    assert seg.cut(text) == expected


@pytest.mark.parametrize(
    ("text", "present", "absent"),
    [
        ("苏大强是电视剧里的人物", ["苏大强", "电视"], ["苏大"]),
        ("苏大附一院看病", ["苏大", "苏大附一院"], []),
        ("苏州大学学生", ["大学", "苏州", "苏州大学"], []),
        ("苏大学生食堂投诉", ["苏大", "学生"], ["大学生", "大学"]),
    ],
)
def test_index_tokens(seg: Segmenter, text: str, present: list[str], absent: list[str]) -> None:
    tokens = seg.index_tokens(text)
    assert set(present) <= set(tokens)
    assert not set(absent) & set(tokens)


def test_without_the_alias_jieba_splits_differently() -> None:
    """The institution's words change the cut: without them 苏大学生 is 苏/大学生."""
    assert Segmenter().cut("苏大学生食堂投诉")[:2] == ["苏", "大学生"]
    assert Segmenter(["苏大"]).cut("苏大学生食堂投诉")[:2] == ["苏大", "学生"]


def test_tokens_carry_offsets_in_normalised_text(seg: Segmenter) -> None:
    text = "蘇大強和蘇大的學生，ＡＢＣ"
    tokens = seg.tokens(text)
    norm = normalize(text)
    assert [t.word for t in tokens] == seg.cut(text)
    assert all(norm[t.start : t.end] == t.word for t in tokens)
    assert tokens[:3] == [Token("苏大强", 0, 3), Token("和", 3, 4), Token("苏大", 4, 6)]


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("ＡＢＣ１２３", "abc123"),
        ("蘇州大學", "苏州大学"),
        ("重覆", "重复"),
        ("苏州大学", "苏州大学"),
        ("Ｈｅｌｌｏ，世界", "hello,世界"),
    ],
)
def test_normalize(raw: str, expected: str) -> None:
    assert normalize(raw) == expected


def test_simplified_text_skips_opencc() -> None:
    text = "苏州大学学生食堂投诉"
    assert traditional_chars().isdisjoint(text)
    assert to_simplified(text) is text
    assert "蘇" in traditional_chars() and "覆" in traditional_chars()


def test_rjieba_fast_path_is_token_identical_to_jieba() -> None:
    """raw_cut (rjieba where safe, jieba elsewhere) against jieba.lcut with the same words."""
    fast = Segmenter(WORDS)
    assert fast.fast
    reference = jieba.Tokenizer()
    assert fast.added and set(fast.added.values()) == {USER_WORD_FREQ}
    for word, freq in fast.added.items():
        reference.add_word(word, freq)
    texts = _corpus()
    mismatches = []
    for text in texts:
        norm = normalize(text)
        expected = [t for t in reference.lcut(norm) if any(c.isalnum() for c in t)]
        if fast.raw_cut(norm) != expected:
            mismatches.append(text)
    assert mismatches == []


def test_fast_and_slow_segmenters_agree(seg: Segmenter, slow: Segmenter) -> None:
    for text in _corpus(1000):
        assert seg.cut(text) == slow.cut(text), text
        assert seg.index_tokens(text) == slow.index_tokens(text), text


def test_corpus_sample_is_large_when_data_present() -> None:
    if not SENTIMENT.is_dir():
        pytest.skip("shared sentiment data absent")
    assert len(_corpus()) > 5000


def test_a_segmenter_dictionary_is_jiebas_own_loaded_once_with_its_words_added() -> None:
    # Segmenters copy the process's one loaded dictionary (start-up): the copy must be what a
    # Tokenizer of its own gives with the same words added, and the loaded one stay plain.
    seg = Segmenter(["苏大附一院", "独墅湖校区", "苏大"])
    reference = jieba.Tokenizer()
    for word, freq in seg.added.items():
        reference.add_word(word, freq)
    mine = seg._dict.jieba
    assert mine is not _plain_jieba()
    assert (mine.FREQ, mine.total) == (reference.FREQ, reference.total)
    assert "独墅湖校区" not in _plain_jieba().FREQ
    text = "苏大附一院在独墅湖校区旁边，苏大强不是苏大的"
    assert mine.lcut(text) == reference.lcut(text)
    assert Segmenter(fast=False)._dict.jieba is _plain_jieba()
