"""The alert-rule kinds (ALERTING.md R4): one explicit registry, kind -> evaluator, each turning
a window of new posts (and the rule's recent history) into keyed alerts. Pure: no I/O."""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import ClassVar

from alerts.models import SEVERITY_RANK, Alert
from analysis.keywords import hot_terms
from core.post import Category, Post, Sentiment, Severity
from core.settings_rules import (
    AlertRule,
    FlatlineRule,
    FrequencyRule,
    MatchRule,
    NewTermRule,
    SpikeRule,
    SpreadRule,
)
from store.query import And, Node, Or, QueryError, Term, parse_query

# How far back a spread rule without its own window looks for the rest of a cluster.
SPREAD_LOOKBACK = timedelta(days=7)


class RuleError(ValueError):
    """A rule the engine cannot evaluate as written; the message says which and why."""


@dataclass(frozen=True)
class Seen:
    """A post a rule has counted, as the engine keeps it: ``at`` is when it was indexed."""

    post_id: str
    at: datetime
    source: str
    site: str
    cluster: str | None = None
    unit: str | None = None
    severity: Severity | None = None
    title: str = ""
    url: str = ""
    keywords: tuple[str, ...] = ()
    # What the webhook tells of the post (its mood, kind, why its tier, the stored page); rows
    # counted before these were kept load with the defaults.
    sentiment: Sentiment | None = None
    category: Category | None = None
    severity_reasons: tuple[str, ...] = ()
    evidence: str | None = None

    @classmethod
    def of(cls, post: Post, at: datetime) -> Seen:
        return cls(
            post_id=post.id,
            at=at,
            source=post.source,
            site=post.site,
            cluster=post.cluster,
            unit=post.units[0] if post.units else None,
            severity=post.severity,
            title=post.title or post.text[:40],
            url=post.url,
            keywords=tuple(post.keywords),
            sentiment=post.sentiment,
            category=post.category,
            severity_reasons=tuple(post.severity_reasons),
            evidence=post.evidence,
        )


@dataclass(frozen=True)
class Window:
    """One evaluation: the new matching ``posts`` indexed in (start, end], ``recent`` (the
    rule's counted posts within its lookback, these included), when watching began, and when
    each source last produced a post (for flatline)."""

    start: datetime
    end: datetime
    posts: Sequence[Post]
    recent: Sequence[Seen]
    watch_start: datetime
    last_by_source: Mapping[str, datetime] = field(default_factory=dict)
    sources: Sequence[str] = ()  # the enabled sources


def _max_severity(values: Iterable[Severity | None]) -> Severity:
    found = [v for v in values if v is not None]
    return max(found, key=SEVERITY_RANK.__getitem__) if found else Severity.GENERAL


def _floor(rule: AlertRule, severity: Severity) -> Severity:
    if rule.severity_floor and SEVERITY_RANK[rule.severity_floor] > SEVERITY_RANK[severity]:
        return rule.severity_floor
    return severity


def _query_matches(node: Node, text: str) -> bool:
    if isinstance(node, Term):
        return all(token in text for token in node.tokens)
    if isinstance(node, And):
        return all(_query_matches(item, text) for item in node.items)
    if isinstance(node, Or):
        return any(_query_matches(item, text) for item in node.items)
    return not _query_matches(node.item, text)


def _tokens(text: str) -> list[str]:
    # Filters match words as substrings of the post (no segmentation needed for a filter).
    return [text.lower()] if text.strip() else []


class PostFilter:
    """Whether a post is one the rule watches: its watch rules (any) and every filter."""

    def __init__(self, rule: AlertRule) -> None:
        self.rule = rule
        self.query: Node | None = None
        if rule.filters.query:
            try:
                self.query = parse_query(rule.filters.query, _tokens)
            except QueryError as exc:
                raise RuleError(f"alert rule {rule.id}: filters.query: {exc}") from None

    def __call__(self, post: Post) -> bool:
        rule, f = self.rule, self.rule.filters
        if rule.watch_rules and not set(rule.watch_rules) & set(post.watch_rules):
            return False
        if f.sources and post.source not in f.sources:
            return False
        if f.sites and post.site not in f.sites:
            return False
        if f.units and not set(f.units) & set(post.units):
            return False
        if f.sentiments and post.sentiment not in f.sentiments:
            return False
        if f.categories and post.category not in f.categories:
            return False
        if f.min_severity is not None and (
            post.severity is None or SEVERITY_RANK[post.severity] < SEVERITY_RANK[f.min_severity]
        ):
            return False
        if self.query is not None:
            return _query_matches(self.query, f"{post.title}\n{post.text}".lower())
        return True


def group_key(rule: AlertRule, seen: Seen) -> str:
    """The identity key of a post under the rule's aggregation (D1/D2); a post by default."""
    by = rule.aggregation.key if rule.aggregation else "post"
    value = {
        "rule": rule.id,
        "cluster": seen.cluster or seen.post_id,
        "unit": seen.unit or "-",
        "source": seen.source,
        "site": seen.site,
        "post": seen.post_id,
    }.get(by)
    return f"{by}:{value or rule.id}"


def alert_from(
    rule: AlertRule, key: str, members: Sequence[Seen], now: datetime, title: str
) -> Alert:
    """An alert about ``members`` (newest last): link and unit of the newest."""
    newest = members[-1]
    keywords = [w for w, _ in Counter(w for s in members for w in s.keywords).most_common(8)]
    severity = _max_severity(s.severity for s in members)
    # The post that set the tier says why; the newest says what is being said now.
    gravest = next(s for s in reversed(members) if (s.severity or Severity.GENERAL) == severity)
    reasons = list(gravest.severity_reasons)
    if rule.severity_floor and _floor(rule, severity) != severity:
        reasons.append(f"规则 {rule.id} 的最低级别")
    return Alert(
        rule=rule.id,
        key=key,
        severity=_floor(rule, severity),
        sentiment=newest.sentiment,
        category=gravest.category,
        severity_reasons=reasons,
        evidence=newest.evidence,
        title=title,
        excerpt="；".join(dict.fromkeys(s.title for s in members[-5:] if s.title))[:300],
        link=newest.url or None,
        keywords=keywords,
        unit=newest.unit,
        cluster_size=len(members),
        sites=sorted({s.site for s in members}),
        detected_at=now,
    )


class Evaluator:
    """Turns one window into alerts for one rule; ``lookback`` says how much history it needs."""

    kind: ClassVar[str]
    # Kinds that can only fire on a new post skip a window without one (and its history read).
    needs_new_posts: ClassVar[bool] = True

    def __init__(self, rule: AlertRule) -> None:
        self.rule = rule
        self.filter = PostFilter(rule)

    def lookback(self) -> timedelta:
        return timedelta(0)

    def evaluate(self, window: Window) -> list[Alert]:
        raise NotImplementedError

    def _in(self, window: Window, start: datetime, end: datetime) -> list[Seen]:
        return sorted((s for s in window.recent if start < s.at <= end), key=lambda s: s.at)


class MatchEvaluator(Evaluator):
    kind = "match"
    rule: MatchRule

    def evaluate(self, window: Window) -> list[Alert]:
        groups: dict[str, list[Seen]] = defaultdict(list)
        for post in window.posts:
            seen = Seen.of(post, window.end)
            groups[group_key(self.rule, seen)].append(seen)
        name = self.rule.name or self.rule.id
        return [
            alert_from(self.rule, key, members, window.end, f"{name}：{members[-1].title}")
            for key, members in groups.items()
        ]


class FrequencyEvaluator(Evaluator):
    kind = "frequency"
    rule: FrequencyRule

    def lookback(self) -> timedelta:
        return self.rule.window

    def evaluate(self, window: Window) -> list[Alert]:
        if not window.posts:
            return []
        groups: dict[str, list[Seen]] = defaultdict(list)
        for seen in self._in(window, window.end - self.rule.window, window.end):
            key = group_key(self.rule, seen) if self.rule.aggregation else f"rule:{self.rule.id}"
            groups[key].append(seen)
        name = self.rule.name or self.rule.id
        return [
            alert_from(
                self.rule,
                key,
                members,
                window.end,
                f"{name}：{len(members)} 条相关帖（{_span(self.rule.window)}内）",
            )
            for key, members in groups.items()
            if len(members) >= self.rule.threshold
        ]


class SpikeEvaluator(Evaluator):
    kind = "spike"
    needs_new_posts = False  # a drop shows as fewer posts
    rule: SpikeRule

    def lookback(self) -> timedelta:
        return 2 * self.rule.window

    def evaluate(self, window: Window) -> list[Alert]:
        w, end = self.rule.window, window.end
        if end - 2 * w < window.watch_start:
            return []  # the previous window was not watched: no baseline to compare with
        now = self._in(window, end - w, end)
        before = self._in(window, end - 2 * w, end - w)
        name, alerts = self.rule.name or self.rule.id, []
        up = len(now) >= self.rule.min_count and len(now) >= self.rule.ratio * len(before)
        down = len(before) >= self.rule.min_count and len(before) >= self.rule.ratio * len(now)
        if up and self.rule.direction in ("up", "both"):
            title = f"{name}：{_span(w)}内 {len(now)} 条，此前 {len(before)} 条（突增）"
            alerts.append(alert_from(self.rule, "spike:up", now, end, title))
        if down and self.rule.direction in ("down", "both") and before:
            title = f"{name}：{_span(w)}内 {len(now)} 条，此前 {len(before)} 条（骤降）"
            alerts.append(alert_from(self.rule, "spike:down", before, end, title))
        return alerts


class SpreadEvaluator(Evaluator):
    kind = "spread"
    rule: SpreadRule

    def lookback(self) -> timedelta:
        return self.rule.window or SPREAD_LOOKBACK

    def evaluate(self, window: Window) -> list[Alert]:
        clusters = {p.cluster for p in window.posts if p.cluster}
        recent = self._in(window, window.end - self.lookback(), window.end)
        name, alerts = self.rule.name or self.rule.id, []
        for cluster in sorted(clusters):
            members = [s for s in recent if s.cluster == cluster]
            sites = {s.site for s in members}
            by_sites = self.rule.min_sites is not None and len(sites) >= self.rule.min_sites
            by_posts = self.rule.min_posts is not None and len(members) >= self.rule.min_posts
            if by_sites or by_posts:
                title = f"{name}：{members[-1].title}（{len(members)} 帖 / {len(sites)} 站）"
                alerts.append(
                    alert_from(self.rule, f"cluster:{cluster}", members, window.end, title)
                )
        return alerts


class NewTermEvaluator(Evaluator):
    kind = "new_term"
    rule: NewTermRule

    def lookback(self) -> timedelta:
        return self.rule.window + self.rule.history

    def evaluate(self, window: Window) -> list[Alert]:
        w, end = self.rule.window, window.end
        if not window.posts or end - 2 * w < window.watch_start:
            return []  # without at least one window of history every word looks new
        now = self._in(window, end - w, end)
        before = self._in(window, end - w - self.rule.history, end - w)
        current = Counter(k for s in now for k in set(s.keywords))
        baseline = Counter(k for s in before for k in set(s.keywords))
        fresh = {k for p in window.posts for k in p.keywords}
        hot = hot_terms(
            current,
            baseline,
            current_docs=max(len(now), 1),
            baseline_docs=len(before),
            min_count=self.rule.min_count,
        )
        name, alerts = self.rule.name or self.rule.id, []
        for term in hot:
            if not term.new or term.word not in fresh:
                continue
            members = [s for s in now if term.word in s.keywords]
            title = f"{name}：「{term.word}」{_span(w)}内出现 {term.count} 次"
            alert = alert_from(self.rule, f"term:{term.word}", members, end, title)
            alerts.append(alert.model_copy(update={"keywords": [term.word]}))
        return alerts


class FlatlineEvaluator(Evaluator):
    kind = "flatline"
    needs_new_posts = False
    rule: FlatlineRule

    def evaluate(self, window: Window) -> list[Alert]:
        alerts = []
        for source in self.rule.sources or window.sources:
            last = window.last_by_source.get(source, window.watch_start)
            silence = window.end - last
            if silence < self.rule.max_silence:
                continue
            alerts.append(
                Alert(
                    rule=self.rule.id,
                    key=f"source:{source}",
                    severity=_floor(self.rule, Severity.GENERAL),
                    title=f"采集中断：{source} 已 {_span(silence)}没有新帖",
                    excerpt=f"最近一帖入库于 {last.isoformat()}"
                    if source in window.last_by_source
                    else "自开始监测以来没有收到任何帖子",
                    detected_at=window.end,
                )
            )
        return alerts


def _span(delta: timedelta) -> str:
    minutes = int(delta.total_seconds() // 60)
    if minutes % (24 * 60) == 0 and minutes:
        return f"{minutes // (24 * 60)} 天"
    if minutes % 60 == 0 and minutes:
        return f"{minutes // 60} 小时"
    if minutes >= 60:
        return f"{minutes // 60} 小时 {minutes % 60} 分钟"
    return f"{minutes} 分钟"


# The registry: one explicit dict, as ElastAlert2's loaders.py. A new kind is a class + a line.
RULE_KINDS: dict[str, type[Evaluator]] = {
    "match": MatchEvaluator,
    "frequency": FrequencyEvaluator,
    "spike": SpikeEvaluator,
    "spread": SpreadEvaluator,
    "new_term": NewTermEvaluator,
    "flatline": FlatlineEvaluator,
}


def evaluator_for(rule: AlertRule) -> Evaluator:
    """The evaluator of ``rule``'s kind; RuleError for a kind or filter it cannot run."""
    cls = RULE_KINDS.get(rule.kind)
    if cls is None:
        raise RuleError(f"alert rule {rule.id}: unknown kind {rule.kind!r}")
    return cls(rule)
