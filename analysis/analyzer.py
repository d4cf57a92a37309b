"""One post's whole analysis: words, keywords, watch rules, sentiment, category, units, repost
cluster and severity, each part's "why" kept. Composes the parts; holds no I/O."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from operator import itemgetter

from analysis.category import Categorizer, CategoryResult, default_categorizer
from analysis.folding import ClusterAssignment, Folder, Signed
from analysis.keywords import IdfModel, Keyword, keywords
from analysis.routing import Route, Router
from analysis.segment import Segmenter
from analysis.sentiment import SentimentModel, SentimentResult
from analysis.severity import Assessment, SeverityInput, SeverityPolicy, assess
from analysis.watch import RuleMatch, RuleSet

_WORD = itemgetter(0)  # a Token's word, fetched in C


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


@dataclass(frozen=True)
class ClusterInfo:
    id: str
    size: int
    sites: int
    is_new: bool


@dataclass(frozen=True)
class Analysis:
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

    def analyze(self, items: Sequence[Item]) -> list[Analysis]:
        moods = self.sentiment.predict([f"{i.title} {i.text}".strip() for i in items])
        signed: list[Signed | None] = [None] * len(items)
        if self.folder is not None:  # the batch's repost signatures in one numpy pass
            folded = [n for n, item in enumerate(items) if item.id is not None]
            texts = [f"{items[n].title} {items[n].text}" for n in folded]
            for n, one in zip(folded, self.folder.sign_many(texts), strict=True):
                signed[n] = one
        return [
            self._one(item, mood, one) for item, mood, one in zip(items, moods, signed, strict=True)
        ]

    def _one(self, item: Item, mood: SentimentResult, signed: Signed | None = None) -> Analysis:
        if self.rules is not None:
            post = self.rules.tokenize(item.title, item.text)
            words = [word for tokens in post.fields.values() for word in map(_WORD, tokens)]
            matched = self.rules.match(post)
        else:
            words = self.segmenter.cut(f"{item.title}\n{item.text}")
            matched = []
        if self.learn_idf:
            self.idf.update(set(words))
        category = self.categorizer.classify(item.text, item.title)
        units = self.router.route(words) if self.router is not None else []
        cluster = self._fold(item, signed)
        folded = self.folder.cluster(cluster.id) if self.folder and cluster else None
        now = item.time or datetime.now(UTC)
        severity = assess(
            SeverityInput(
                text=f"{item.title}\n{item.text}",
                negativity=1.0 - mood.score,
                sentiment=mood.label,
                category=category.category,
                replies=max(0, item.replies),
                cluster_size=folded.size if folded else 1,
                sites=max(1, len(folded.sites)) if folded else 1,
                news_pickup=item.site_kind in self.policy.news_kinds,
                site_kinds=frozenset({item.site_kind} if item.site_kind else ()),
                velocity=folded.posts_per_hour(now) if folded else 0.0,
            ),
            self.policy,
        )
        return Analysis(
            tokens=words,
            keywords=keywords(words, self.idf, self.top_keywords),
            sentiment=mood,
            category=category,
            units=units,
            watch_rules=matched,
            severity=severity,
            cluster=cluster,
        )

    def _fold(self, item: Item, signed: Signed | None = None) -> ClusterInfo | None:
        if self.folder is None or item.id is None:
            return None
        assignment: ClusterAssignment = self.folder.add(
            item.id,
            f"{item.title} {item.text}",
            item.site or "?",
            item.time or datetime.now(UTC),
            signed,
        )
        info = self.folder.cluster(assignment.cluster_id)
        sites = len(info.sites) if info else 1
        return ClusterInfo(assignment.cluster_id, assignment.size, sites, assignment.is_new)
