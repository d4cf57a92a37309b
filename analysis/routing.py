"""Routing (谁主管谁负责): the unit directory maps a post's words to its responsible units by
place (属地), matter (属事) or person (属人), with the reason; no match goes to the default unit."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from itertools import compress, count
from typing import Literal, Protocol

import numpy as np

from analysis.batch_words import BatchWords
from analysis.segment import Segmenter

Basis = Literal["place", "person", "matter", "name", "default"]
BASIS_NAMES = {
    "place": "地点",
    "person": "人员",
    "matter": "事项",
    "name": "单位",
    "default": "默认",
}
# Place and person are the most specific evidence (a canteen, a named official); a unit's own
# name comes next (the post talks about it); a matter word (食堂, 考试) is the weakest.
WEIGHTS: dict[Basis, float] = {"place": 3.0, "person": 3.0, "name": 2.0, "matter": 1.0}


@dataclass(frozen=True)
class UnitSpec:
    """One entry of the unit directory."""

    id: str
    name: str
    aliases: tuple[str, ...] = ()
    keywords: tuple[str, ...] = ()  # 属事
    places: tuple[str, ...] = ()  # 属地
    people: tuple[str, ...] = ()  # 属人: names (and their aliases)
    liaison: str = ""
    contact: str = ""


class _PersonModel(Protocol):
    @property
    def name(self) -> str: ...


class _UnitModel(Protocol):
    """The shape of core.settings.Unit (read, not imported: analysis stands alone)."""

    @property
    def id(self) -> str: ...
    @property
    def name(self) -> str: ...
    @property
    def aliases(self) -> list[str]: ...
    @property
    def keywords(self) -> list[str]: ...
    @property
    def places(self) -> list[str]: ...
    @property
    def people(self) -> Sequence[_PersonModel]: ...
    @property
    def liaison(self) -> str: ...
    @property
    def contact(self) -> str: ...


def unit_from_model(unit: _UnitModel) -> UnitSpec:
    """Adapter from the config's Unit model (a person's aliases route like the name)."""
    people: list[str] = []
    for person in unit.people:
        people += [person.name, *getattr(person, "aliases", [])]
    return UnitSpec(
        id=unit.id,
        name=unit.name,
        aliases=tuple(unit.aliases),
        keywords=tuple(unit.keywords),
        places=tuple(unit.places),
        people=tuple(people),
        liaison=unit.liaison,
        contact=unit.contact,
    )


@dataclass(frozen=True)
class Reason:
    basis: Basis
    word: str

    def __str__(self) -> str:
        return f"{BASIS_NAMES[self.basis]}: {self.word}"


@dataclass(frozen=True)
class Route:
    """A responsible unit for a post, with why; ``score`` ranks units for one post."""

    unit_id: str
    unit_name: str
    liaison: str
    contact: str
    score: float
    reasons: tuple[Reason, ...]

    @property
    def reason(self) -> str:
        return "; ".join(str(r) for r in self.reasons)


class RoutingError(ValueError):
    """A unit directory that cannot be used (duplicate ids, unknown default unit)."""


class Router:
    """Routes token lists to units. Multi-token directory words match as contiguous tokens,
    so 三食堂 is found whether the segmenter keeps it whole or not."""

    def __init__(
        self, units: Iterable[UnitSpec], segmenter: Segmenter, default_unit: str | None = None
    ) -> None:
        self.units: dict[str, UnitSpec] = {}
        for unit in units:
            if unit.id in self.units:
                raise RoutingError(f"two units have the id {unit.id!r}")
            self.units[unit.id] = unit
        if default_unit is not None and default_unit not in self.units:
            raise RoutingError(f"default unit {default_unit!r} is not in the unit directory")
        self.default_unit = default_unit
        self.segmenter = segmenter
        self._default: tuple[UnitSpec, Route] | None = None
        self._routes: dict[tuple[str, tuple[tuple[Basis, str], ...]], tuple[UnitSpec, Route]] = {}
        # first token → [(all tokens, unit id, basis, the word as written)]
        self._index: dict[str, list[tuple[tuple[str, ...], str, Basis, str]]] = {}
        for unit in self.units.values():
            entries: list[tuple[Basis, str]] = [("name", unit.name)]
            entries += [("name", w) for w in unit.aliases]
            entries += [("place", w) for w in unit.places]
            entries += [("person", w) for w in unit.people]
            entries += [("matter", w) for w in unit.keywords]
            for basis, word in entries:
                tokens = tuple(segmenter.cut(word))
                if tokens:
                    self._index.setdefault(tokens[0], []).append((tokens, unit.id, basis, word))

    def route(self, tokens: Sequence[str], limit: int = 3) -> list[Route]:
        """Units ranked by the weight of their evidence (each word counted once); the default
        unit when nothing matches, or an empty list when there is none."""
        index = self._index
        # Most posts hold no directory word: one pass in C over the tokens tells.
        if index.keys().isdisjoint(tokens):
            return self._ranked({}, limit)
        # Only positions whose token starts a directory word, picked in C.
        starts = compress(count(), map(index.__contains__, tokens))
        return self._ranked(self._found(tokens, starts), limit)

    def route_many(self, batch: BatchWords, limit: int = 3) -> list[list[Route]]:
        """``route`` of each post of a numbered batch: whether a word starts a directory word
        is judged once per distinct word, the tokens that do are picked in numpy, and only
        the posts holding one are looked at (most hold none)."""
        index = self._index
        judged = np.fromiter(map(index.__contains__, batch.words), np.bool_, len(batch.words))
        where = np.flatnonzero(judged[batch.ids])
        default = self._ranked({}, limit)
        out = [default.copy() for _ in range(len(batch))]
        if where.size:
            ends = np.cumsum(batch.lengths)
            owner = np.searchsorted(ends, where, side="right")  # the post of each token
            local = (where - (ends - batch.lengths)[owner]).tolist()
            # Each holding post's run of tokens (``where`` is sorted, so its run is together).
            firsts = np.flatnonzero(np.diff(owner, prepend=-1)).tolist()
            stops = [*firsts[1:], len(local)]
            for lo, hi, post in zip(firsts, stops, owner[firsts].tolist(), strict=True):
                out[post] = self._ranked(self._found(batch.posts[post], local[lo:hi]), limit)
        return out

    def _found(
        self, tokens: Sequence[str], starts: Iterable[int]
    ) -> dict[str, dict[tuple[Basis, str], None]]:
        """Each unit's evidence: the directory words starting at ``starts``, in order."""
        found: dict[str, dict[tuple[Basis, str], None]] = {}
        index = self._index
        for i in starts:
            for words, unit_id, basis, word in index[tokens[i]]:
                if tuple(tokens[i : i + len(words)]) == words:
                    found.setdefault(unit_id, {})[(basis, word)] = None
        return found

    def _ranked(self, found: dict[str, dict[tuple[Basis, str], None]], limit: int) -> list[Route]:
        """The units with evidence, strongest first; else the default unit, if any."""
        routes = [self._unit_route(unit_id, tuple(evidence)) for unit_id, evidence in found.items()]
        if len(routes) > 1:
            order = list(self.units)
            routes.sort(key=lambda r: (-r.score, order.index(r.unit_id)))
        if routes:
            return routes[:limit]
        if self.default_unit is None:
            return []
        return [self._default_route(self.default_unit)]

    def _unit_route(self, unit_id: str, evidence: tuple[tuple[Basis, str], ...]) -> Route:
        """The unit's route on this evidence (in the order found): frozen, so one object
        serves every post with the same evidence. The table fills with the directory's words
        and their pairs, not with posts; a route is made again if the unit was replaced."""
        unit = self.units[unit_id]
        made = self._routes.get((unit_id, evidence))
        if made is None or made[0] is not unit:
            reasons = _strongest_first(evidence)
            score = sum(WEIGHTS[r.basis] for r in reasons)
            if len(self._routes) >= 4096:
                self._routes.clear()
            made = self._routes[(unit_id, evidence)] = (unit, self._route(unit_id, score, reasons))
        return made[1]

    def _default_route(self, unit_id: str) -> Route:
        """The default unit's route (frozen, so one object serves every post without a match;
        made again if the directory's entry for the unit was replaced)."""
        unit = self.units[unit_id]
        made = self._default
        if made is None or made[0] is not unit:
            made = self._default = (
                unit,
                self._route(unit_id, 0.0, (Reason("default", "无匹配单位"),)),
            )
        return made[1]

    def route_text(self, text: str, title: str = "", limit: int = 3) -> list[Route]:
        return self.route(self.segmenter.cut(f"{title}\n{text}"), limit)

    def _route(self, unit_id: str, score: float, reasons: tuple[Reason, ...]) -> Route:
        unit = self.units[unit_id]
        return Route(unit.id, unit.name, unit.liaison, unit.contact, score, reasons)


def _strongest_first(evidence: tuple[tuple[Basis, str], ...]) -> tuple[Reason, ...]:
    if len(evidence) == 1:  # most units of a post: one word
        ((basis, word),) = evidence
        return (Reason(basis, word),)
    # A word listed twice for one unit (as place and as matter) counts once, as the stronger
    # (the sort is stable: among equals, the order the words were found in).
    seen: set[str] = set()
    unique = []
    for basis, word in sorted(evidence, key=_rank):
        if word not in seen:
            seen.add(word)
            unique.append(Reason(basis, word))
    return tuple(unique)


_RANKS = {basis: rank for rank, basis in enumerate(WEIGHTS)}


def _rank(evidence: tuple[Basis, str]) -> int:
    return _RANKS[evidence[0]]
