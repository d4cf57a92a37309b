"""Severity tier (一般 / 重大 / 特别重大, DOMAIN.md §2) from explicit signals, each of which
adds points and a human-readable reason; the thresholds and weights are a policy dataclass."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from functools import lru_cache
from types import MappingProxyType

from analysis.lexicons import CueMatcher, Hit, read_rows
from core.post import Category, Sentiment, Severity

Steps = tuple[tuple[float, float], ...]  # (at least this much, points), ascending

CATEGORY_NAMES: Mapping[Category, str] = MappingProxyType(
    {
        Category.APPEAL: "询问/质疑/诉求",
        Category.HYPE: "恶意传播/炒作",
        Category.DEFAMATION: "捏造/歪曲/诽谤/煽动",
        Category.SUGGESTION: "建议",
        Category.OTHER: "其他",
    }
)


@dataclass(frozen=True)
class SeverityPolicy:
    """Points per signal and the score each tier starts at; defaults follow DOMAIN.md §2:
    a local complaint is general, spreading or false information is major, wide spread or
    pickup by the media is especially major. An institution overrides any field."""

    names: Mapping[Severity, str] = field(
        default_factory=lambda: MappingProxyType(
            {
                Severity.GENERAL: "一般",
                Severity.MAJOR: "重大",
                Severity.ESPECIALLY_MAJOR: "特别重大",
            }
        )
    )
    major_at: float = 4.0
    especially_major_at: float = 9.0
    negativity_steps: Steps = ((0.6, 1.0), (0.9, 2.0))  # P(negative)
    category_points: Mapping[Category, float] = field(
        default_factory=lambda: MappingProxyType(
            {
                Category.DEFAMATION: 3.0,
                Category.HYPE: 2.0,
                Category.APPEAL: 1.0,
                Category.SUGGESTION: 0.0,
                Category.OTHER: 0.0,
            }
        )
    )
    reply_steps: Steps = ((20, 1.0), (200, 2.0), (1000, 3.0))
    cluster_steps: Steps = ((5, 1.0), (30, 2.0), (200, 3.0))  # reposts of the same text
    site_steps: Steps = ((3, 1.0), (5, 2.0), (10, 4.0))
    velocity_steps: Steps = ((10, 1.0), (50, 2.0), (200, 3.0))  # cluster posts per hour
    news_points: float = 4.0
    news_kinds: frozenset[str] = frozenset({"news", "media"})
    escalation_cap: float = 6.0  # many escalation words are one signal, not ten
    # Floors: a death or a mass incident is never "general"; the media plus wide spread is
    # the textbook especially-major case whatever the rest adds up to.
    escalation_floor_at: float = 4.0
    news_spread_sites: int = 5
    # "Widely spread" is what makes a matter especially major: one post, however alarming,
    # without replies, reposts, other sites or the media stays at most major.
    especially_major_needs_reach: bool = True

    def __post_init__(self) -> None:
        if not 0 < self.major_at <= self.especially_major_at:
            raise ValueError("severity policy: need 0 < major_at <= especially_major_at")
        missing = set(Severity) - set(self.names)
        if missing:
            raise ValueError(f"severity policy: names lacks {sorted(missing)}")
        for name in (
            "negativity_steps",
            "reply_steps",
            "cluster_steps",
            "site_steps",
            "velocity_steps",
        ):
            steps: Steps = getattr(self, name)
            if list(steps) != sorted(steps):
                raise ValueError(f"severity policy: {name} must be in ascending order")

    def tuned(
        self,
        *,
        names: Mapping[Severity, str] | None = None,
        major_at: float | None = None,
        especially_major_at: float | None = None,
    ) -> SeverityPolicy:
        """This policy with the institution's settings (core.settings Tiers) where given."""
        return replace(
            self,
            names=MappingProxyType(dict(names)) if names is not None else self.names,
            major_at=self.major_at if major_at is None else major_at,
            especially_major_at=(
                self.especially_major_at if especially_major_at is None else especially_major_at
            ),
        )


def check_negativity(negativity: float) -> None:
    """Refuses a negativity outside 0..1 (a probability): SeverityInput's check, and the
    analyzer's, which assesses without building one."""
    if not 0.0 <= negativity <= 1.0:
        raise ValueError(f"severity: negativity must be within 0..1, got {negativity}")


@dataclass(frozen=True)
class SeverityInput:
    """What is known about a post and the cluster it belongs to."""

    text: str = ""  # title and body: searched for escalation words
    negativity: float | None = None  # P(negative), 0..1, from the sentiment model
    sentiment: Sentiment | None = None  # the label, when no probability is known
    category: Category | None = None
    replies: int = 0
    cluster_size: int = 1
    sites: int = 1  # distinct sites the cluster is on
    news_pickup: bool = False
    site_kinds: frozenset[str] = frozenset()  # kinds of the sites the cluster is on
    velocity: float = 0.0  # cluster posts per hour, recently
    # The escalation words when already found (the analyzer matches them on its one cut);
    # None: they are searched for in ``text``.
    escalation: tuple[str, ...] | None = None

    def __post_init__(self) -> None:
        if self.negativity is not None:
            check_negativity(self.negativity)
        for name in ("replies", "cluster_size", "sites", "velocity"):
            if getattr(self, name) < 0:
                raise ValueError(f"severity: {name} must not be negative")


@dataclass(frozen=True)
class Assessment:
    tier: Severity
    name: str  # the institution's display name for the tier
    score: float
    reasons: tuple[str, ...]  # every signal that added points, strongest first


@lru_cache(maxsize=1)
def _escalation() -> tuple[CueMatcher, Mapping[str, tuple[float, str]]]:
    rows = read_rows("escalation.tsv", 3)
    table = {word: (float(points), gloss) for word, points, gloss in rows}
    return CueMatcher(table), MappingProxyType(table)


def escalation_matcher() -> CueMatcher:
    """The matcher of the shipped escalation words (escalation.tsv)."""
    return _escalation()[0]


def escalation_words(text: str) -> list[str]:
    """Escalation words in the text, each once, in order of appearance."""
    return escalation_words_of(escalation_matcher().find(text))


def escalation_words_of(hits: Iterable[Hit]) -> list[str]:
    """``escalation_words`` from the hits of ``escalation_matcher`` found already."""
    return list(dict.fromkeys(hit.cue for hit in sorted(hits, key=lambda h: h.start)))


def _step(value: float, steps: Steps) -> float:
    points = 0.0
    for at_least, step_points in steps:
        if not value >= at_least:  # ascending: no later step is reached either (nor by NaN)
            break
        points = step_points
    return points


@lru_cache(maxsize=16)
def _thresholds(major_at: float, especially_at: float, major: str, especially: str) -> str:
    """The end of the score reason: the same for every post under one policy."""
    return f" (≥{major_at:g} {major}, ≥{especially_at:g} {especially})"


def assess(signals: SeverityInput, policy: SeverityPolicy | None = None) -> Assessment:
    """The tier and the signals that set it. Pure: the same input gives the same answer."""
    negativity = signals.negativity
    if negativity is None and signals.sentiment is Sentiment.NEGATIVE:
        negativity = 1.0
    if signals.escalation is not None:
        words: Sequence[str] = signals.escalation
    else:
        words = escalation_words(signals.text) if signals.text else ()
    policy = policy or SeverityPolicy()
    news = signals.news_pickup or bool(signals.site_kinds & policy.news_kinds)
    return assess_signals(
        policy,
        negativity,
        signals.category,
        words,
        signals.replies,
        signals.cluster_size,
        signals.sites,
        signals.velocity,
        news,
    )


def _first(pair: tuple[float, str]) -> float:
    return -pair[0]


def assess_signals(
    policy: SeverityPolicy,
    negativity: float | None,
    category: Category | None,
    escalations: Sequence[str],
    replies: int,
    cluster_size: int,
    sites: int,
    velocity: float,
    news: bool,
) -> Assessment:
    """``assess`` of signals already checked as SeverityInput checks them (the analyzer's
    path, per post: no SeverityInput to build, each step looked up once)."""
    found: list[tuple[float, str]] = []  # (points, reason)
    if negativity is not None and (points := _step(negativity, policy.negativity_steps)):
        found.append((points, f"负面情绪 {negativity:.2f}"))
    if category is not None and (points := policy.category_points.get(category, 0)):
        found.append((points, f"分类: {CATEGORY_NAMES[category]}"))
    escalation = 0.0
    if escalations:
        table = _escalation()[1]
        escalation = min(policy.escalation_cap, sum(table[w][0] for w in escalations))
        found.append((escalation, "升级词: " + "、".join(escalations)))
    by_replies = _step(replies, policy.reply_steps)
    by_cluster = _step(cluster_size, policy.cluster_steps)
    by_sites = _step(sites, policy.site_steps)
    by_velocity = _step(velocity, policy.velocity_steps)
    if by_replies:
        found.append((by_replies, f"回复: {replies} 条"))
    if by_cluster:
        found.append((by_cluster, f"转载: {cluster_size} 篇相似帖"))
    if by_sites:
        found.append((by_sites, f"传播: {sites} 个网站"))
    if by_velocity:
        found.append((by_velocity, f"速度: {velocity:g} 篇/小时"))
    if news:
        found.append((policy.news_points, "新闻网站转载"))

    if len(found) > 1:
        found.sort(key=_first)
    score = sum(points for points, _ in found)
    reasons = [f"{reason} (+{points:g})" for points, reason in found]
    names = policy.names
    tier = Severity.GENERAL
    if score >= policy.especially_major_at:
        tier = Severity.ESPECIALLY_MAJOR
    elif score >= policy.major_at:
        tier = Severity.MAJOR
    if news and sites >= policy.news_spread_sites and tier is not Severity.ESPECIALLY_MAJOR:
        tier = Severity.ESPECIALLY_MAJOR
        reasons.append(f"新闻网站转载且传播到 {sites} 个网站: 至少{names[tier]}")
    reach = news or bool(by_replies or by_cluster or by_sites or by_velocity)
    if tier is Severity.ESPECIALLY_MAJOR and policy.especially_major_needs_reach and not reach:
        tier = Severity.MAJOR
        reasons.append(f"未见传播: 最高{names[tier]}")
    if escalation >= policy.escalation_floor_at and tier is Severity.GENERAL:
        tier = Severity.MAJOR
        reasons.append(f"严重升级词: 至少{names[tier]}")
    if not reasons:
        reasons.append("无升级信号")
    reasons.append(
        f"得分 {score:g}"
        + _thresholds(
            policy.major_at,
            policy.especially_major_at,
            names[Severity.MAJOR],
            names[Severity.ESPECIALLY_MAJOR],
        )
    )
    return Assessment(tier, names[tier], score, tuple(reasons))
