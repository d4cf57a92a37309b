"""Category of a post (DOMAIN.md §3: appeal, hype, defamation, suggestion, or other) from a
weighted cue lexicon (analysis/lexicons/category.tsv), with the cues that decided it."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from functools import lru_cache
from types import MappingProxyType

from analysis.lexicons import CueMatcher, Hit, LexiconError, read_rows
from core.post import Category

# The least total that decides a category. 1.5 lets one clear cue decide (？, 咨询, 直播) but
# not one supporting word of weight 1 (是否, 方便, 速度); chosen on the dev portion of the
# evaluation set (docs/analysis.md).
MIN_SCORE = 1.5

# When two categories score the same, the one that needs the office more urgently wins:
# missing an accusation costs more than over-reading a question.
PRIORITY = (
    Category.DEFAMATION,
    Category.HYPE,
    Category.APPEAL,
    Category.SUGGESTION,
    Category.OTHER,
)


_CATEGORIES = tuple(Category)  # iterating the enum itself is slower than a tuple


@dataclass(frozen=True)
class CategoryResult:
    category: Category
    # The winning category's cues, strongest first (empty when no class reached the threshold,
    # "other" included); for a pattern cue, the text it matched (？, 如果……就好了).
    cues: tuple[str, ...]
    scores: Mapping[Category, float]  # every category's total, to show how close it was


class Categorizer:
    """Sums the weights of the cues found for each category; the highest total wins if it
    reaches ``min_score``, otherwise the post is "other"."""

    def __init__(
        self, weights: Mapping[str, Mapping[Category, float]], min_score: float = MIN_SCORE
    ):
        if min_score <= 0:
            raise ValueError("category: min_score must be positive")
        self._weights = weights
        self.min_score = min_score
        self._matcher = CueMatcher(weights)
        nothing = MappingProxyType(dict.fromkeys(Category, 0))
        self._nothing = CategoryResult(Category.OTHER, (), nothing)

    @classmethod
    def from_lexicon(cls, name: str = "category.tsv", min_score: float = MIN_SCORE) -> Categorizer:
        weights: dict[str, dict[Category, float]] = {}
        for label, cue, weight in read_rows(name, 3):
            try:
                category, points = Category(label), float(weight)
            except ValueError as exc:
                raise LexiconError(
                    f"analysis/lexicons/{name}: bad row {label!r} {cue!r}: {exc}"
                ) from exc
            weights.setdefault(cue, {})[category] = points
        return cls(weights, min_score)

    @property
    def matcher(self) -> CueMatcher:
        """The cue matcher: the analyzer runs it on its own cut and passes the hits."""
        return self._matcher

    def classify(self, text: str, title: str = "") -> CategoryResult:
        return self.classify_hits(self._matcher.find(f"{title}\n{text}" if title else text))

    def classify_hits(self, hits: Iterable[Hit]) -> CategoryResult:
        """``classify`` from the cue hits of ``matcher`` already found in the post."""
        found: dict[Category, dict[str, float]] = {}
        shown: dict[str, str] = {}
        weights = self._weights
        for hit in hits:
            cue = hit.cue
            if cue not in shown:
                shown[cue] = hit.shown
            for category, weight in weights[cue].items():
                # A cue counts once however often it appears: repetition is not evidence.
                found.setdefault(category, {})[cue] = weight
        if not found:  # most posts: one shared answer (frozen, its scores read-only)
            return self._nothing
        # Every category in Category's order; one without cues scores sum(()) (0) as before.
        scores = {c: sum(found[c].values()) if c in found else 0 for c in _CATEGORIES}
        best = PRIORITY[0]
        for category in PRIORITY:  # the highest; on a tie the first in PRIORITY
            if scores[category] > scores[best]:
                best = category
        if scores[best] < self.min_score:
            # "other" as the fallback: nothing decided it, so no cue to show.
            return CategoryResult(Category.OTHER, (), MappingProxyType(scores))
        # "other" may also win on its own cues (辟谣, 系谣言, 经核查): they are shown like any
        # class's, so an analyst sees why a post holding 造谣 was judged other.
        won = found[best]
        cues = sorted(won, key=lambda cue: -won[cue])
        return CategoryResult(best, tuple(shown[c] for c in cues), MappingProxyType(scores))


@lru_cache(maxsize=1)
def default_categorizer() -> Categorizer:
    return Categorizer.from_lexicon()


def classify(text: str, title: str = "") -> CategoryResult:
    """The category of one post with the shipped lexicon."""
    return default_categorizer().classify(text, title)
