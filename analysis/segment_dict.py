"""One dictionary in both engines (jieba for every block, rjieba wherever it gives jieba's
tokens), the rules that decide where it does, and the alias guard."""

from __future__ import annotations

import logging
import re
from bisect import bisect_left, bisect_right
from functools import cached_property, lru_cache
from itertools import accumulate, compress, count

import jieba
import rjieba

jieba.setLogLevel(logging.WARNING)


# Frequency given to the institution's words. High enough that an alias wins its own
# characters against common words (苏大/学生 rather than 苏/大学生: freq(苏)·freq(大学生)/
# freq(学生) ≈ 490), low enough that it loses to real words around it (外交/大臣, not
# 外/交大/臣). That an alias never splits a longer word (苏大强) is the guard's job below,
# because no frequency can do both 苏大/的 and 苏大强: the two routes compare the same numbers.
USER_WORD_FREQ = 1000

_HAN = "\u4e00-\u9fd5"
# jieba's own block pattern (re_han_default): jieba cuts each such block on its own.
_BLOCK = re.compile(f"([{_HAN}a-zA-Z0-9+#&._%\\-]+)")
# Blocks of Han, lower-case letters and digits get the same tokens from both engines (tested
# on 60,000 posts); with + # & . _ % - in them the engines split differently (1-6, URLs).
_FAST_SAFE = re.compile(f"[{_HAN}a-z0-9]+")
# rjieba and jieba break ties between equally likely routes differently. Ties come from a piece
# repeated three times or more (哈哈哈哈哈 = 哈哈哈+哈哈 or 哈哈+哈哈哈); such blocks go to jieba.
# Measured: one block in 325,000 still differs, an exact tie of two different routes that
# floating-point rounding breaks (jieba itself flips on it when any word is added).
_REPEAT = re.compile(r"(.)\1\1|(..)\2\2|(...)\3\3")
# Such a repeat whose piece is not all ASCII digits. A digit-only repeat (000, 3999) ties no
# routes in a text holding no all-digit word of the dictionary (12345): each digit is then a
# route step of its own or the start of a word leaving the digits (1号店), no two routes cover
# the digits alike, and both engines hand them to the same [a-zA-Z0-9]+ split.
_TIE_REPEAT = re.compile(r"([^0-9])\1\1|((?![0-9]{2})..)\2\2|((?![0-9]{3})...)\3\3")
# The word that carries rjieba's total up to jieba's (see _Dictionary): never in a block.
_FILLER = "\x03"
_PUNCT_CHAR = re.compile(r"[+#&._%\-]")
_PUNCT_RUN = re.compile(r"([+#&._%\-]+)")
_LOWER_ALNUM = frozenset("abcdefghijklmnopqrstuvwxyz0123456789")
_ASCII_ALNUM = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789")
# A text with none of these is cut by rjieba in one call: its blocks are all fast-safe, and
# nothing between them is a letter or digit (which jieba would yield as a one-letter word).
# Repeated punctuation (！！！) is harmless: ties only arise inside a block.
_WHOLE_TEXT_UNSAFE = re.compile(
    f"[+#&._%\\-]|[^\\W{_HAN}a-z0-9]|(\\w)\\1\\1|(\\w\\w)\\2\\2|(\\w{{3}})\\3\\3"
)


def _piece_singles(tokens: list[str], at: int, step: int) -> str:
    """The one-character piece tokens (Han, a-z, 0-9) from ``at`` on, going by ``step``: the
    single characters of the piece beside a run, in the order they stand in the text."""
    run: list[str] = []
    while 0 <= at < len(tokens) and len(token := tokens[at]) == 1:
        if not ("\u4e00" <= token <= "\u9fd5" or token in _LOWER_ALNUM):
            break
        run.append(token)
        at += step
    return "".join(run[::-1] if step < 0 else run)


def _holds_any(text: str, words: frozenset[str]) -> bool:
    """Whether ``text`` holds one of ``words`` (the dictionary's all-digit words: few)."""
    return any(word in text for word in words)


def _is_word(token: str) -> bool:
    # A one-character token that is not a letter or digit is punctuation: no per-character look.
    return token.isalnum() or (len(token) > 1 and any(ch.isalnum() for ch in token))


class _WordTokens(dict[str, bool]):
    """token -> ``_is_word(token)``, filled as tokens come: a cut is masked by one map over
    this dict (C), not a call per token. Bounded: cleared when it grows large."""

    def __missing__(self, token: str) -> bool:
        if len(self) >= 262144:
            self.clear()
        self[token] = found = _is_word(token)
        return found


_WORD_TOKENS = _WordTokens()


def _words_mask(tokens: list[str]) -> list[bool]:
    """Which tokens are words (``_is_word``)."""
    return list(map(_WORD_TOKENS.__getitem__, tokens))


class _Dictionary:
    """One dictionary in both engines: jieba for every block, rjieba for the safe ones."""

    def __init__(self, words: dict[str, int], fast: bool) -> None:
        self.jieba = _jieba_with(words)
        self.rjieba = rjieba.Jieba() if fast else None
        if self.rjieba is not None:
            for word, freq in words.items():
                self.rjieba.add_word(word, freq, None)
            # jieba's add_word adds a known word's new frequency to the total, rjieba's the
            # difference: the totals (whose logarithm every route pays per word) part by the
            # words' old frequencies, and close routes (该换/新 or 该/换/新) then go different
            # ways. A filler no text can hold (not a block character) makes up the difference.
            known = sum(_plain_jieba().FREQ.get(word, 0) for word in words)
            if known:
                self.rjieba.add_word(_FILLER, known, None)
        # The all-digit words, with which a digit-only repeat may tie routes (_TIE_REPEAT).
        self.digit_words = _jieba_digit_words() | frozenset(filter(_all_digits, words))

    def may_tie(self, text: str) -> bool:
        """Whether ``text`` holds a repeat that may tie two routes (which jieba must cut)."""
        if _holds_any(text, self.digit_words):
            return _REPEAT.search(text) is not None
        return _TIE_REPEAT.search(text) is not None

    def cut_block(self, block: str) -> list[str]:
        if self.rjieba is not None and not self.may_tie(block):
            if _FAST_SAFE.fullmatch(block):
                return self.rjieba.cut(block)
            pieces = self._cut_between_punctuation(self.rjieba, block)
            if pieces is not None:
                return pieces
        tokens: list[str] = self.jieba.lcut(block)
        return tokens

    def _cut_between_punctuation(self, fast: rjieba.Jieba, block: str) -> list[str] | None:
        """jieba's cut of a block holding runs of + # & . _ % - (1.接电源, 不行.今天), made by
        rjieba from the pieces between the runs; None where that might differ.

        No dictionary word holds those characters (the few that do, c++, are checked for),
        so jieba's best route never crosses a run, and the run ends up among the single
        characters jieba hands to its HMM step. There the run is one token of its own unless
        it joins digits (5.1, 100%), and the characters around it are cut by the HMM as a
        piece alone would cut them, unless that piece's single characters at the run spell a
        dictionary word (a piece alone then yields them one by one). Either case goes to jieba.
        """
        parts = _PUNCT_RUN.split(block)
        pieces = parts[0::2]
        if not all(_FAST_SAFE.fullmatch(piece) for piece in pieces if piece):
            return None
        if self.holds_punct_word(block):
            return None
        freq = self.jieba.FREQ
        out: list[str] = []
        before: list[str] = []
        for k, piece in enumerate(pieces):
            tokens: list[str] = fast.cut(piece) if piece else []
            if k:
                run = parts[2 * k - 1]
                # (The pieces are fast-safe: their one-character tokens are Han, a-z, 0-9.)
                beside = (_piece_singles(before, len(before) - 1, -1), _piece_singles(tokens, 0, 1))
                if not _run_alone(run, pieces[k - 1][-1:], piece[:1], beside, freq):
                    return None
                out.append(run)
            out.extend(tokens)
            before = tokens
        return out

    @cached_property
    def punct_words(self) -> tuple[str, ...]:
        """The dictionary's words that hold + # & . _ % - (c++, c#)."""
        return tuple(
            word for word, freq in self.jieba.FREQ.items() if freq and _PUNCT_CHAR.search(word)
        )

    @cached_property
    def punct_chars(self) -> str:
        """The characters of + # & . % - that some of ``punct_words`` hold."""
        return "".join(sorted(set("+#&.%-").intersection("".join(self.punct_words))))

    @cached_property
    def punct_pattern(self) -> re.Pattern[str] | None:
        """A pattern finding any of ``punct_words`` (one search per text, not one per word)."""
        words = self.punct_words
        return re.compile("|".join(map(re.escape, words))) if words else None

    def holds_punct_word(self, text: str) -> bool:
        return self.punct_pattern is not None and self.punct_pattern.search(text) is not None


@lru_cache(maxsize=1)
def _plain_jieba() -> jieba.Tokenizer:
    """jieba's dictionary, loaded once per process: each Tokenizer would otherwise unmarshal
    the 500,000-word cache again (1.5-2 s of CPU each; a process made four)."""
    tokenizer = jieba.Tokenizer()
    tokenizer.check_initialized()
    return tokenizer


def _all_digits(word: str) -> bool:
    """A word of two or more ASCII digits (a DAG edge across digits)."""
    return len(word) > 1 and word.isascii() and word.isdigit()


@lru_cache(maxsize=1)
def _jieba_digit_words() -> frozenset[str]:
    """The words of jieba's own dictionary made of ASCII digits only (it holds none)."""
    freq: dict[str, int] = _plain_jieba().FREQ
    # One regex scan over the words joined, not a call per word (350,000 of them).
    return frozenset(w for w in re.findall("(?m)^[0-9]{2,}$", "\n".join(freq)) if freq[w])


def in_jieba_dictionary(word: str) -> bool:
    """Whether jieba's own dictionary holds ``word`` (not a word its HMM guessed)."""
    freq: dict[str, int] = _plain_jieba().FREQ
    return freq.get(word, 0) > 0


def _jieba_with(words: dict[str, int]) -> jieba.Tokenizer:
    """A Tokenizer holding jieba's dictionary plus ``words``, built from a copy of the one
    loaded (0.02 s) rather than from the cache file: the same FREQ and total, so the same cut.
    With no words the loaded one itself serves (cutting does not change a Tokenizer)."""
    base = _plain_jieba()
    if not words:
        return base
    tokenizer = jieba.Tokenizer()
    # What initialize() sets, taken from the loaded tokenizer; add_word (which would
    # otherwise initialize first) then only adds to this copy.
    tokenizer.FREQ = dict(base.FREQ)
    tokenizer.total = base.total
    tokenizer.initialized = True
    for word, freq in words.items():
        tokenizer.add_word(word, freq)
    return tokenizer


def _run_alone(
    run: str, left: str, right: str, beside: tuple[str, str], freq: dict[str, int]
) -> bool:
    """Whether jieba cuts a run of + # & . _ % - as one token of its own, the pieces around it
    as they would be cut alone: the run joins no digits (5.1, 100%; ``left`` and ``right``
    are the characters next to it) and the single characters ``beside`` it (before, after)
    spell no dictionary word."""
    if joins_digits(run, left, right):
        return False
    before, after = beside
    return not (_spells_word(before, freq, tail=True) or _spells_word(after, freq, tail=False))


# The letters, digits and runs of a stretch around a run (uppercase included: it is a hole).
_STRETCH = _ASCII_ALNUM | frozenset("+#&._%-")
# Where rjieba's split of the letters and digits that its HMM step gets (runs of them joined by
# any . _ or - between two, then an optional %) parts from jieba's ([a-zA-Z0-9]+(?:\.\d+)?%?,
# the rest between such tokens yielded as it stands): a bridge, unless the stretch is one
# token of both (_ONE_TOKEN). Without one, both yield the letters and digits (and a % after
# them) as tokens and each gap between as one token, in the stretch and in any piece of it.
_BRIDGE = re.compile(r"[a-zA-Z0-9][._\-][a-zA-Z0-9]")
_ONE_TOKEN = re.compile(r"[a-z0-9]+(?:\.[0-9]+%?|%)")


def _as_it_stands(text: str, lo: int, hi: int) -> bool:
    """Whether rjieba cuts the block of the run ``text[lo:hi]`` as jieba does with the run
    unmarked: its stretch of letters, digits and runs holds no bridge, or is one token of both
    engines (5.1, 15.4, 100%, 1.5%). No dictionary word holds + # & . % - (c++ and the like
    are checked for), so both engines' routes step over the run one character at a time, the
    same single characters around it go to the HMM step together, where the Han among them
    are cut alike, and the rest split alike."""
    while lo and text[lo - 1] in _STRETCH:
        lo -= 1
    while hi < len(text) and text[hi] in _STRETCH:
        hi += 1
    return _ONE_TOKEN.fullmatch(text, lo, hi) is not None or not _BRIDGE.search(text, lo, hi)


def joins_digits(run: str, left: str, right: str) -> bool:
    """Whether jieba's HMM step keeps a run of + # & . _ % - with the letters or digits around
    it (5.1, 100%: its pattern is [a-zA-Z0-9]+(?:\\.\\d+)?%?); ``left`` and ``right`` are the
    characters next to the run."""
    return left in _ASCII_ALNUM and (run[0] == "%" or (run == "." and right.isdigit()))


def _spells_word(run: str, freq: dict[str, int], *, tail: bool) -> bool:
    """Whether some end (tail) or start of a run of single characters, two or more long, is a
    dictionary word."""
    ends = (
        (run[i:] for i in range(len(run) - 1))
        if tail
        else (run[:i] for i in range(2, len(run) + 1))
    )
    return any(freq.get(end) for end in ends)


@lru_cache(maxsize=2)
def _base_dictionary(fast: bool) -> _Dictionary:
    return _Dictionary({}, fast)


def _guard(tokens: list[str], base: list[str], own: frozenset[str]) -> list[str]:
    """Where jieba alone finds a longer word around one of the institution's words (苏大强
    around 苏大), keep jieba's cut of that stretch: an alias must not steal characters."""
    if tokens == base:  # the common case: nothing to splice (checked in C)
        return tokens
    # Both cuts cover the same text, so each is told by its start offsets (plus the end).
    mine = list(accumulate(map(len, tokens), initial=0))
    theirs = list(accumulate(map(len, base), initial=0))
    stretches: list[tuple[int, int]] = []
    # Only the positions of the institution's words, picked in C.
    for i in compress(count(), map(own.__contains__, tokens)):
        start, end = mine[i], mine[i + 1]
        k = bisect_right(theirs, start) - 1  # jieba's word holding this one's first character
        b_start, b_end = theirs[k], theirs[k + 1]
        if end <= b_end and b_end - b_start > end - start:
            stretches.append((b_start, b_end))
    if not stretches:
        return tokens
    # Stretches are widened to boundaries both cuts share, so the two cuts splice cleanly.
    common = sorted(set(mine[:-1]).intersection(theirs[:-1]) | {mine[-1]})
    regions = [
        (common[bisect_right(common, lo) - 1], common[bisect_left(common, hi)])
        for lo, hi in stretches
    ]

    def inside(start: int) -> bool:
        return any(lo <= start < hi for lo, hi in regions)

    picked = [(s, t) for s, t in zip(mine, tokens, strict=False) if not inside(s)]
    picked += [(s, t) for s, t in zip(theirs, base, strict=False) if inside(s)]
    picked.sort(key=lambda pair: pair[0])
    return [t for _, t in picked]
