"""Chinese segmentation for matching and indexing: normalise, then cut with jieba's dictionary
plus the institution's own words; rjieba is the fast path wherever it gives jieba's tokens."""

from __future__ import annotations

import logging
import re
from bisect import bisect_left, bisect_right
from collections.abc import Iterable, Iterator, Sequence
from functools import cached_property, lru_cache
from itertools import accumulate, compress, repeat
from operator import sub
from typing import NamedTuple

import jieba
import rjieba

from analysis.normalize import normalize

__all__ = [
    "USER_WORD_FREQ",
    "Segmenter",
    "Token",
    "default_segmenter",
    "in_jieba_dictionary",
    "normalize",
]

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


# Joins the texts of a batch for one rjieba call: not a block character, so jieba's cut of the
# joined text is each text's cut with a "\x00" token between (jieba cuts blocks apart).
_SEP = "\x00"
# Stands in for each character of a run of + # & . _ % - (不行...今天) in the batch call, so that
# rjieba cuts the pieces between runs apart, as ``_cut_between_punctuation`` does.
_MARK = "\x01"
# _WHOLE_TEXT_UNSAFE less the runs: a text that only has runs may still be cut in the batch.
_UNSAFE_BESIDES_RUNS = re.compile(f"[^\\W{_HAN}a-z0-9]|(\\w)\\1\\1|(\\w\\w)\\2\\2|(\\w{{3}})\\3\\3")


def _split_at(tokens: list[str], sep: str, parts: int) -> list[list[str]]:
    """``tokens`` split at the ``sep`` tokens into ``parts`` lists (there are parts - 1)."""
    out, at = [], 0
    for _ in range(parts - 1):
        end = tokens.index(sep, at)
        out.append(tokens[at:end])
        at = end + 1
    out.append(tokens[at:])
    return out


def _marked(match: re.Match[str]) -> str:
    return _MARK * len(match.group())


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


class Token(NamedTuple):
    """A word and where it is in the normalised text (character offsets, end exclusive).
    A named tuple: posts make hundreds of them, and tuples are the cheapest to build."""

    word: str
    start: int
    end: int


# Token(word, start, end) without the named tuple's Python-level __new__: a post makes hundreds.
_new_token = tuple.__new__


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
        self._punct_words: tuple[str, ...] | None = None

    def cut_block(self, block: str) -> list[str]:
        if self.rjieba is not None and not _REPEAT.search(block):
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
        if any(word in block for word in self.punct_words()):
            return None
        freq = self.jieba.FREQ
        out: list[str] = []
        before: list[str] = []
        for k, piece in enumerate(pieces):
            tokens: list[str] = fast.cut(piece) if piece else []
            if k:
                run = parts[2 * k - 1]
                beside = (_single_run(reversed(before))[::-1], _single_run(tokens))
                if not _run_alone(run, pieces[k - 1][-1:], piece[:1], beside, freq):
                    return None
                out.append(run)
            out.extend(tokens)
            before = tokens
        return out

    def whole_form(self, text: str) -> str | None:
        """What rjieba cuts for ``text`` in a batch: the text itself where a whole-text cut is
        jieba's, the text with its runs of + # & . _ % - marked where the pieces between may
        be (``unmark`` then checks the runs), None where the text needs a cut of its own."""
        if not text or _SEP in text or _MARK in text:
            return None
        if not _WHOLE_TEXT_UNSAFE.search(text):
            return text
        if _UNSAFE_BESIDES_RUNS.search(text) or any(w in text for w in self.punct_words()):
            return None
        return _PUNCT_RUN.sub(_marked, text)

    def unmark(self, tokens: list[str], text: str) -> list[str] | None:
        """The cut of ``text`` from rjieba's cut of its ``whole_form``: each run of marks
        becomes the run, one token, under ``_cut_between_punctuation``'s conditions (the run
        joins no digits, the single characters beside it spell no dictionary word); None
        where one fails."""
        freq = self.jieba.FREQ
        out: list[str] = []
        at = 0
        for run in _PUNCT_RUN.finditer(text):
            start, end = run.span()
            mark = tokens.index(_MARK, at)
            out.extend(tokens[at:mark])
            value = run.group()
            at = mark + len(value)  # one mark token per character of the run
            beside = (_piece_singles(out, len(out) - 1, -1), _piece_singles(tokens, at, 1))
            left, right = text[start - 1 : start], text[end : end + 1]
            if not _run_alone(value, left, right, beside, freq):
                return None
            out.append(value)
        out.extend(tokens[at:])
        return out

    def punct_words(self) -> tuple[str, ...]:
        """The dictionary's words that hold + # & . _ % - (c++, c#)."""
        if self._punct_words is None:
            self._punct_words = tuple(
                word for word, freq in self.jieba.FREQ.items() if freq and _PUNCT_CHAR.search(word)
            )
        return self._punct_words


@lru_cache(maxsize=1)
def _plain_jieba() -> jieba.Tokenizer:
    """jieba's dictionary, loaded once per process: each Tokenizer would otherwise unmarshal
    the 500,000-word cache again (1.5-2 s of CPU each; a process made four)."""
    tokenizer = jieba.Tokenizer()
    tokenizer.check_initialized()
    return tokenizer


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


def _single_run(tokens: Iterable[str]) -> str:
    """The one-character tokens at the front of ``tokens``, joined."""
    run = []
    for token in tokens:
        if len(token) != 1:
            break
        run.append(token)
    return "".join(run)


def _run_alone(
    run: str, left: str, right: str, beside: tuple[str, str], freq: dict[str, int]
) -> bool:
    """Whether jieba cuts a run of + # & . _ % - as one token of its own, the pieces around it
    as they would be cut alone: the run joins no digits (5.1, 100%; ``left`` and ``right``
    are the characters next to it) and the single characters ``beside`` it (before, after)
    spell no dictionary word."""
    if left in _ASCII_ALNUM and (run[0] == "%" or (run == "." and right.isdigit())):
        return False
    before, after = beside
    return not (_spells_word(before, freq, tail=True) or _spells_word(after, freq, tail=False))


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
    # Stretches are widened to boundaries both cuts share, so the two cuts splice cleanly.
    common = sorted(set(mine[:-1]).intersection(theirs[:-1]) | {mine[-1]})
    regions: list[tuple[int, int]] = []
    for i, token in enumerate(tokens):
        if token not in own:
            continue
        start, end = mine[i], mine[i + 1]
        k = bisect_right(theirs, start) - 1  # jieba's word holding this one's first character
        b_start, b_end = theirs[k], theirs[k + 1]
        if end <= b_end and b_end - b_start > end - start:
            lo = common[bisect_right(common, b_start) - 1]
            hi = common[bisect_left(common, b_end)]
            regions.append((lo, hi))
    if not regions:
        return tokens

    def inside(start: int) -> bool:
        return any(lo <= start < hi for lo, hi in regions)

    picked = [(s, t) for s, t in zip(mine, tokens, strict=False) if not inside(s)]
    picked += [(s, t) for s, t in zip(theirs, base, strict=False) if inside(s)]
    picked.sort(key=lambda pair: pair[0])
    return [t for _, t in picked]


class Segmenter:
    """A tokenizer of its own (so one institution's words do not leak into another's).

    ``cut`` and ``index_tokens`` take raw text and normalise it first (see normalize.py).
    """

    def __init__(self, words: Iterable[str] = (), *, fast: bool = True) -> None:
        self.fast = fast
        own = {normalize(w).strip() for w in words}
        own.discard("")
        self.words = frozenset(own)
        base = _base_dictionary(fast)
        # A word jieba already holds at least this often needs nothing (and adding it again
        # would only inflate jieba's total, which decides close routes).
        freqs = {
            w: USER_WORD_FREQ
            for w in sorted(self.words)
            if base.jieba.FREQ.get(w, 0) < USER_WORD_FREQ
        }
        self.added = freqs  # what this segmenter adds to jieba's dictionary, with frequencies
        # Words only this institution knows: never a sub-word of someone else's word.
        self._only_ours = frozenset(w for w in self.words if not base.jieba.FREQ.get(w))
        self._subword_cache: dict[str, tuple[tuple[int, str], ...]] = {}

    @cached_property
    def _dict(self) -> _Dictionary:
        # Built at first cut: a segmenter made only to be widened (the analyzer adds the cue
        # words to the institution's) never cuts, and each dictionary costs 0.2-0.3 s.
        return _Dictionary(self.added, self.fast) if self.added else _base_dictionary(self.fast)

    def _blocks(self, text: str, guarded: bool) -> Iterator[tuple[int, list[str]]]:
        """(offset, tokens) per jieba block of normalised text; between blocks jieba yields
        single characters, which only matter when they are letters (kana, hangul...)."""
        fast = self._dict.rjieba
        if fast is not None and not _WHOLE_TEXT_UNSAFE.search(text):
            tokens = fast.cut(text)
            if guarded and self.words and not self.words.isdisjoint(tokens):
                plain = _base_dictionary(self.fast).rjieba
                assert plain is not None  # built with the same fast flag
                tokens = _guard(tokens, plain.cut(text), self.words)
            yield 0, tokens
            return
        pos = 0
        for i, part in enumerate(_BLOCK.split(text)):
            if i % 2:
                tokens = self._dict.cut_block(part)
                if guarded and self.words and not self.words.isdisjoint(tokens):
                    base = _base_dictionary(self.fast).cut_block(part)
                    tokens = _guard(tokens, base, self.words)
                yield pos, tokens
            else:
                for j, ch in enumerate(part):
                    if ch.isalnum():
                        yield pos + j, [ch]
            pos += len(part)

    def raw_cut(self, text: str) -> list[str]:
        """The dictionary's precise-mode words of already-normalised text, before the alias
        guard: token for token what ``jieba.lcut`` gives with the same words added."""
        return [t for _, ts in self._blocks(text, False) for t in ts if _is_word(t)]

    def cut(self, text: str) -> list[str]:
        """Precise-mode words, punctuation and spaces dropped: what a query or a rule means."""
        return self.cut_normalized(normalize(text))

    def cut_normalized(self, norm: str) -> list[str]:
        """``cut`` of text the caller has already normalised (normalize() is not free)."""
        out: list[str] = []
        for _, ts in self._blocks(norm, True):
            out.extend(compress(ts, _words_mask(ts)))
        return out

    def cut_offsets(self, norm: str) -> tuple[list[str], list[int]]:
        """``cut_normalized`` with each word's start offset in ``norm``: two plain lists, the
        cheapest form for the analyzer, which cuts a post once for all its stages."""
        words: list[str] = []
        starts: list[int] = []
        for pos, ts in self._blocks(norm, True):
            mask = _words_mask(ts)
            words.extend(compress(ts, mask))
            # accumulate yields one offset more than there are tokens: compress stops first.
            starts.extend(compress(accumulate(map(len, ts), initial=pos), mask))
        return words, starts

    def cut_offsets_many(self, norms: Sequence[str]) -> list[tuple[list[str], list[int]]]:
        """``cut_offsets`` of each normalised text. The texts rjieba may cut whole are cut in
        one call (joined by a non-block character; see ``whole_form``), and the alias
        guard's plain cut of those holding an institution word in one more: the per-text
        work is a few list slices. The others are cut one by one."""
        fast, dictionary = self._dict.rjieba, self._dict
        whole = {i: form for i, text in enumerate(norms) if (form := dictionary.whole_form(text))}
        if fast is None or len(whole) < 2:
            return [self.cut_offsets(text) for text in norms]
        out: dict[int, tuple[list[str], list[int]]] = {}
        joined = fast.cut(_SEP.join(whole.values()))
        # One mask and one running offset over the whole batch, in C: each text's words and
        # starts are then slices of them (offsets less the text's own start).
        mask = _words_mask(joined)
        ends = list(accumulate(map(len, joined), initial=0))
        guarded: list[tuple[int, list[str]]] = []
        own = self.words
        at, last = 0, len(whole) - 1
        for k, (i, form) in enumerate(whole.items()):
            end = joined.index(_SEP, at) if k < last else len(joined)
            piece = joined[at:end]
            if form is not norms[i]:  # runs marked: the runs put back, or a cut of its own
                tokens = dictionary.unmark(piece, norms[i])
                if tokens is not None and own and not own.isdisjoint(tokens):
                    guarded.append((i, tokens))
                elif tokens is not None:
                    keep = _words_mask(tokens)
                    starts = compress(accumulate(map(len, tokens), initial=0), keep)
                    out[i] = (list(compress(tokens, keep)), list(starts))
            elif own and not own.isdisjoint(piece):
                guarded.append((i, piece))
            else:
                keep = mask[at:end]
                starts = compress(map(sub, ends[at:end], repeat(ends[at])), keep)
                out[i] = (list(compress(piece, keep)), list(starts))
            at = end + 1
        if guarded:
            # The guard's plain cut, made the same way (the runs' conditions hold for the
            # plain dictionary when they hold for this one, which holds all its words).
            base_dict = _base_dictionary(self.fast)
            plain = base_dict.rjieba
            assert plain is not None  # built with the same fast flag
            bases = plain.cut(_SEP.join([whole[i] for i, _ in guarded]))
            for (i, ts), base in zip(guarded, _split_at(bases, _SEP, len(guarded)), strict=True):
                if whole[i] is not norms[i]:
                    unmarked = base_dict.unmark(base, norms[i])
                    if unmarked is None:
                        continue  # cut on its own below
                    base = unmarked
                ts = _guard(ts, base, own)
                keep = _words_mask(ts)
                starts = compress(accumulate(map(len, ts), initial=0), keep)
                out[i] = (list(compress(ts, keep)), list(starts))
        return [out[i] if i in out else self.cut_offsets(text) for i, text in enumerate(norms)]

    def subwords(self, word: str) -> tuple[tuple[int, str], ...]:
        """The sub-words ``index_tokens`` adds for one word, with their offsets in it."""
        return self._subwords(word) if len(word) > 2 else ()

    def tokens(self, text: str) -> list[Token]:
        """``cut`` with each word's offsets in the normalised text (for proximity and "why")."""
        out: list[Token] = []
        for pos, ts in self._blocks(normalize(text), True):
            # Built by map/zip/compress, not a Python loop per token: a post has hundreds.
            # (ends holds one offset more than there are tokens: zip stops at the last token.)
            ends = list(accumulate(map(len, ts), initial=pos))
            made = map(_new_token, repeat(Token), zip(ts, ends, ends[1:], strict=False))
            out.extend(compress(made, _words_mask(ts)))
        return out

    def index_tokens(self, text: str) -> list[str]:
        """Search-mode words (a long word also yields its dictionary sub-words) for the index,
        so that 大学 finds 苏州大学 while 苏大 does not find 苏大强.

        jieba's cut_for_search over ``cut``, except that a word only the institution's list
        knows is a sub-word of its other words only (苏大 in 苏大附一院, not in 苏大强).
        """
        out: list[str] = []
        for word in self.cut(text):
            if len(word) > 2:
                out.extend(gram for _, gram in self._subwords(word))
            out.append(word)
        return out

    def subword_tokens(self, tokens: Iterable[Token]) -> list[Token]:
        """The sub-words ``index_tokens`` adds, with offsets: 食堂 inside 三食堂."""
        return [
            _new_token(Token, (gram, t.start + i, t.start + i + len(gram)))
            for t in tokens
            if len(t.word) > 2
            for i, gram in self._subwords(t.word)
        ]

    def _subwords(self, word: str) -> tuple[tuple[int, str], ...]:
        # Cached: the same long words recur post after post, and the answer never changes.
        found = self._subword_cache.get(word)
        if found is None:
            freq, own, ours = self._dict.jieba.FREQ, self.words, self._only_ours
            known = word in own
            n = len(word)
            found = tuple(
                (i, word[i : i + size])
                for size in ((2, 3) if n > 3 else (2,))
                for i in range(n - size + 1)
                if freq.get(word[i : i + size]) and (known or word[i : i + size] not in ours)
            )
            if len(self._subword_cache) >= 65536:
                self._subword_cache.clear()
            self._subword_cache[word] = found
        return found


@lru_cache(maxsize=1)
def default_segmenter() -> Segmenter:
    return Segmenter()
