"""The pattern cues' gate: the literal strings a pattern's matches start with (its needles),
so that a post holding none of them is not scanned by that pattern."""

from __future__ import annotations

import re

_META = frozenset("\\.^$*+?{}[]()|")


class _NeedleGate:
    """Which patterns may match a text: each pattern's matches start with one of its needles
    (see ``_needles``), and one scan (C) finds the needles the text holds. Most posts hold
    few, and a scan per pattern would cost more than all the rest of the cue matching."""

    def __init__(self, needles: list[tuple[str, ...] | None]) -> None:
        self._always = [at for at, some in enumerate(needles) if some is None]
        every = {needle for some in needles if some for needle in some}
        # The scan reports the longest needle at a position and goes on after it, so a needle
        # found stands for every needle that may hide in or under it: those inside it (能不
        # in 能不能) and those starting within it (an overlap: ab found, bc hidden in abc).
        # Running a pattern that then finds nothing is harmless; skipping one is not.
        self._of: dict[str, frozenset[int]] = {
            found: frozenset(
                at
                for at, some in enumerate(needles)
                if some and any(_may_hide(needle, found) for needle in some)
            )
            for found in every
        }
        longest_first = sorted(every, key=len, reverse=True)
        self._scan = re.compile("|".join(map(re.escape, longest_first))) if every else None

    def candidates(self, text: str) -> list[int]:
        """Indices of the patterns that may match ``text``, in order."""
        if self._scan is None:
            return self._always
        chosen: set[int] = set(self._always)
        of = self._of
        for found in set(self._scan.findall(text)):
            chosen |= of[found]
        return sorted(chosen)


def _may_hide(needle: str, found: str) -> bool:
    """Whether an occurrence of ``needle`` may lie inside, or start inside, one of ``found``."""
    return needle in found or any(needle.startswith(found[at:]) for at in range(1, len(found)))


def _needles(pattern: str) -> tuple[str, ...] | None:
    """Strings one of which every match of ``pattern`` starts with, read from its first
    element (literal characters, a plain character class, or a group of alternatives each
    starting with literal characters); None when that element is anything else or may be
    skipped (?, *, {0,...}). A text holding none of them needs no scan."""
    if not pattern or _top_level_alternation(pattern):
        return None
    head = pattern[0]
    if head == "[":
        end = pattern.find("]", 1)
        body = pattern[1:end] if end > 1 else ""
        if not body or body[0] == "^" or any(ch in "\\-[" for ch in body):
            return None
        needles, rest = tuple(body), pattern[end + 1 :]
    elif head == "(":
        depth, end = 0, -1
        for at, ch in enumerate(pattern):
            depth += (ch == "(") - (ch == ")")
            if depth == 0:
                end = at
                break
        body = pattern[1:end] if end > 0 else ""
        if not body or any(ch in "()[\\" for ch in body):
            return None
        needles, rest = tuple(_literal_run(o) for o in body.split("|")), pattern[end + 1 :]
        if not all(needles):
            return None
    else:
        run = _literal_run(pattern)
        return (run,) if run else None
    return None if _optional(rest) else needles


def _literal_run(pattern: str) -> str:
    """The literal characters a pattern starts with, each certainly matched."""
    run = ""
    for at, ch in enumerate(pattern):
        if ch in _META:
            break
        after = pattern[at + 1 : at + 2]
        if after and after in "?*{+":
            return run + ch if after == "+" else run
        run += ch
    return run


def _optional(rest: str) -> bool:
    """Whether what follows an element lets it match zero times."""
    return rest[:1] in ("?", "*") or rest.startswith(("{0", "{,"))


def _top_level_alternation(pattern: str) -> bool:
    depth, in_class, escaped = 0, False, False
    for ch in pattern:
        if escaped:
            escaped = False
        elif ch == "\\":
            escaped = True
        elif in_class:
            in_class = ch != "]"
        elif ch == "[":
            in_class = True
        elif ch in "()":
            depth += 1 if ch == "(" else -1
        elif ch == "|" and depth == 0:
            return True
    return False
