"""The batch cut's bookkeeping in numpy: where each token of the joined batch starts, which
tokens are words, each text's words and offsets; and which texts need the exact per-text path
(a run whose neighbours might spell a word, an institution's word inside a longer plain word)."""

from __future__ import annotations

from collections.abc import Callable
from functools import lru_cache
from itertools import compress
from typing import NamedTuple

import numpy as np

from analysis.segment_dict import _piece_singles, _spells_word

_BMP = 0x10000
# Stands in for each character of a run of + # . & % - in the batch call where the run does
# not stand as it is (a.b, 1-2: ``_as_it_stands``), so that rjieba cuts the pieces between
# runs apart, as ``_cut_between_punctuation`` does.
MARK = "\x01"


# Bits of char_classes: a letter or digit (a token holding one is a word: ``_is_word``); a
# block character of either engine (jieba's, rjieba's wider Han and the run mark, as the
# guard's blocks count them; beyond the BMP every character, which errs on the safe side);
# jieba's Han, a-z, 0-9 (what ``_piece_singles`` takes and repeats are made of); another word
# character (a hole: kana, A-Z, _, Han beyond jieba's range); + # & . % -; + # & . _ % -
# (_PUNCT_RUN's); an ASCII letter or digit; an ASCII digit.
ALNUM, BLOCK, SIMPLE, OTHER, RUN, PUNCT, ASCII, DIGIT = 1, 2, 4, 8, 16, 32, 64, 128


@lru_cache(maxsize=1)
def _class_table() -> np.ndarray:
    """``char_classes`` of each BMP code point (built once: 65,536 ``isalnum`` calls)."""
    table = np.zeros(_BMP, dtype=np.uint8)
    alnum = np.fromiter((chr(c).isalnum() for c in range(_BMP)), dtype=bool, count=_BMP)
    table[alnum] |= ALNUM
    for lo, hi in ((0x3400, 0x4DBF), (0x4E00, 0x9FFF), (0xF900, 0xFAFF)):
        table[lo : hi + 1] |= BLOCK
    lower = "abcdefghijklmnopqrstuvwxyz0123456789"
    ascii_alnum = [ord(c) for c in lower + lower[:26].upper()]
    table[ascii_alnum] |= ASCII
    table[ord("0") : ord("9") + 1] |= DIGIT
    table[[*ascii_alnum, *map(ord, "+#&._%-" + MARK)]] |= BLOCK
    table[0x4E00:0x9FD6] |= SIMPLE
    table[[ord(c) for c in lower]] |= SIMPLE
    word = alnum.copy()  # the regex \w: a letter or digit, or _
    word[ord("_")] = True
    table[word & (table & SIMPLE == 0)] |= OTHER
    table[[ord(c) for c in "+#&.%-"]] |= RUN
    table[[ord(c) for c in "+#&._%-"]] |= PUNCT
    return table


def char_classes(codes: np.ndarray) -> np.ndarray:
    """The class bits (ALNUM, BLOCK...) of each code point."""
    classes: np.ndarray = _class_table()[np.minimum(codes, _BMP - 1)]
    wide = np.flatnonzero(codes >= _BMP)  # emoji, Han beyond the BMP: looked at one by one
    if wide.size:
        alnum = [chr(c).isalnum() for c in codes[wide].tolist()]
        classes[wide] = np.where(alnum, BLOCK | ALNUM | OTHER, BLOCK)
    return classes


class Layout(NamedTuple):
    """A batch's tokens over the texts joined by "\\x00" (which is a token of its own)."""

    codes: np.ndarray  # the joined text's code points
    classes: np.ndarray  # and their char_classes
    starts: np.ndarray  # each token's start in the joined text
    lengths: np.ndarray  # each token's length
    words: list[str]  # the tokens that are words, in order
    word_tokens: np.ndarray  # each word's index among the tokens
    bounds: list[int]  # text k's words are words[bounds[k] : bounds[k + 1]]
    offsets: list[int]  # each word's start in its own text
    firsts: np.ndarray  # each text's start in the joined text

    def texts_at(self, positions: np.ndarray) -> set[int]:
        """The texts (by their place in the batch) holding these offsets of the joined text."""
        return set((np.searchsorted(self.firsts, positions, side="right") - 1).tolist())

    def token_bounds(self) -> list[int]:
        """Text k's tokens are tokens[b[k] : b[k + 1] - 1] (the separator after it left out)."""
        return [*np.searchsorted(self.starts, self.firsts).tolist(), len(self.starts) + 1]


def token_lengths(tokens: list[str]) -> np.ndarray:
    """Each token's length: one bytes() over them (a fifth faster than np.fromiter), or
    np.fromiter where a token is 256 characters or longer."""
    try:
        short = np.frombuffer(bytes(map(len, tokens)), dtype=np.uint8)
    except ValueError:
        return np.fromiter(map(len, tokens), dtype=np.int64, count=len(tokens))
    return short.astype(np.int64)


def layout(joined: str, tokens: list[str]) -> Layout:
    """The layout of rjieba's cut of ``joined``: every per-token step in C or numpy."""
    codes = np.frombuffer(joined.encode("utf-32-le"), dtype=np.uint32)
    classes = char_classes(codes)
    alnum = (classes & ALNUM).astype(bool)
    lengths = token_lengths(tokens)
    starts = np.cumsum(lengths) - lengths
    # A token is a word if it holds a letter or digit (rjieba never yields an empty token).
    is_word = np.logical_or.reduceat(alnum, starts)
    word_tokens = np.flatnonzero(is_word)
    words = list(compress(tokens, is_word.tolist()))
    seps = np.flatnonzero(codes == 0)
    firsts = np.concatenate(([0], seps + 1))
    word_starts = starts[word_tokens]
    bounds = [0, *np.searchsorted(word_starts, seps).tolist(), len(words)]
    offsets = word_starts - np.repeat(firsts, np.diff(bounds))
    return Layout(
        codes, classes, starts, lengths, words, word_tokens, bounds, offsets.tolist(), firsts
    )


_SIEVE = 1 << 20  # the size of own_words' table: a false hit per 2,000 words or so


def _sieve_keys(first: np.ndarray, last: np.ndarray, length: np.ndarray) -> np.ndarray:
    keys: np.ndarray = (first * 40503 + last * 2654435 + length * 97) & (_SIEVE - 1)
    return keys


@lru_cache(maxsize=8)
def _sieve(own: frozenset[str]) -> np.ndarray:
    """Which keys (``_sieve_keys`` of a word's first and last character and length) one of
    ``own`` has."""
    table = np.zeros(_SIEVE, dtype=bool)
    words = [word for word in own if word]
    first = np.array([ord(word[0]) for word in words], dtype=np.int64)
    last = np.array([ord(word[-1]) for word in words], dtype=np.int64)
    table[_sieve_keys(first, last, np.array([len(w) for w in words], dtype=np.int64))] = True
    return table


def own_words(lay: Layout, own: frozenset[str]) -> np.ndarray:
    """The words (by place in ``lay.words``) that are among ``own``: only the words whose
    first and last characters and length fit one of them (a table lookup in numpy) are
    looked up in ``own``."""
    starts = lay.starts[lay.word_tokens]
    length = lay.lengths[lay.word_tokens]
    first = lay.codes[starts].astype(np.int64)
    last = lay.codes[starts + length - 1].astype(np.int64)
    maybe = np.flatnonzero(_sieve(own)[_sieve_keys(first, last, length)])
    looked = map(own.__contains__, map(lay.words.__getitem__, maybe.tolist()))
    found: np.ndarray = maybe[np.fromiter(looked, dtype=bool, count=len(maybe))]
    return found


def failing_runs(
    tokens: list[str], firsts: np.ndarray, lengths: np.ndarray, freq: dict[str, int]
) -> np.ndarray:
    """The marks (by place among ``tokens``) beside which ``_run_alone`` fails (``firsts``:
    each token's first code point): the single characters beside a run spell a dictionary
    word. Only a run with two one-character tokens (Han, a-z, 0-9) on a side is looked at:
    with fewer there is no word to spell, and ``joins_digits`` never holds in the batch
    (such a run's block is a hole)."""
    one = lengths == 1
    mark = one & (firsts == ord(MARK))
    if not mark.any():
        return np.zeros(0, dtype=np.intp)
    single = np.zeros(len(lengths) + 4, dtype=bool)  # token t at t + 2, padded both sides
    single[2:-2] = one & (_class_table()[np.minimum(firsts, _BMP - 1)] & SIMPLE > 0)
    heads = np.flatnonzero(mark & ~np.concatenate(([False], mark[:-1])))
    tails = np.flatnonzero(mark & ~np.concatenate((mark[1:], [False])))
    failed = [
        t
        for t in heads[single[heads + 1] & single[heads]].tolist()
        if _spells_word(_piece_singles(tokens, t - 1, -1), freq, tail=True)
    ]
    failed += [
        t
        for t in tails[single[tails + 3] & single[tails + 4]].tolist()
        if _spells_word(_piece_singles(tokens, t + 1, 1), freq, tail=False)
    ]
    return np.array(failed, dtype=np.intp)


def guard_suspects(
    lay: Layout,
    own_words: np.ndarray,
    plain_cut: Callable[[str], list[str]],
    plain_freq: dict[str, int],
) -> np.ndarray:
    """Where the alias guard may change the cut (offsets in the joined text), for the words
    ``own_words`` (indices into ``lay.words``) that are the institution's: the plain
    dictionary's cut of the blocks holding them, in one call, has a longer word around one
    of them, or a run of marks that fails ``_run_alone`` there (the guard unmarks that cut).

    The guard takes a stretch exactly where the plain word holding an alias's first
    character also holds its last and is longer; jieba cuts blocks apart, so the plain cut
    of the blocks is the plain cut of the texts there."""
    codes = lay.codes
    size = len(codes)
    starts = lay.starts[lay.word_tokens[own_words]]
    ends = starts + lay.lengths[lay.word_tokens[own_words]]
    block = lay.classes & BLOCK > 0
    edges = np.concatenate(([-1], np.flatnonzero(~block), [size]))
    at = np.searchsorted(edges, starts, side="right")
    los, his = edges[at - 1] + 1, edges[at]
    firsts, first = np.unique(los, return_index=True)
    # The blocks, each with the non-block character after it (which keeps them apart).
    step = np.zeros(size + 1, dtype=np.int32)
    step[firsts] += 1
    step[np.minimum(his[first] + 1, size)] -= 1
    picked = np.flatnonzero(np.cumsum(step[:size]) > 0)
    plain = plain_cut(codes[picked].tobytes().decode("utf-32-le"))
    lengths = token_lengths(plain)
    plain_starts = picked[np.cumsum(lengths) - lengths]
    cuts = np.append(plain_starts, size)
    k = np.searchsorted(cuts, starts, side="right")
    before, after = cuts[k - 1], cuts[k]
    held = (after >= ends) & (after - before > ends - starts)
    held |= (los > starts) | (his < ends)  # not inside a block: never so, but then look
    runs = failing_runs(plain, codes[plain_starts], lengths, plain_freq)
    return np.concatenate((starts[held], plain_starts[runs]))
