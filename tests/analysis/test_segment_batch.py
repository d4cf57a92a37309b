"""The batch cut's own paths: the texts it flags, the holes it cuts apart (repeats, runs that
join digits, letters outside jieba's blocks), the runs it retries alone; each against the
one-text cut and against jieba.lcut."""

from __future__ import annotations

import logging
import random

import jieba
import pytest

from analysis.normalize import normalize
from analysis.segment import _BLOCK, Segmenter
from analysis.segment_batch import _form, _troubles
from analysis.segment_dict import _WHOLE_TEXT_UNSAFE, _base_dictionary
from tests.analysis.test_segment import WORDS

jieba.setLogLevel(logging.WARNING)

HOLES = [
    "苏大强哈哈哈哈哈苏大的学生",  # a repeat in a block holding the institution's words
    "15.4寸笔记本在苏大买的，5.1放假",  # runs that join digits
    "好孩子的成功来自妈妈1%的改变，100%满意",
    "カタカナ苏大abc한국어",  # letters outside jieba's blocks
    "hp_tools和苏大_文正学院",  # _ is a block character and a word character
    "ABC苏大DEF的学生",  # upper case (a text that was not normalised)
    "㐀苏大①②三食堂",  # Han beyond jieba's range, circled digits
    "书的质量实在太差.今天去了一趟苏大",  # a run whose neighbours spell a word: cut alone
    "哈哈哈...好的.今天 5.1 苏大 c++ 学工处",
    "非常差非常差非常差，忙忙忙......客服",
    "原价是23.80.我买回是10块多",
    "去苏大...苏大强...三食堂...学生会",
    "copyright1999-2008苏大",
    "普通的一句话，没有什么特别",
    "",
]

# Runs joining digits within one token of jieba's (kept: 5.1, 100%) and not (1.6g, 23.80.):
# alone and with other runs, holes, Han singles, words starting with a digit, the guard's words.
JOINS = [
    "5.1便宜了200块买的",
    "15.4寸笔记本在苏大买的，5.1放假...苏大强",
    "好孩子的成功来自妈妈1%的改变，100%满意，1.5%的人",
    "ab.12和x.1，了5.1了，5.1号店，4.4s店",
    "价格1.5kg左右，主频1.6g，原价是23.80.我买回",
    "09.5.27.不配合验货，1.2%3，12%3",
    "哈哈哈5.1苏大，3.5分_好",
    "书的质量实在太差.今天5.1去了一趟苏大",
]

# Repeats of digits only, which rjieba cuts while no dictionary word is all digits: in blocks
# with Han, letters, runs, words that start with a digit (1号店, 4s店) and other repeats.
DIGITS = [
    "3999抢到的苏大",
    "888888888888888888888888转发",
    "1111号店和4444s店",
    "还用了一张2000-100的券",
    "121212和123123123哈哈哈",
    "价格是999.9元，1000%满意",
    "0001苏大强1112221113",
    "as5530的机器3999元，kb888111的补丁",
]


@pytest.fixture(scope="module")
def seg() -> Segmenter:
    return Segmenter(WORDS)


def test_holes_cut_as_the_one_text_cut(seg: Segmenter) -> None:
    norms = [normalize(t) for t in HOLES] + [t for t in HOLES if t]  # some not normalised
    assert seg.cut_offsets_many(norms) == [seg.cut_offsets(t) for t in norms]


def test_holes_cut_as_jieba(seg: Segmenter) -> None:
    plain = Segmenter([])
    reference = jieba.Tokenizer()
    norms = [normalize(t) for t in HOLES]
    for text, (words, starts) in zip(norms, plain.cut_offsets_many(norms), strict=True):
        assert words == [t for t in reference.lcut(text) if any(c.isalnum() for c in t)]
        assert [text[s : s + len(w)] for w, s in zip(words, starts, strict=True)] == words


def test_each_hole_text_alone_in_a_batch(seg: Segmenter) -> None:
    # A text with holes between plain ones: its neighbours' offsets must not shift.
    plain = "苏大的学生在三食堂吃饭"
    for text in HOLES:
        batch = [plain, normalize(text), plain]
        assert seg.cut_offsets_many(batch) == [seg.cut_offsets(t) for t in batch]


def test_flagged_texts_are_those_the_regex_flags() -> None:
    """The batch's numpy scan flags exactly the texts ``_WHOLE_TEXT_UNSAFE`` matches."""
    rnd = random.Random(5)
    alphabet = "哈哈哈苏大学生的了abcab1200.%-+#&_Aカ①㐀，。！ \n"
    texts = ["".join(rnd.choices(alphabet, k=rnd.randint(1, 12))) for _ in range(3000)]
    texts += ["哈哈哈", "abab ab", "ababab", "121212", "非常差非常差非常差", "好.", "ａ"]
    flagged = _troubles(texts)
    for k, text in enumerate(texts):
        assert (k in flagged) == bool(_WHOLE_TEXT_UNSAFE.search(text)), text


def test_digit_repeats_cut_as_jieba() -> None:
    plain = Segmenter([])
    assert not plain._dict.digit_words  # jieba's dictionary holds no all-digit word
    reference = jieba.Tokenizer()
    for text in DIGITS:
        for block in _BLOCK.findall(text):  # the fast path itself: rjieba on a digit repeat
            assert _base_dictionary(True).cut_block(block) == reference.lcut(block), block
    for text, (words, _) in zip(DIGITS, plain.cut_offsets_many(DIGITS), strict=True):
        assert words == [t for t in reference.lcut(text) if any(c.isalnum() for c in t)]


def test_digit_repeats_with_institution_words(seg: Segmenter) -> None:
    assert seg.cut_offsets_many(DIGITS) == [seg.cut_offsets(t) for t in DIGITS]


def test_digit_words_keep_digit_repeats_for_jieba() -> None:
    """With an all-digit word in the text (11 ties 111 as 11/1 or 1/11) a digit repeat is
    jieba's again; where none is, rjieba's."""
    seg = Segmenter(["11", "12345"])
    assert seg._dict.digit_words == {"11", "12345"}
    texts = [*DIGITS, "1111和111", "1234512345123451", "苏大11111号店"]
    assert seg.cut_offsets_many(texts) == [seg.cut_offsets(t) for t in texts]
    reference = jieba.Tokenizer()
    for word, freq in seg.added.items():
        reference.add_word(word, freq)
    for text in texts:
        assert seg.raw_cut(text) == [t for t in reference.lcut(text) if any(c.isalnum() for c in t)]


def test_digit_repeats_flagged_only_with_digit_words() -> None:
    texts = ["3999", "121212", "123123123", "1a1a1a", "哈哈哈", "a000", "12312", "", "99,333"]
    assert set(_troubles(texts, frozenset())) == {3, 4}
    assert set(_troubles(texts, frozenset({"99"}))) == {0, 3, 4, 8}
    assert set(_troubles(texts)) == {0, 1, 2, 3, 4, 5, 8}


def test_joining_runs_cut_as_jieba(seg: Segmenter) -> None:
    plain = Segmenter([])
    reference = jieba.Tokenizer()
    for text, (words, starts) in zip(JOINS, plain.cut_offsets_many(JOINS), strict=True):
        assert words == [t for t in reference.lcut(text) if any(c.isalnum() for c in t)]
        assert [text[s : s + len(w)] for w, s in zip(words, starts, strict=True)] == words
    assert seg.cut_offsets_many(JOINS) == [seg.cut_offsets(t) for t in JOINS]


def test_joining_runs_kept_only_in_one_token() -> None:
    texts = ["5.1号", "100%满意", "1.5%的", "ab.12", "1.6g", "23.80.", "1.2%3", "x5.1-2"]
    forms = {k: _form(_base_dictionary(True), texts[k], t) for k, t in _troubles(texts).items()}
    kept = {k for k, form in forms.items() if form is not None and not form.holes}
    assert kept == {0, 1, 2, 3}


# Runs next to single characters that spell a word (很久...因为: jieba hands 了很久... to its HMM
# step, so 很久 is not cut 很/久), next to letters and digits without a bridge between two (ok...,
# 1.接电源, 5...6, 100%), and with one (a.b, 1-2, v1.2.3: marked, or a hole where they join digits).
RUNS = [
    "看完之后兴奋了很久...因为我也处于那种阶段...值得学习...很值",
    "入住很多次了都忘记点评了.现在全部补上.从去年底开始",
    "用了两天看完.很吸引人,对于那些向往",
    "ok...好的.今天1.接电源,5...6,100%满意,-5度",
    "a.b和1-2,v1.2.3的版本,a-,-b,&&苏大+#学生会",
    "书的质量实在太差.今天去了一趟苏大...苏大强...三食堂",
    "学c++和c#的.好,at&t的...网络",  # words holding runs: cut on its own
]


def test_runs_as_they_stand_cut_as_jieba(seg: Segmenter) -> None:
    rnd = random.Random(7)
    alphabet = [*"书的质量实在太差今天去了很久因为好的吧不行苏大强学生abk129"]
    alphabet += ["...", ".", "-", "%", "+", "&&", "_", "，", " "]
    texts = RUNS + ["".join(rnd.choices(alphabet, k=rnd.randint(1, 16))) for _ in range(1500)]
    plain = Segmenter([])
    reference = jieba.Tokenizer()
    cuts = plain.cut_offsets_many(texts)
    for text, (words, _) in zip(texts, cuts, strict=True):
        assert words == [t for t in reference.lcut(text) if any(c.isalnum() for c in t)], text
    assert seg.cut_offsets_many(texts) == [seg.cut_offsets(t) for t in texts]


def test_runs_stand_as_they_are_only_without_bridges() -> None:
    texts = ["很久...因为", "ok...好", "1.接电源", "100%满意", "a.b", "1-2的", "v1.2.3", "5.1"]
    forms = {k: _form(_base_dictionary(True), texts[k], t) for k, t in _troubles(texts).items()}
    marked = {k for k, form in forms.items() if form is not None and form.cut != texts[k]}
    assert marked == {4, 5, 6}  # 5.1 is one token of both engines: as it stands


def test_run_texts_listed_only_for_the_characters_asked() -> None:
    texts = ["很久...因为", "学c++的", "100%满意", "哈哈哈.", "a-b", "好&"]
    assert set(_troubles(texts)) == {0, 1, 2, 3, 4, 5}
    # 2: a run that joins digits, 3: a repeat, 4: a bridge
    assert set(_troubles(texts, None, "#&+")) == {1, 2, 3, 4, 5}
    assert set(_troubles(texts, None, "")) == {2, 3, 4}
