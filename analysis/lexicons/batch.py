"""Cue matching over a whole batch: one Aho-Corasick pass over the joined posts finds every
cue word and pattern needle, and numpy keeps the cue words that lie on the cut's word
boundaries, so a cue still never matches inside a word (苏大 is not in 苏大强)."""

from __future__ import annotations

import re
from collections.abc import Sequence
from functools import lru_cache
from itertools import accumulate, chain
from typing import TYPE_CHECKING, Any

import ahocorasick_rs
import numpy as np

from analysis.lexicons.gate import _META, _literal_run, _optional, _top_level_alternation

if TYPE_CHECKING:
    from analysis.lexicons import CueMatcher, Hit

# Inline flags, escaped brackets, brackets inside a class: beyond required_needles' reading.
_BEYOND = re.compile(r"\(\?[aiLmsux]|\\[()\[\]]|\[[^\]]*[()\[]")
# Joins the posts for the one pass: no cue word or needle holds it, so none spans two posts.
_SEP = "\x00"


def required_needles(pattern: str) -> tuple[str, ...] | None:
    """Strings one of which every match of ``pattern`` holds, from the element that gives
    the longest (不(给|退).{0,8}就不走: 就不走 rather than 不): a literal run, a plain
    character class or a group of literal alternatives that no quantifier makes optional.
    None if the pattern has no such element or is beyond this reading (an alternation at
    the top, inline flags)."""
    if _top_level_alternation(pattern) or _BEYOND.search(pattern):
        return None
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
        if some is not None and len(some) == 1 and len(some[0]) == 1 and not optional:
            run += some[0]
            if quantified:  # the run goes no further than a repeated character
                elements.append((run,))
                run = ""
        else:
            if run:
                elements.append((run,))
                run = ""
            if some is not None and not optional:
                elements.append(some)
        if quantified:
            at = _after_quantifier(pattern, at)
    if run:
        elements.append((run,))
    if not elements:
        return None
    return max(elements, key=lambda some: (min(map(len, some)), -len(some)))


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
    return ahocorasick_rs.AhoCorasick(ordered, matchkind=ahocorasick_rs.MatchKind.Standard), ordered


# The last scan: category and escalation cues are looked for in the same batch in turn.
_last: list[tuple[Any, str, list[tuple[int, int, int]]]] = []


def _scan(aho: ahocorasick_rs.AhoCorasick | None, joined: str) -> list[tuple[int, int, int]]:
    """Every occurrence (key's index, start, end) of the keys in ``joined``, overlapping ones
    too; the last scan remembered."""
    if aho is None:
        return []
    if _last and _last[0][0] is aho and _last[0][1] == joined:
        return _last[0][2]
    found = aho.find_matches_as_indexes(joined, overlapping=True)
    _last[:] = [(aho, joined, found)]
    return found


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
    Pattern cues run on the posts that hold one of their needles, as the gate decides."""
    from analysis.lexicons import Hit

    joined = _SEP.join(norms)
    if joined.count(_SEP) != len(norms) - 1:  # a post holds the separator: post by post
        return [matcher.find_tokens(*post) for post in zip(norms, words, starts, strict=True)]
    aho, table = matcher._automaton()
    found = _scan(aho, joined)
    spans = np.array(found, dtype=np.int64).reshape(-1, 3)
    keys: list[str] = list(map(table.__getitem__, spans[:, 0].tolist()))
    begins, ends = spans[:, 1], spans[:, 2]
    bases = np.fromiter(
        accumulate((len(norm) + 1 for norm in norms), initial=0), np.int64, len(norms) + 1
    )
    per_post: list[list[tuple[tuple[int, int, int], Hit]]] = [[] for _ in norms]
    cues = matcher._words
    flat = list(chain.from_iterable(words))
    if flat and found:
        local = list(chain.from_iterable(starts))
        post_of = np.repeat(np.arange(len(norms)), [len(w) for w in words])
        first = np.array(local, dtype=np.int64) + bases[post_of]
        size = np.fromiter(map(len, flat), dtype=np.int64, count=len(flat))
        last = first + size
        covered = np.concatenate(([0], np.cumsum(size)))
        is_cue = np.fromiter(map(cues.__contains__, keys), dtype=bool, count=len(keys))
        at = np.flatnonzero(is_cue)
        b, e = begins[at], ends[at]
        top = len(flat) - 1
        i = np.minimum(np.searchsorted(first, b), top)
        j = np.minimum(np.searchsorted(last, e), top)
        # On a word's start and a word's end, at most MAX_RUN words, nothing between them.
        aligned = (
            (first[i] == b)
            & (last[j] == e)
            & (j - i < matcher.MAX_RUN)
            & (covered[j + 1] - covered[i] == e - b)
        )
        for k, w, end in zip(
            at[aligned].tolist(), i[aligned].tolist(), e[aligned].tolist(), strict=True
        ):
            post = int(post_of[w])
            per_post[post].append(((w, 0, end), Hit(cues[keys[k]], local[w])))
        # A cue strictly inside one word of three or more characters: its sub-words.
        t = np.searchsorted(first, b, side="right") - 1
        inside = (t >= 0) & (e <= last[t]) & (e - b < size[t]) & (size[t] >= 3)
        for w in np.unique(t[inside]).tolist():
            token = flat[w]
            if token in cues:
                continue
            post = int(post_of[w])
            for seq, (sub, offset) in enumerate(matcher._subwords(token)):
                per_post[post].append(((w, 1, seq), Hit(cues[sub], local[w] + offset)))
    # The patterns whose needles each post holds (a pattern that then finds nothing is
    # harmless, one skipped would not be).
    patterns: dict[int, set[int]] = {}
    of_needle = matcher._of_needle
    if of_needle:
        posts = (np.searchsorted(bases, begins, side="right") - 1).tolist()
        for post, key in set(zip(posts, keys, strict=True)):  # each needle once per post
            some = of_needle.get(key)
            if some:
                patterns.setdefault(post, set()).update(some)
    always = matcher._always
    out = []
    for post, norm in enumerate(norms):
        pairs = per_post[post]
        hits = [hit for _, hit in sorted(pairs, key=_first)] if pairs else []
        chosen = patterns.get(post, set()) | always
        if chosen or (hits and "@" in norm):  # else nothing to add or take away
            cut = (words[post], starts[post])
            hits = matcher._pattern_hits(norm, hits, cut, sorted(chosen))
        out.append(hits)
    return out


def _first(pair: tuple[tuple[int, int, int], Hit]) -> tuple[int, int, int]:
    return pair[0]
