"""Cue matching over a whole batch: one Aho-Corasick pass over the joined posts finds every
cue word and pattern needle, and a cue word counts only where it lies on the cut's word
boundaries, so a cue still never matches inside a word (苏大 is not in 苏大强)."""

from __future__ import annotations

import re
from bisect import bisect_right
from collections.abc import Sequence
from functools import lru_cache
from itertools import accumulate, product
from typing import TYPE_CHECKING, Any, NamedTuple

import ahocorasick_rs
import numpy as np
import numpy.typing as npt

from analysis.lexicons.gate import _META, _literal_run, _optional, _top_level_alternation

if TYPE_CHECKING:
    from analysis.lexicons import CueMatcher, Hit

# Inline flags, escaped brackets, brackets inside a class: beyond required_needles' reading.
_BEYOND = re.compile(r"\(\?[aiLmsux]|\\[()\[\]]|\[[^\]]*[()\[]")
# The least count of a {n,m} quantifier.
_LEAST = re.compile(r"\{(\d+)")
# Joins the posts for the one pass: no cue word or needle holds it, so none spans two posts.
_SEP = "\x00"


def required_needles(pattern: str) -> tuple[str, ...] | None:
    """Strings one of which every match of ``pattern`` holds, from the element that gives
    the longest (不(给|退).{0,8}就不走: 就不走 rather than 不); see ``required_elements``."""
    elements = required_elements(pattern)
    if not elements:
        return None
    return max(elements, key=lambda some: (min(map(len, some)), -len(some)))


def required_elements(pattern: str) -> list[tuple[str, ...]]:
    """The elements every match of ``pattern`` holds, each as the strings one of which it
    matches: a literal run, a plain character class or a group of literal alternatives that
    no quantifier makes optional (a character or a small class asked for n times in a row,
    [!！]{3,}, gives the strings of n). Empty if the pattern is beyond this reading (an
    alternation at the top, inline flags)."""
    if _top_level_alternation(pattern) or _BEYOND.search(pattern):
        return []
    elements: list[tuple[str, ...]] = []
    run = ""  # literal characters in a row, each certainly matched
    at = 0
    while at < len(pattern):
        ch = pattern[at]
        some: tuple[str, ...] | None = None
        if ch == "\\":
            at += 2
        elif ch == "[":
            end = pattern.find("]", at + 1)
            body = pattern[at + 1 : end] if end > at else ""
            plain = body and body[0] != "^" and not any(c in "\\-[" for c in body)
            some = tuple(body) if plain else None
            at = end + 1 if end > at else len(pattern)
        elif ch == "(":
            depth, end = 0, len(pattern)
            for k in range(at, len(pattern)):
                depth += (pattern[k] == "(") - (pattern[k] == ")")
                if depth == 0:
                    end = k
                    break
            body = pattern[at + 1 : end]
            body = body[2:] if body.startswith("?:") else body
            if body and not body.startswith("?") and not any(c in "()[\\" for c in body):
                options = tuple(_literal_run(o) for o in body.split("|"))
                some = options if all(options) else None
            at = end + 1
        elif ch in _META:
            at += 1
        else:
            some = (ch,)
            at += 1
        quantified = pattern[at : at + 1] in ("?", "*", "+", "{")
        optional = _optional(pattern[at:])
        times = _least(pattern[at:])  # at least this many in a row ([!！]{3,}: 3)
        if some is not None and len(some) == 1 and len(some[0]) == 1 and not optional:
            run += some[0] * times
            if quantified:  # the run goes no further than a repeated character
                elements.append((run,))
                run = ""
        else:
            if run:
                elements.append((run,))
                run = ""
            if some is not None and not optional:
                if times > 1 and all(len(one) == 1 for one in some) and len(some) ** times <= 16:
                    some = tuple(map("".join, product(some, repeat=times)))
                elements.append(some)
        if quantified:
            at = _after_quantifier(pattern, at)
    if run:
        elements.append((run,))
    return elements


def _least(rest: str) -> int:
    """How many times in a row a ``{n,...}`` quantifier at the start of ``rest`` asks for at
    least (1 for any other, or none)."""
    found = _LEAST.match(rest)
    return max(1, int(found.group(1))) if found else 1


def _after_quantifier(pattern: str, at: int) -> int:
    """The offset after the quantifier at ``at`` (and its lazy ``?``)."""
    at = pattern.index("}", at) + 1 if pattern[at] == "{" else at + 1
    return at + 1 if pattern[at : at + 1] == "?" else at


@lru_cache(maxsize=4)
def automaton(keys: frozenset[str]) -> tuple[ahocorasick_rs.AhoCorasick | None, list[str]]:
    """An Aho-Corasick automaton finding every occurrence of ``keys``, and the keys in its
    order; matchers with the same keys share it, and so the scan of a batch (``_scan``)."""
    ordered = sorted(key for key in keys if key and _SEP not in key)
    if not ordered:
        return None, ordered
    # A DFA: a larger table (1.4 MB for the shipped keys) that scans in about half the time.
    aho = ahocorasick_rs.AhoCorasick(
        ordered,
        matchkind=ahocorasick_rs.MatchKind.Standard,
        implementation=ahocorasick_rs.Implementation.DFA,
    )
    return aho, ordered


class _Scan(NamedTuple):
    """What one pass over a batch found: each occurrence's key, post, and start and end
    offsets within that post (lists: the matchers read them one occurrence at a time), and
    its key's place in the automaton's keys (to pick a matcher's occurrences in numpy)."""

    keys: list[str]
    posts: list[int]
    begins: list[int]
    ends: list[int]
    at: npt.NDArray[np.int64]


# The last scan: category and escalation cues are looked for in the same batch in turn.
_last: list[tuple[Any, str, _Scan]] = []


def _scan(
    aho: ahocorasick_rs.AhoCorasick | None, table: list[str], norms: Sequence[str], joined: str
) -> _Scan:
    """Every occurrence of the keys in the posts ``norms`` (joined: ``joined``), overlapping
    ones too, in the order of their ends; the last scan remembered."""
    if _last and _last[0][0] is aho and _last[0][1] == joined:
        return _last[0][2]
    found = aho.find_matches_as_indexes(joined, overlapping=True) if aho is not None else []
    if found:
        at, begins, ends = zip(*found, strict=True)
        bases = np.fromiter(
            accumulate((len(norm) + 1 for norm in norms), initial=0), np.int64, len(norms) + 1
        )
        begin = np.array(begins, dtype=np.int64)
        post = np.searchsorted(bases, begin, side="right") - 1
        base = bases[post]
        scan = _Scan(
            list(map(table.__getitem__, at)),
            post.tolist(),
            (begin - base).tolist(),
            (np.array(ends, dtype=np.int64) - base).tolist(),
            np.array(at, dtype=np.int64),
        )
    else:
        scan = _Scan([], [], [], [], np.zeros(0, np.int64))
    _last[:] = [(aho, joined, scan)]
    return scan


def find_many(
    matcher: CueMatcher,
    norms: Sequence[str],
    words: Sequence[list[str]],
    starts: Sequence[list[int]],
) -> list[list[Hit]]:
    """``matcher.find_tokens`` of each post, the same hits in the same order.

    A cue word is a hit where its occurrence starts a word of the cut and ends one, over at
    most ``MAX_RUN`` words with nothing between them (领导/批示); a word of the cut holding
    an occurrence inside it is looked at for its sub-words (游行 in 游行示威), as before.
    Pattern cues run on the posts that hold one of their needles, as the gate decides.
    Only the occurrences are visited (a few per post), never the words of the cut."""
    from analysis.lexicons import Hit

    joined = _SEP.join(norms)
    if joined.count(_SEP) != len(norms) - 1:  # a post holds the separator: post by post
        return [matcher.find_tokens(*post) for post in zip(norms, words, starts, strict=True)]
    aho, table = matcher._automaton()
    scan = _scan(aho, table, norms, joined)
    keys, posts, begins, ends = scan.keys, scan.posts, scan.begins, scan.ends
    cues = matcher._words
    is_cue, is_needle = _kinds(matcher, table)
    longest = matcher.MAX_RUN
    # Each post's hits with their place in find_tokens' order: (word, 0, end) for a cue on
    # the cut's boundaries, (word, 1, n) for the n-th cue sub-word of a long word.
    per_post: dict[int, list[tuple[tuple[int, int, int], Hit]]] = {}
    held: dict[int, set[int]] = {}  # the long words whose sub-words are taken, per post
    for k in np.flatnonzero(is_cue[scan.at]).tolist():
        post, begin, end = posts[k], begins[k], ends[k]
        offsets, cut = starts[post], words[post]
        # The word holding the occurrence's first character (the last starting at or before).
        w = bisect_right(offsets, begin) - 1
        if w < 0:
            continue
        token = cut[w]
        size = len(token)
        if offsets[w] == begin:
            # A run of words from here, nothing between them, ending where the cue ends.
            j, reach, n = w, begin + size, len(cut)
            while reach < end and j + 1 < n and j + 1 < w + longest and offsets[j + 1] == reach:
                j += 1
                reach += len(cut[j])
            if reach == end:
                per_post.setdefault(post, []).append(((w, 0, end), Hit(cues[keys[k]], begin)))
                continue
        # Strictly inside one word of three or more characters: that word's cue sub-words.
        if size >= 3 and end <= offsets[w] + size and token not in cues:
            seen = held.setdefault(post, set())
            if w not in seen:
                seen.add(w)
                found = per_post.setdefault(post, [])
                for seq, (sub, offset) in enumerate(matcher._subwords(token)):
                    found.append(((w, 1, seq), Hit(cues[sub], offsets[w] + offset)))
    # The patterns whose needles each post holds (a pattern that then finds nothing is
    # harmless, one skipped would not be).
    patterns: dict[int, set[int]] = {}
    of_needle = matcher._of_needle
    if of_needle:
        for k in np.flatnonzero(is_needle[scan.at]).tolist():
            post = posts[k]
            chosen = patterns.get(post)
            if chosen is None:
                chosen = patterns[post] = set()
            chosen |= of_needle[keys[k]]
    always, elements = matcher._always, matcher._elements
    out: list[list[Hit]] = [[] for _ in norms]
    # Only the posts with a hit or a pattern to run (every post when a pattern has no needle).
    for post in range(len(norms)) if always else sorted(per_post.keys() | patterns.keys()):
        norm = norms[post]
        pairs = per_post.get(post)
        hits = [hit for _, hit in sorted(pairs, key=_first)] if pairs else []
        chosen = patterns.get(post)
        if chosen is not None:
            # Only the patterns whose every other required element the post holds too: most
            # patterns run on their needle's posts find nothing (看 of 都去看).
            kept: set[int] = set()
            for p in chosen:
                for some in elements[p]:
                    for needle in some:
                        if needle in norm:
                            break
                    else:  # none of this element's strings: no match can be here
                        break
                else:
                    kept.add(p)
            chosen = kept
        if chosen or always or (hits and "@" in norm):
            chosen = (chosen or set()) | always
            hits = matcher._pattern_hits(norm, hits, (words[post], starts[post]), sorted(chosen))
        out[post] = hits
    return out


def _kinds(
    matcher: CueMatcher, table: list[str]
) -> tuple[npt.NDArray[np.bool_], npt.NDArray[np.bool_]]:
    """Which of the automaton's keys (``table``) are the matcher's cue words, and which its
    patterns' needles, judged once per matcher."""
    kinds = matcher._kinds
    if kinds is None or kinds[0] is not table:
        words, needles = matcher._words, matcher._of_needle
        kinds = matcher._kinds = (
            table,
            np.fromiter(map(words.__contains__, table), np.bool_, len(table)),
            np.fromiter(map(needles.__contains__, table), np.bool_, len(table)),
        )
    return kinds[1], kinds[2]


def _first(pair: tuple[tuple[int, int, int], Hit]) -> tuple[int, int, int]:
    return pair[0]
