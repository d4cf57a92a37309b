"""One post's whole analysis: words, keywords, watch rules, sentiment, category, units, repost
cluster and severity, each part's "why" kept. Composes the parts; holds no I/O."""

from __future__ import annotations

import gc
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass, field, fields
from datetime import UTC, datetime
from functools import lru_cache
from itertools import accumulate, chain, repeat
from typing import TYPE_CHECKING, NamedTuple, TypeVar

import numpy as np

from analysis.batch_words import BatchWords
from analysis.category import Categorizer, CategoryResult, default_categorizer
from analysis.folding import Folder
from analysis.keywords import IdfModel, Keyword, keywords_many
from analysis.normalize import normalize_many
from analysis.routing import Route, Router
from analysis.segment import Segmenter
from analysis.sentiment import SentimentModel, SentimentResult
from analysis.severity import (
    Assessment,
    SeverityPolicy,
    assess_signals,
    check_negativity,
    escalation_matcher,
    escalation_words_of,
)
from analysis.watch import Cut, FieldName, RuleMatch, RuleSet

if TYPE_CHECKING:
    from _typeshed import DataclassInstance

_NO_CUT: tuple[list[str], list[int]] = ([], [])
_Frozen = TypeVar("_Frozen", bound="DataclassInstance")


class _Cut(NamedTuple):
    """A post's normalised title and body, and each one's words with their start offsets."""

    title: str
    body: str
    title_cut: tuple[list[str], list[int]]
    body_cut: tuple[list[str], list[int]]


class _Plan(NamedTuple):
    segmenter: Segmenter
    rules: RuleSet | None
    router: Router | None
    # The cut as the institution's dictionary alone would give it, near enough: cue words
    # (买的, 就好了) split back into its words, so they do not become keywords or hot words.
    plain: dict[str, tuple[str, ...]]


@lru_cache(maxsize=4)
def _with_words(words: frozenset[str], fast: bool) -> Segmenter:
    return Segmenter(sorted(words), fast=fast)


def _cut_many(segmenter: Segmenter, items: Sequence[Item]) -> list[_Cut]:
    """The posts normalised and cut once, title and body apart: every stage reads this."""
    titles = normalize_many([item.title or "" for item in items])
    bodies = normalize_many([item.text or "" for item in items])
    cuts = segmenter.cut_offsets_many(titles + bodies)
    n = len(items)
    return [
        _Cut(title, body, cuts[k] if title else _NO_CUT, cuts[n + k] if body else _NO_CUT)
        for k, (title, body) in enumerate(zip(titles, bodies, strict=True))
    ]


def cue_input(items: Sequence[Item], cuts: list[_Cut]) -> tuple[list[str], list[list[int]]]:
    """What the cue matchers read of each post, as the categorizer reads a post: the
    normalised "title\nbody" (the body alone without a title) and its words' offsets there."""
    norms = [
        f"{cut.title}\n{cut.body}".rstrip() if item.title else cut.body.rstrip()
        for item, cut in zip(items, cuts, strict=True)
    ]
    return norms, _cue_starts(items, cuts)


def _cue_starts(items: Sequence[Item], cuts: list[_Cut]) -> list[list[int]]:
    """Each post's word offsets in "title\\nbody": the body's shifted past the title, all
    the batch's in one numpy addition."""
    bodies = [cut.body_cut[1] for cut in cuts]
    lengths = list(map(len, bodies))
    shifts = [
        len(cut.title) + 1 if item.title else 0 for item, cut in zip(items, cuts, strict=True)
    ]
    flat = np.fromiter(chain.from_iterable(bodies), dtype=np.int64, count=sum(lengths))
    shifted: list[int] = (flat + np.repeat(shifts, lengths)).tolist()
    ends = list(accumulate(lengths))
    return [
        cut.title_cut[1] + shifted[end - size : end] if item.title else cut.body_cut[1]
        for item, cut, size, end in zip(items, cuts, lengths, ends, strict=True)
    ]


# Han text, a date, a run of punctuation between Han characters, ASCII words, a word made of
# cue words (意见建议): each path of the cut is taken once in ``Analyzer.warm_up``.
WARM_TEXT = (
    "学校食堂饭菜涨价，学生反映问题。2026-11-22 09:00 不行.今天 C++ 课程 3.5% 上涨，"
    "同学们提出意见建议。"
)


@dataclass(frozen=True)
class Item:
    """What the analysis needs of a post; everything but the text is optional."""

    text: str
    title: str = ""
    id: str | None = None  # needed for repost folding
    site: str = ""
    time: datetime | None = None
    replies: int = 0
    site_kind: str = ""  # "news" for a news site: pickup by the media


@dataclass(frozen=True, slots=True)
class ClusterInfo:
    id: str
    size: int
    sites: int
    is_new: bool


@dataclass(frozen=True, slots=True)
class Analysis:
    # Analyzer._analyze makes these by _made, column by column in this order of the fields.
    tokens: list[str]
    keywords: list[Keyword]
    sentiment: SentimentResult
    category: CategoryResult
    units: list[Route]
    watch_rules: list[RuleMatch]
    severity: Assessment
    cluster: ClusterInfo | None = None


@dataclass
class Analyzer:
    """Everything configured once per institution; ``analyze`` takes a batch (the sentiment
    model is fastest on batches)."""

    segmenter: Segmenter
    sentiment: SentimentModel
    rules: RuleSet | None = None
    router: Router | None = None
    categorizer: Categorizer = field(default_factory=default_categorizer)
    policy: SeverityPolicy = field(default_factory=SeverityPolicy)
    idf: IdfModel = field(default_factory=IdfModel)
    folder: Folder | None = None
    learn_idf: bool = True  # the IDF learns from every post analysed
    top_keywords: int = 8

    def __post_init__(self) -> None:
        self._plan_key: tuple[int, ...] = ()
        self._plan = _Plan(self.segmenter, self.rules, self.router, {})

    def plan(self) -> _Plan:
        """The segmenter every stage shares, and the rules and unit directory compiled with it.

        One cut serves watch rules, keywords, routing and the cue words of category and
        severity, so its dictionary holds the institution's words and the cue words (as the
        cue matchers' own dictionaries do: the same cues are found). Rebuilt if a part changes.
        """
        key = (id(self.segmenter), id(self.rules), id(self.router), id(self.categorizer))
        if key != self._plan_key:
            base = self.rules.segmenter if self.rules is not None else self.segmenter
            cues = self.categorizer.matcher.words | escalation_matcher().words
            if cues <= base.words:
                self._plan = _Plan(base, self.rules, self.router, {})
            else:
                segmenter = _with_words(base.words | cues, base.fast)
                rules = self.rules and RuleSet(
                    [r.spec for r in self.rules.rules.values()], segmenter, skip_invalid=True
                )
                router = self.router and Router(
                    self.router.units.values(), segmenter, self.router.default_unit
                )
                plain = {c: tuple(base.cut_normalized(c)) for c in cues - base.words}
                self._plan = _Plan(segmenter, rules, router, plain)
            self._plan_key = key
        return self._plan

    def warm_up(self) -> None:
        """Build now what the parts build on first use (the shared dictionary, the keyword
        prior, the cue matchers' own segmenter, caches) by analysing one throw-away post that
        teaches nothing: a crawl's first batch, or a forked worker's, then starts warm."""
        learn, folder = self.learn_idf, self.folder
        self.learn_idf, self.folder = False, None
        try:
            self.analyze([Item(text=WARM_TEXT, title="预热")])
        finally:
            self.learn_idf, self.folder = learn, folder
        # Cut only for a long word's cue sub-words, maybe never in the warm-up post: by name.
        for matcher in (self.categorizer.matcher, escalation_matcher()):
            matcher.segmenter.cut(WARM_TEXT)

    def analyze(self, items: Sequence[Item]) -> list[Analysis]:
        """Each stage runs over the whole batch (numpy or one C-level pass where it can); only
        folding's lookups and severity go post by post."""
        # A batch makes some 100,000 short-lived objects and no reference cycles: the cyclic
        # collector, run every 700 of them, would walk the batch's live lists and results
        # again and again (a tenth of the CPU). It is paused for the batch and collects what
        # is left once, after it.
        paused = gc.isenabled()
        gc.disable()
        try:
            return self._analyze(items)
        finally:
            if paused:
                gc.enable()

    def _analyze(self, items: Sequence[Item]) -> list[Analysis]:
        plan = self.plan()
        cuts = _cut_many(plan.segmenter, items)
        cut_words = [cut.title_cut[0] + cut.body_cut[0] for cut in cuts]
        # Keywords and sentiment read the plain words, each distinct one looked up once.
        cut_numbered = BatchWords(cut_words)  # the watch rules and routing read the cut's own
        numbered = cut_numbered.replace(plan.plain)
        words = numbered.posts
        # The model reuses the cut for its word features (it would cut each text again).
        moods = self.sentiment.predict([f"{i.title} {i.text}".strip() for i in items], numbered)
        keywords = keywords_many(numbered, self.idf, self.top_keywords, learn=self.learn_idf)
        # Category and escalation cues on the same cut, over "title\nbody" as the
        # categorizer reads a post (offsets of the body shifted past the title).
        norms, starts = cue_input(items, cuts)
        cues = self.categorizer.matcher.find_many(norms, cut_words, starts)
        escalations = escalation_matcher().find_many(norms, cut_words, starts)
        # The per-post stages, each over the whole batch: no per-post frame holding them all.
        # ``words``: the plain words (keywords, tokens); the cut itself (with its offsets) for
        # the cue words, the rules and the unit directory.
        matched: list[list[RuleMatch]] = [[] for _ in items]
        if plan.rules is not None:  # one scan of the batch finds the posts holding a rule word
            by_field: list[dict[FieldName, Cut]] = [
                {"title": cut.title_cut, "body": cut.body_cut} for cut in cuts
            ]
            # The scan reads each distinct word of the batch's cut once.
            matched = plan.rules.match_many(by_field, words=cut_numbered)
        categories = list(map(self.categorizer.classify_hits, cues))
        router = plan.router
        units = router.route_many(cut_numbered) if router is not None else [[] for _ in items]
        clusters, reach = self._fold(items, cuts)
        policy, news_kinds = self.policy, self.policy.news_kinds
        severities = []
        for item, mood, category, escalation, (size, sites, velocity) in zip(
            items, moods, categories, escalations, reach, strict=True
        ):
            negativity = 1.0 - mood.score
            check_negativity(negativity)  # as SeverityInput would
            severities.append(
                assess_signals(
                    policy,
                    negativity,
                    category.category,
                    escalation_words_of(escalation) if escalation else (),
                    max(0, item.replies),
                    size,
                    sites,
                    velocity,
                    item.site_kind in news_kinds,  # the post's site is its cluster's here
                )
            )
        return _made(
            Analysis, words, keywords, moods, categories, units, matched, severities, clusters
        )

    def _fold(
        self, items: Sequence[Item], cuts: Sequence[_Cut]
    ) -> tuple[list[ClusterInfo | None], list[tuple[int, int, float]]]:
        """Each post's cluster as the analysis reports it, and its reach for severity (the
        cluster's size, sites and posts per hour; 1, 1, 0 unfolded), in order."""
        folder = self.folder
        clusters: list[ClusterInfo | None] = [None] * len(items)
        reach: list[tuple[int, int, float]] = [(1, 1, 0.0)] * len(items)
        if folder is None:
            return clusters, reach
        folded = [n for n, item in enumerate(items) if item.id is not None]
        if not folded:
            return clusters, reach
        posts = [(items[n].id or "", items[n].site or "?", items[n].time or _now()) for n in folded]
        # The batch's repost signatures in one numpy pass, over the normalised text (NFKC, lower
        # case, Simplified): a repost in Traditional characters folds with its original.
        texts = [f"{cuts[n].title} {cuts[n].body}" for n in folded]
        signed = folder.sign_many(texts, normalized=True)
        ids, sizes, sites, new, per_hour = zip(*folder.add_many(posts, signed), strict=True)
        for n, info, size, held, velocity in zip(
            folded, _made(ClusterInfo, ids, sizes, sites, new), sizes, sites, per_hour, strict=True
        ):
            clusters[n] = info
            reach[n] = (size, max(1, held), velocity)
        return clusters, reach


def _now() -> datetime:
    return datetime.now(UTC)


def _made(cls: type[_Frozen], *columns: Sequence[object]) -> list[_Frozen]:
    """``cls(*row)`` for each row of ``columns`` (one per field, in order), for a frozen slots
    dataclass without checks: each field set by its slot's setter in one C-level pass. A
    frozen dataclass's __init__ sets each field through object.__setattr__ (2 µs an
    Analysis, 4 ms a bench run)."""
    made = list(map(object.__new__, repeat(cls, len(columns[0]))))
    for spec, column in zip(fields(cls), columns, strict=True):
        deque(map(getattr(cls, spec.name).__set__, made, column), 0)
    return made
