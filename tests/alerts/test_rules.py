"""Rule kinds, table-driven (ALERTING.md R4): each kind over a window of posts and its history."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from pydantic import TypeAdapter

from alerts.rules import RULE_KINDS, PostFilter, RuleError, Seen, Window, evaluator_for
from core.post import Post, Sentiment, Severity
from core.settings_rules import ALERT_KINDS, AlertRule

END = datetime(2026, 11, 18, 4, 0, tzinfo=UTC)
RULE = TypeAdapter(AlertRule)


def post(n: int, minutes_ago: float, **fields: Any) -> Post:
    fields.setdefault("watch_rules", ["canteen"])
    fields.setdefault("title", f"食堂帖子{n}")
    site = fields.pop("site", "bbs.example.cn")
    return Post.create(
        url=f"https://{site}/t/{n}",
        source=fields.pop("source", "bbs"),
        fetched=END - timedelta(minutes=minutes_ago),
        **fields,
    )


@dataclass
class Case:
    name: str
    rule: dict[str, Any]
    new: list[Post]
    history: list[Post] = field(default_factory=list)
    expect: list[str] = field(default_factory=list)  # alert keys
    watching: timedelta = timedelta(days=60)
    last_by_source: dict[str, float] = field(default_factory=dict)  # minutes ago
    sources: list[str] = field(default_factory=list)


def evaluate(case: Case) -> list[Any]:
    rule = RULE.validate_python({"id": "r", **case.rule})
    ev = evaluator_for(rule)
    new = [p for p in case.new if ev.filter(p)]
    recent = [Seen.of(p, p.fetched) for p in case.history + case.new if ev.filter(p)]
    window = Window(
        start=END - timedelta(minutes=1),
        end=END,
        posts=new,
        recent=recent,
        watch_start=END - case.watching,
        last_by_source={s: END - timedelta(minutes=m) for s, m in case.last_by_source.items()},
        sources=case.sources,
    )
    return ev.evaluate(window)


MATCH = {"kind": "match", "watch_rules": ["canteen"]}
NEG = Sentiment.NEGATIVE

CASES = [
    # match
    Case("match: one post, one alert keyed by the post", MATCH, [post(1, 0.5)], expect=["post:"]),
    Case("match: other watch rule ignored", MATCH, [post(1, 0.5, watch_rules=["x"])]),
    Case(
        "match: filters by sentiment",
        {**MATCH, "filters": {"sentiments": ["negative"]}},
        [post(1, 0.5, sentiment=NEG), post(2, 0.5, sentiment=Sentiment.POSITIVE)],
        expect=["post:"],
    ),
    Case(
        "match: aggregation by cluster folds a cluster's posts into one alert",
        {**MATCH, "aggregation": {"key": "cluster"}},
        [post(1, 0.5, cluster="c1"), post(2, 0.4, cluster="c1"), post(3, 0.3, cluster="c2")],
        expect=["cluster:c1", "cluster:c2"],
    ),
    Case(
        "match: query filter",
        {**MATCH, "filters": {"query": "食堂 AND NOT 表扬"}},
        [post(1, 0.5, text="食堂吃出虫子"), post(2, 0.5, text="表扬食堂")],
        expect=["post:"],
    ),
    Case(
        "match: min_severity",
        {**MATCH, "filters": {"min_severity": "major"}},
        [post(1, 0.5, severity=Severity.GENERAL), post(2, 0.5, severity=Severity.MAJOR)],
        expect=["post:"],
    ),
    # frequency
    Case(
        "frequency: threshold reached within the window",
        {"kind": "frequency", "threshold": 3, "window": "30m"},
        [post(3, 0.5)],
        history=[post(1, 20), post(2, 10)],
        expect=["rule:r"],
    ),
    Case(
        "frequency: older posts fall out of the window",
        {"kind": "frequency", "threshold": 3, "window": "30m"},
        [post(3, 0.5)],
        history=[post(1, 40), post(2, 10)],
    ),
    Case(
        "frequency: no new post, no alert (already told)",
        {"kind": "frequency", "threshold": 2, "window": "30m"},
        [],
        history=[post(1, 20), post(2, 10)],
    ),
    # spike
    Case(
        "spike: up by ratio and over min_count",
        {"kind": "spike", "ratio": 3, "window": "1h", "min_count": 4},
        [post(i, 1 + i) for i in range(6)],
        history=[post(100, 90)],
        expect=["spike:up"],
    ),
    Case(
        "spike: under min_count is noise",
        {"kind": "spike", "ratio": 3, "window": "1h", "min_count": 10},
        [post(i, 1 + i) for i in range(6)],
    ),
    Case(
        "spike: not enough over the previous window",
        {"kind": "spike", "ratio": 3, "window": "1h", "min_count": 4},
        [post(i, 1 + i) for i in range(6)],
        history=[post(100 + i, 70 + i) for i in range(3)],
    ),
    Case(
        "spike: no baseline before watching began",
        {"kind": "spike", "ratio": 3, "window": "1h", "min_count": 4},
        [post(i, 1 + i) for i in range(6)],
        watching=timedelta(minutes=90),
    ),
    Case(
        "spike: down",
        {"kind": "spike", "ratio": 3, "window": "1h", "min_count": 4, "direction": "down"},
        [post(1, 1)],
        history=[post(100 + i, 70 + i) for i in range(6)],
        expect=["spike:down"],
    ),
    # spread
    Case(
        "spread: cluster reaches min_sites",
        {"kind": "spread", "min_sites": 3},
        [post(3, 0.5, cluster="c1", site="c.example.cn")],
        history=[
            post(1, 30, cluster="c1", site="a.example.cn"),
            post(2, 20, cluster="c1", site="b.example.cn"),
        ],
        expect=["cluster:c1"],
    ),
    Case(
        "spread: one site, below min_sites",
        {"kind": "spread", "min_sites": 3},
        [post(3, 0.5, cluster="c1")],
        history=[post(1, 30, cluster="c1"), post(2, 20, cluster="c1")],
    ),
    Case(
        "spread: min_posts reached",
        {"kind": "spread", "min_posts": 3},
        [post(3, 0.5, cluster="c1")],
        history=[post(1, 30, cluster="c1"), post(2, 20, cluster="c1")],
        expect=["cluster:c1"],
    ),
    Case(
        "spread: members outside the rule's window do not count",
        {"kind": "spread", "min_posts": 3, "window": "15m"},
        [post(3, 0.5, cluster="c1")],
        history=[post(1, 30, cluster="c1"), post(2, 20, cluster="c1")],
    ),
    # new_term
    Case(
        "new_term: a word never seen before, often enough",
        {"kind": "new_term", "window": "1h", "history": "1d", "min_count": 3},
        [post(i, 5 + i, keywords=["投毒", "食堂"]) for i in range(3)],
        history=[post(100 + i, 300 + i, keywords=["食堂"]) for i in range(5)],
        expect=["term:投毒"],
    ),
    Case(
        "new_term: a word in the history is not new",
        {"kind": "new_term", "window": "1h", "history": "1d", "min_count": 3},
        [post(i, 5 + i, keywords=["食堂"]) for i in range(3)],
        history=[post(100 + i, 300 + i, keywords=["食堂"]) for i in range(5)],
    ),
    Case(
        "new_term: not often enough",
        {"kind": "new_term", "window": "1h", "history": "1d", "min_count": 5},
        [post(i, 5 + i, keywords=["投毒"]) for i in range(3)],
    ),
    # flatline
    Case(
        "flatline: a source silent longer than max_silence",
        {"kind": "flatline", "sources": ["bbs", "news"], "max_silence": "6h"},
        [],
        last_by_source={"bbs": 400, "news": 30},
        expect=["source:bbs"],
    ),
    Case(
        "flatline: never seen since watching began long ago",
        {"kind": "flatline", "max_silence": "6h"},
        [],
        sources=["feed"],
        expect=["source:feed"],
    ),
    Case(
        "flatline: never seen, but watching only began",
        {"kind": "flatline", "max_silence": "6h"},
        [],
        sources=["feed"],
        watching=timedelta(hours=1),
    ),
]


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_rule_kinds(case: Case) -> None:
    alerts = evaluate(case)
    keys = sorted(a.key for a in alerts)
    assert len(keys) == len(case.expect), keys
    for key, prefix in zip(keys, sorted(case.expect), strict=True):
        assert key.startswith(prefix)
    for alert in alerts:
        assert alert.rule == "r" and alert.title


def test_every_kind_is_registered_and_tested() -> None:
    assert set(RULE_KINDS) == set(ALERT_KINDS)
    tested = {c.rule["kind"] for c in CASES}
    assert tested == set(ALERT_KINDS)


def test_alert_carries_the_cluster_and_severity_floor() -> None:
    rule = {**MATCH, "aggregation": {"key": "cluster"}, "severity_floor": "major"}
    posts = [
        post(1, 0.5, cluster="c1", site="a.example.cn", keywords=["虫子"]),
        post(2, 0.4, cluster="c1", site="b.example.cn", keywords=["虫子"]),
    ]
    (alert,) = evaluate(Case("x", rule, posts))
    assert alert.cluster_size == 2
    assert alert.sites == ["a.example.cn", "b.example.cn"]
    assert alert.severity == Severity.MAJOR
    assert alert.keywords == ["虫子"]
    assert alert.link == posts[1].url


def test_severity_is_the_highest_of_the_posts() -> None:
    posts = [
        post(1, 0.5, cluster="c", severity=Severity.ESPECIALLY_MAJOR),
        post(2, 0.4, cluster="c"),
    ]
    rule = {**MATCH, "aggregation": {"key": "cluster"}, "severity_floor": "major"}
    (alert,) = evaluate(Case("x", rule, posts))
    assert alert.severity == Severity.ESPECIALLY_MAJOR


def test_a_bad_query_filter_is_refused_with_its_rule() -> None:
    rule = RULE.validate_python({"id": "bad", **MATCH, "filters": {"query": "(食堂"}})
    with pytest.raises(RuleError, match=r"alert rule bad: filters\.query"):
        PostFilter(rule)
