"""Cue-word lists shipped as data (tab-separated files in this folder), and a matcher that
finds them on segmented tokens, so a cue never matches inside a longer word."""

from __future__ import annotations

import re
from bisect import bisect_left, bisect_right
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources
from itertools import chain, compress
from typing import Any

import numpy as np
import numpy.typing as npt

from analysis.lexicons import batch
from analysis.lexicons.gate import _NeedleGate, _needles
from analysis.segment import _BLOCK, Segmenter, in_jieba_dictionary, normalize


class LexiconError(ValueError):
    """A shipped lexicon file is malformed; the message names the file and line."""


def read_rows(name: str, fields: int) -> list[list[str]]:
    """Rows of a lexicon file: tab-separated, exactly ``fields`` columns, # starts a comment."""
    text = resources.files(__package__).joinpath(name).read_text(encoding="utf-8")
    rows = []
    for number, line in enumerate(text.splitlines(), start=1):
        line = line.split("  #", 1)[0].rstrip()
        if not line or line.startswith("#"):
            continue
        cells = [c.strip() for c in line.split("\t") if c.strip()]
        if len(cells) != fields:
            raise LexiconError(
                f"analysis/lexicons/{name}:{number}: expected {fields} tab-separated fields, "
                f"got {len(cells)}: {line!r}"
            )
        rows.append(cells)
    return rows


@dataclass(frozen=True)
class Hit:
    cue: str  # as written in the lexicon (re:... for a pattern)
    start: int  # offset in the normalised text
    text: str = ""  # what a pattern matched; a word cue matches itself

    @property
    def shown(self) -> str:
        """What to show a person: the word, or the text a pattern matched."""
        return self.text or self.cue


class CueMatcher:
    """Finds cue words as whole tokens, runs of up to 4 adjacent tokens (领导/批示) or
    dictionary sub-words of a long token (游行 in 游行示威, as search-mode indexing does), and
    regular-expression cues (written ``re:...``) on the normalised text."""

    MAX_RUN = 4

    def __init__(self, cues: Iterable[str]) -> None:
        words: dict[str, str] = {}  # normalised form -> the cue as written
        patterns = []
        for cue in cues:
            if cue.startswith("re:"):
                patterns.append(cue)
            else:
                words[normalize(cue)] = cue
        self._words = words
        self._subword_cache: dict[str, tuple[tuple[str, int], ...]] = {}
        self._prefixes = {w[:n] for w in words for n in range(1, len(w))}
        self._patterns = [(cue, re.compile(cue[3:]), cue.endswith(WORD_END)) for cue in patterns]
        needles = [_needles(cue[3:]) for cue in patterns]
        self._needles = _NeedleGate(needles)
        # For the batch: the patterns by needles every match holds (from the element that
        # gives the longest, see batch.required_needles), and the patterns without any.
        held = [
            batch.required_needles(cue[3:]) or some
            for cue, some in zip(patterns, needles, strict=True)
        ]
        self._of_needle: dict[str, set[int]] = {}
        for at, some in enumerate(held):
            for needle in some or ():
                self._of_needle.setdefault(needle, set()).add(at)
        self._always = {at for at, some in enumerate(held) if some is None}
        # The other elements each pattern's matches hold (the needle's is there): a post
        # lacking one needs no run of the pattern.
        self._elements = [
            [some for some in batch.required_elements(cue[3:]) if some != needles]
            for cue, needles in zip(patterns, held, strict=True)
        ]
        self._aho: tuple[Any, list[str]] | None = None
        # Which of the automaton's keys are cue words and needles (see batch._kinds).
        self._kinds: tuple[list[str], npt.NDArray[np.bool_], npt.NDArray[np.bool_]] | None = None
        # Tokens known to start no cue and hold no cue sub-word: most tokens, so a post whose
        # tokens are all here is done with one C-level set test.
        self._boring: set[str] = set()
        self._live: set[str] = set()  # tokens known to start a cue or to hold a cue sub-word
        self._any_word = _any_of(frozenset(words))
        shared = _shared_words()
        self._prepare: Callable[[str], _Prepared]
        # The cut's dictionary, built at first use (``segmenter``): the analyzer cuts with its
        # own and needs this one only for a long token's sub-words, if ever.
        self._segmenter_words = shared if words.keys() <= shared else frozenset(words)
        self._prepare = _shared_prepared if words.keys() <= shared else self._prepared

    @property
    def segmenter(self) -> Segmenter:
        """The segmenter holding every cue word (shared by the shipped lexicons)."""
        return _segmenter(self._segmenter_words)

    @property
    def words(self) -> frozenset[str]:
        """The cue words (normalised), patterns left out: a cut that finds them whole needs
        them in its dictionary."""
        return frozenset(self._words)

    def _prepared(self, text: str) -> _Prepared:
        norm = normalize(text)
        if not self._any_word.search(norm):
            return _Prepared(norm, [])
        return _Prepared(norm, self.segmenter.cut_normalized(norm))

    def find(self, text: str) -> list[Hit]:
        # Stripped, so "\ntext" (no title) and "text" share the cached cut.
        prepared = self._prepare(text.strip())
        tokens, norm = prepared.tokens, prepared.norm
        hits: list[Hit] = []
        boring = self._boring
        if not boring.issuperset(tokens):
            words, prefixes = self._words, self._prefixes
            fresh = set(tokens).difference(boring)
            for i in [i for i, token in enumerate(tokens) if token in fresh]:
                token = tokens[i]
                if token in boring:  # classified just now, at an earlier position
                    continue
                starts_run = token in words or token in prefixes
                subs = self._subwords(token) if len(token) >= 3 and token not in words else ()
                if not starts_run and not subs:
                    if len(boring) >= 65536:
                        boring.clear()
                    boring.add(token)
                    continue
                starts = prepared.starts()
                joined = ""
                for j in range(i, min(i + self.MAX_RUN, len(tokens))):
                    if j > i and starts[j] != starts[j - 1] + len(tokens[j - 1]):
                        break  # punctuation between: not one phrase
                    joined += tokens[j]
                    if joined in words:
                        hits.append(Hit(words[joined], starts[i]))
                    if joined not in prefixes:
                        break  # no cue starts this way: longer runs cannot match either
                for sub, offset in subs:
                    hits.append(Hit(words[sub], starts[i] + offset))
        return self._pattern_hits(norm, hits, None)

    def find_tokens(self, norm: str, words: Sequence[str], starts: Sequence[int]) -> list[Hit]:
        """``find`` on a cut the caller already made: the words of normalised text ``norm``
        with their start offsets (the analyzer cuts a post once for all its stages)."""
        hits: list[Hit] = []
        live = self._live_of(words)
        if live:
            cues, prefixes, longest = self._words, self._prefixes, self.MAX_RUN
            n = len(words)
            # Only the positions of live tokens, picked in C: most tokens are no cue's start.
            for i in compress(range(n), map(live.__contains__, words)):
                token = words[i]
                start = starts[i]
                if token in cues:
                    hits.append(Hit(cues[token], start))
                joined, end, j = token, start + len(token), i + 1
                # Runs of adjacent tokens (领导/批示), while some cue still starts this way.
                while joined in prefixes and j < n and j < i + longest and starts[j] == end:
                    joined += words[j]
                    end += len(words[j])
                    if joined in cues:
                        hits.append(Hit(cues[joined], start))
                    j += 1
                if len(token) >= 3 and token not in cues:
                    hits.extend(Hit(cues[sub], start + at) for sub, at in self._subwords(token))
        return self._pattern_hits(norm, hits, (words, starts))

    def find_many(
        self, norms: Sequence[str], words: Sequence[list[str]], starts: Sequence[list[int]]
    ) -> list[list[Hit]]:
        """``find_tokens`` of each post of a batch, in order: one Aho-Corasick pass over the
        batch finds the cue words and the patterns' needles (see batch.py)."""
        return batch.find_many(self, norms, words, starts)

    def _automaton(self) -> tuple[Any, list[str]]:
        """The cue words and the patterns' needles in one automaton, built at first use."""
        if self._aho is None:
            keys = frozenset(chain(self._words, self._of_needle))
            shared = _shared_keys()  # the shipped lexicons share one automaton and one scan
            self._aho = batch.automaton(shared if keys <= shared else keys)
        return self._aho

    def _live_of(self, words: Sequence[str]) -> set[str]:
        """The distinct tokens that may start a cue or hold a cue sub-word; each new token is
        judged once, and set operations (C) do the rest."""
        present = set(words)
        boring, live = self._boring, self._live
        fresh = present - boring - live
        if fresh:
            cues, prefixes = self._words, self._prefixes
            if len(boring) >= 65536 or len(live) >= 65536:
                boring.clear()
                live.clear()
            for token in fresh:
                starts_cue = token in cues or token in prefixes
                if starts_cue or (len(token) >= 3 and self._subwords(token)):
                    live.add(token)
                else:
                    boring.add(token)
        return present & live

    def _pattern_hits(
        self,
        norm: str,
        hits: list[Hit],
        cut: tuple[Sequence[str], Sequence[int]] | None,
        chosen: Iterable[int] | None = None,
    ) -> list[Hit]:
        """``hits`` plus the pattern cues' matches, then less every hit inside an @name.

        A pattern marked ``WORD_END`` counts only where it ends on a boundary of ``cut`` (the
        words of ``norm`` and their starts; None: the cue dictionary's cut of the block, made
        here), as a word cue never matches inside a word: 赶紧转学 is not 赶紧转 + 学. Unmarked
        patterns may end inside a word: most are written so (到底…哪|个, 传到…外|网)."""
        patterns = self._patterns
        for at in self._needles.candidates(norm) if chosen is None else chosen:
            cue, pattern, word_end = patterns[at]
            for m in pattern.finditer(norm):
                start, end = m.span()
                while word_end and end > start and self._ends_inside_word(norm, end, cut):
                    # The longest shorter match from the same start that ends on a boundary:
                    # 传到.{0,6}网 finds 传到国外网|站 first, and 传到国外 is what it means.
                    # (A $ in the pattern would match at the shortened end too.)
                    end -= 1
                    while end > start and not pattern.fullmatch(norm, start, end):
                        end -= 1
                if end > start:
                    hits.append(Hit(cue, start, norm[start:end]))
        if "@" in norm and hits:
            # A user name (@吃瓜小能手, //@造谣君:) is no one's words about the institution.
            spans = [m.span() for m in _MENTION.finditer(norm)]
            hits = [h for h in hits if not any(lo < h.start < hi for lo, hi in spans)]
        return hits

    def _ends_inside_word(
        self, norm: str, end: int, cut: tuple[Sequence[str], Sequence[int]] | None
    ) -> bool:
        """Whether offset ``end`` of ``norm`` falls strictly inside a word of the cut that
        jieba's dictionary holds and no cue is. Patterns are written to end inside words the
        cut guesses (发到各个群|里, 可以多|装) or inside cue words (都转一|下); a real word
        (转学, 发帖) changes what the characters say."""
        if cut is None:
            # The cut of the block holding the character before ``end`` (a word never
            # crosses a block), with the cue words in the dictionary.
            block = next((b for b in _BLOCK.finditer(norm) if b.end() >= end), None)
            if block is None or block.end() == end or block.start() >= end:
                return False
            words: Sequence[str]
            starts: Sequence[int]
            words, starts = self.segmenter.cut_offsets(block.group())
            end -= block.start()
        else:
            words, starts = cut
        k = bisect_right(starts, end) - 1
        if k < 0 or not starts[k] < end < starts[k] + len(words[k]):
            return False
        return words[k] not in self._words and in_jieba_dictionary(words[k])

    def _subwords(self, token: str) -> tuple[tuple[str, int], ...]:
        """The cues among a long token's search-mode sub-words, with their offsets; cached,
        since the same words recur in post after post."""
        found = self._subword_cache.get(token)
        if found is None:
            found = ()
            # The sub-words are pieces of the normalised token: without a cue among its
            # pieces, the token needs no cut (most long tokens hold none).
            if self._any_word.search(normalize(token)):
                found = tuple(
                    (sub, token.find(sub))
                    for sub in self.segmenter.index_tokens(token)
                    if sub != token and sub in self._words
                )
            if len(self._subword_cache) >= 65536:
                self._subword_cache.clear()
            self._subword_cache[token] = found
        return found


@lru_cache(maxsize=4)
def _segmenter(words: frozenset[str]) -> Segmenter:
    return Segmenter(words)


@lru_cache(maxsize=1)
def _shared_words() -> frozenset[str]:
    """Every shipped cue word, in one dictionary: category and severity then cut a post once."""
    words = {normalize(cue) for _, cue, _ in read_rows("category.tsv", 3)}
    words |= {normalize(word) for word, _, _ in read_rows("escalation.tsv", 3)}
    return frozenset(w for w in words if not w.startswith("re:"))


@lru_cache(maxsize=1)
def _shared_keys() -> frozenset[str]:
    """What the shipped lexicons' batch matchers look for: every cue word and needle."""
    keys = set(_shared_words())
    patterns = [cue for _, cue, _ in read_rows("category.tsv", 3)]
    patterns += [word for word, _, _ in read_rows("escalation.tsv", 3)]
    for cue in patterns:
        if cue.startswith("re:"):
            keys.update(batch.required_needles(cue[3:]) or _needles(cue[3:]) or ())
    return frozenset(keys)


class _Prepared:
    """A post's normalised text and cue-dictionary tokens; the tokens' offsets are worked out
    only when a token may be a cue (most posts need none)."""

    __slots__ = ("_starts", "norm", "tokens")

    def __init__(self, norm: str, tokens: list[str], starts: list[int] | None = None) -> None:
        self.norm = norm
        self.tokens = tokens
        self._starts = starts

    def starts(self) -> list[int]:
        if self._starts is None:
            # Re-finding each token after the previous one (the cut drops punctuation).
            norm, starts, cursor = self.norm, [], 0
            for token in self.tokens:
                at = norm.find(token, cursor)
                at = cursor if at < 0 else at
                starts.append(at)
                cursor = at + len(token)
            self._starts = starts
        return self._starts


@lru_cache(maxsize=256)
def _shared_prepared(text: str) -> _Prepared:  # callers only read it
    # Category and severity look at the same post one after the other: cut it once.
    norm = normalize(text)
    words = _shared_words()
    at = [m.start() for m in _any_of(words).finditer(norm)]
    if not at:
        return _Prepared(norm, [])
    segmenter = _segmenter(words)
    if not _within_blocks(words):
        return _Prepared(norm, segmenter.cut_normalized(norm))
    # jieba cuts each block (a run of Han, letters, digits) on its own, and a cue lies within
    # one block: only the blocks holding a cue need cutting, the same tokens as a whole cut.
    tokens: list[str] = []
    starts: list[int] = []
    for block in _BLOCK.finditer(norm):
        lo, hi = block.span()
        first = bisect_left(at, lo)
        if first == len(at) or at[first] >= hi:
            continue
        cursor = lo
        for token in segmenter.cut_normalized(block.group()):
            found = norm.find(token, cursor)
            found = cursor if found < 0 else found
            tokens.append(token)
            starts.append(found)
            cursor = found + len(token)
    return _Prepared(norm, tokens, starts)


@lru_cache(maxsize=4)
def _within_blocks(words: frozenset[str]) -> bool:
    """Whether every word is made of block characters only (so never spans two blocks)."""
    return all(_BLOCK.fullmatch(w) for w in words)


@lru_cache(maxsize=4)
def _any_of(words: frozenset[str]) -> re.Pattern[str]:
    """Finds any of the words anywhere in the text. Every cue a cut can find (a token, a run
    of adjacent tokens, a sub-word) is a piece of the normalised text, so a text without any
    needs no cut: about half the posts."""
    return re.compile("|".join(re.escape(w) for w in sorted(words, key=len, reverse=True)))


# Ends a pattern cue that must end on a word boundary of the cut (a regex comment, so the
# pattern itself is unchanged): for calls ending in a one-character verb (赶紧转, 快去看),
# which the next character turns into another word (转学, 看病).
WORD_END = "(?#word-end)"

# A user name as reposts write it (analysis/folding.py's _MENTION): @, then up to 30 word
# characters (Weibo ends a name at a space or punctuation).
_MENTION = re.compile(r"@[\w\-·]{1,30}")
