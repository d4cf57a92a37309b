"""Dry-run one alert rule over stored posts (ALERTING.md T1): the windows it would have run,
the alerts it would have raised (aggregated by key), those realert would hold. Writes nothing."""

from __future__ import annotations

import bisect
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from alerts.models import Alert
from alerts.notify import merge
from alerts.rules import Seen, Window, evaluator_for
from core.post import Post
from core.settings_rules import AlertRule
from store.base import PostIndex

MAX_WINDOWS = 20_000  # a guard against a one-minute step over a year


class DryRunError(ValueError):
    """The dry run cannot be done as asked; the message says what to change."""


@dataclass
class DryRun:
    rule: str
    since: datetime
    until: datetime
    step: timedelta
    windows: int = 0
    posts: int = 0  # posts the rule's watch rules and filters let through
    alerts: list[Alert] = field(default_factory=list)
    suppressed: list[Alert] = field(default_factory=list)  # same rule + key within realert


def read_all(index: PostIndex, page: int = 500) -> list[Post]:
    """Every post in the index, in indexing order."""
    posts: list[Post] = []
    cursor: str | None = None
    while True:
        changes = index.changes_since(cursor, limit=page)
        posts += changes.posts
        if changes.cursor == cursor or len(changes.posts) < page:
            return posts
        cursor = changes.cursor


def dry_run(
    rule: AlertRule,
    posts: Sequence[Post],
    since: datetime,
    until: datetime,
    step: timedelta = timedelta(minutes=10),
    sources: Sequence[str] = (),
) -> DryRun:
    """Evaluate ``rule`` in windows of ``step`` from ``since`` to ``until``, a post's fetch time
    standing in for its indexing time. Posts before ``since`` are history only."""
    if until <= since:
        raise DryRunError("--until must be after --since")
    if step <= timedelta(0):
        raise DryRunError("--step must be positive")
    if (until - since) / step > MAX_WINDOWS:
        raise DryRunError(f"more than {MAX_WINDOWS} windows: give a larger --step")
    evaluator = evaluator_for(rule)
    kept = sorted((p for p in posts if evaluator.filter(p)), key=lambda p: p.fetched)
    seen = [Seen.of(p, p.fetched) for p in kept]
    times = [s.at for s in seen]
    last_by_source: dict[str, datetime] = {}
    all_posts = sorted(posts, key=lambda p: p.fetched)
    result = DryRun(rule.id, since, until, step)
    last_sent: dict[str, datetime] = {}
    pending: dict[str, tuple[datetime, Alert]] = {}  # aggregation by key (D2)
    start, next_post = since, 0
    while start < until:
        end = min(start + step, until)
        lo, hi = bisect.bisect_right(times, start), bisect.bisect_right(times, end)
        while next_post < len(all_posts) and all_posts[next_post].fetched <= end:
            post = all_posts[next_post]
            last_by_source[post.source] = post.fetched
            next_post += 1
        back = bisect.bisect_right(times, end - evaluator.lookback())
        window = Window(
            start=start,
            end=end,
            posts=kept[lo:hi],
            recent=seen[min(back, lo) : hi],
            watch_start=since,
            last_by_source=dict(last_by_source),
            sources=sources,
        )
        result.windows += 1
        result.posts += hi - lo
        for alert in evaluator.evaluate(window):
            if rule.aggregation is None:
                _send(rule, alert, end, last_sent, result)
            elif alert.key in pending:
                pending[alert.key] = (pending[alert.key][0], merge(pending[alert.key][1], alert))
            else:
                pending[alert.key] = (end + rule.aggregation.window, alert)
        for key, (due, alert) in sorted(pending.items(), key=lambda kv: kv[1][0]):
            if due <= end or end >= until:  # the aggregation window closed (or the run ends)
                del pending[key]
                _send(rule, alert, end, last_sent, result)
        start = end
    return result


def _send(
    rule: AlertRule, alert: Alert, now: datetime, last_sent: dict[str, datetime], result: DryRun
) -> None:
    previous = last_sent.get(alert.key)
    if previous is not None and now - previous < rule.realert:
        result.suppressed.append(alert)
        return
    last_sent[alert.key] = now
    result.alerts.append(alert)
