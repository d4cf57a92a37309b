"""The alert-rule engine: runs every rule over the posts indexed since its last window (by
indexing order, `changes_since`), in contiguous windows kept in the state database, and hands
what they raise to alerts/notify.py (silences, realert, aggregation, quiet hours, storm cap)."""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, fields
from datetime import UTC, datetime, timedelta
from typing import Any

from alerts.delivery import Outbox
from alerts.notify import Notifier, NotifyCounts
from alerts.rules import Evaluator, RuleError, Seen, Window, evaluator_for
from alerts.silences import SilenceBook
from core.post import Category, Post, Sentiment, Severity
from core.settings import Settings
from core.settings_rules import AlertRule
from store.base import IndexUnavailable, PostIndex
from store.state import StateDB

log = logging.getLogger(__name__)

# R3: how long a rule remembers the posts it counted, beyond its own lookback. A post
# re-upserted later than this (a re-crawl months on) would be counted again.
SEEN_RETENTION = timedelta(days=30)
PAGE = 500


@dataclass(frozen=True)
class RuleRun:
    """One rule over one window (R1): what it read, what matched, what it raised, how long."""

    rule: str
    start: datetime
    end: datetime
    hits: int
    matches: int
    alerts: int
    duration_ms: float


@dataclass
class RunReport:
    now: datetime
    ran: bool = False  # a window was evaluated
    degraded: bool = False  # the index could not be read; windows did not advance
    runs: list[RuleRun] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)  # rules refused (R5), index errors
    notified: NotifyCounts = field(default_factory=NotifyCounts)


def _iso(value: datetime) -> str:
    return value.astimezone(UTC).isoformat()


def _dt(value: str) -> datetime:
    return datetime.fromisoformat(value)


def _seen_json(seen: Seen) -> str:
    data = {f.name: getattr(seen, f.name) for f in fields(seen)}
    data["at"] = _iso(seen.at)
    return json.dumps(data, ensure_ascii=False)


def _seen_of(doc: str) -> Seen:
    data: dict[str, Any] = json.loads(doc)
    data["at"] = _dt(data["at"])
    data["severity"] = Severity(data["severity"]) if data["severity"] else None
    data["keywords"] = tuple(data["keywords"])
    data["severity_reasons"] = tuple(data.get("severity_reasons", ()))
    data["sentiment"] = Sentiment(data["sentiment"]) if data.get("sentiment") else None
    data["category"] = Category(data["category"]) if data.get("category") else None
    return Seen(**data)


class Engine:
    """Evaluates ``rules`` over ``index`` every ``interval``; restart-safe: everything a run
    decides (window, cursor, counted posts, alerts, deliveries) commits in one transaction."""

    def __init__(
        self,
        index: PostIndex,
        outbox: Outbox,
        rules: Sequence[AlertRule],
        *,
        zone: str = "Asia/Shanghai",
        sources: Sequence[str] = (),
        interval: timedelta = timedelta(minutes=1),
        storm_cap: int = 20,
        storm_window: timedelta = timedelta(minutes=10),
        degrade_after: int = 2,
        backfill: bool = False,
        units: Mapping[str, tuple[str, str, str]] | None = None,
        evidence_base: str = "",
    ) -> None:
        self.index = index
        self.outbox = outbox
        self.db: StateDB = outbox.db
        self.sources = list(sources)
        self.interval = interval
        self.degrade_after = degrade_after
        self.backfill = backfill
        self.evaluators: dict[str, Evaluator] = {}
        self.refused: list[str] = []
        for rule in rules:
            if not rule.enabled:
                continue
            try:
                self.evaluators[rule.id] = evaluator_for(rule)
            except RuleError as exc:  # R5: refuse this one, keep the others
                log.error("%s", exc)
                self.refused.append(str(exc))
        # Each rule's counted posts within its lookback, kept between runs so a minute's run
        # does not re-read a day of history; the database stays the truth after a restart.
        self._recent: dict[str, list[Seen]] = {}
        self._next_recent: dict[str, list[Seen]] = {}
        self.silences = SilenceBook(self.db)
        self.notifier = Notifier(
            outbox,
            {rule.id: rule for rule in rules},
            self.silences,
            zone=zone,
            storm_cap=storm_cap,
            storm_window=storm_window,
            units=units or {},
            evidence_base=evidence_base,
        )

    @classmethod
    def from_settings(cls, settings: Settings, index: PostIndex, outbox: Outbox) -> Engine:
        """Wired from ``core.settings.Settings`` (load it with skip_invalid_rules for R5)."""
        return cls(
            index,
            outbox,
            settings.alert_rules,
            zone=settings.timezone,
            sources=[s.id for s in settings.sources if s.enabled],
            storm_cap=settings.alerting.storm_cap,
            storm_window=settings.alerting.storm_window,
            units={u.id: (u.name, u.liaison, u.contact) for u in settings.units},
            evidence_base=f"http://{settings.api.listen}/v1/evidence/",
        )

    # -- state ---------------------------------------------------------------------------

    def _state(self) -> dict[str, str]:
        rows = self.db.connection().execute("SELECT name, value FROM engine_state").fetchall()
        return {r["name"]: r["value"] for r in rows if r["value"] is not None}

    @staticmethod
    def _set(conn: Any, **values: str | None) -> None:
        for name, value in values.items():
            conn.execute(
                "INSERT INTO engine_state (name, value) VALUES (?, ?) "
                "ON CONFLICT(name) DO UPDATE SET value = excluded.value",
                (name, value),
            )

    def windows(self, rule: str) -> list[RuleRun]:
        """The rule's recorded runs, oldest first (R1)."""
        rows = (
            self.db.connection()
            .execute("SELECT * FROM rule_runs WHERE rule = ? ORDER BY start", (rule,))
            .fetchall()
        )
        return [
            RuleRun(
                r["rule"],
                _dt(r["start"]),
                _dt(r["end"]),
                r["hits"],
                r["matches"],
                r["alerts"],
                r["duration_ms"],
            )
            for r in rows
        ]

    # -- running ---------------------------------------------------------------------------

    def run_due(self, now: datetime) -> RunReport:
        """Evaluate the next window if one is due, and release held or aggregated alerts."""
        report = RunReport(now, errors=list(self.refused))
        state = self._state()
        last_end = _dt(state["last_end"]) if "last_end" in state else None
        if last_end is None:
            self._start(now, report)
        elif now - last_end >= self.interval:
            self._window(last_end, now, state.get("cursor"), state, report)
        with self.db.transaction():
            self.notifier.release(now, report.notified)
        return report

    def lag(self, now: datetime) -> timedelta | None:
        """How far the rules are behind ``now`` (the metric "alert-rule lag"); None before the
        first run. Grows while the index is down."""
        last_end = self._state().get("last_end")
        return now - _dt(last_end) if last_end else None

    def _read(self, cursor: str | None, keep: bool = True) -> tuple[list[Post], str | None]:
        """Every post indexed after ``cursor`` (only the cursor unless ``keep``);
        IndexUnavailable if the index is down."""
        posts: list[Post] = []
        while True:
            changes = self.index.changes_since(cursor, limit=PAGE)
            if keep:
                posts += changes.posts
            if changes.cursor == cursor or len(changes.posts) < PAGE:
                return posts, changes.cursor
            cursor = changes.cursor

    def _start(self, now: datetime, report: RunReport) -> None:
        """First run: watch from now on (or, with ``backfill``, from the index's beginning)."""
        cursor: str | None = None
        if not self.backfill:
            try:
                _, cursor = self._read(None, keep=False)
            except IndexUnavailable as exc:
                self._unavailable(now, str(exc), self._state(), report)
                return
        with self.db.transaction() as conn:
            self._set(conn, last_end=_iso(now), watch_start=_iso(now), cursor=cursor)

    def _unavailable(
        self, now: datetime, error: str, state: dict[str, str], report: RunReport
    ) -> None:
        """R2: the window stays where it is; past ``degrade_after`` failed runs, say so once."""
        report.degraded = True
        report.errors.append(f"index unavailable: {error}")
        failures = int(state.get("failures", "0")) + 1
        with self.db.transaction() as conn:
            self._set(conn, failures=str(failures))
            if failures >= self.degrade_after and "degraded_since" not in state:
                self._set(conn, degraded_since=_iso(now))
                self.outbox.operational(
                    conn,
                    "operational.monitor_degraded",
                    f"the post index cannot be read ({error}); alert rules are paused since "
                    f"{state.get('last_end', _iso(now))} and will catch up when it returns",
                    "index",
                    now,
                )

    def _window(
        self,
        start: datetime,
        end: datetime,
        cursor: str | None,
        state: dict[str, str],
        report: RunReport,
    ) -> None:
        try:
            posts, next_cursor = self._read(cursor)
        except IndexUnavailable as exc:
            self._unavailable(end, str(exc), state, report)
            return
        watch_start = _dt(state.get("watch_start", _iso(start)))
        self._next_recent = {}
        try:
            self._evaluate(start, end, posts, next_cursor, watch_start, state, report)
        except BaseException:
            self._recent.clear()  # the run rolled back: reload from the database next time
            raise
        self._recent.update(self._next_recent)
        report.ran = True

    def _evaluate(
        self,
        start: datetime,
        end: datetime,
        posts: list[Post],
        next_cursor: str | None,
        watch_start: datetime,
        state: dict[str, str],
        report: RunReport,
    ) -> None:
        with self.db.transaction() as conn:
            if "degraded_since" in state:
                self.outbox.operational(
                    conn,
                    "operational.monitor_recovered",
                    f"the post index is back; the interval from {_iso(start)} to {_iso(end)} "
                    "was evaluated",
                    "index",
                    end,
                )
            stamped = [
                (p, min(max(p.fetched, start + timedelta(microseconds=1)), end)) for p in posts
            ]
            for post, at in stamped:
                conn.execute(
                    "INSERT INTO source_seen (source, last_at) VALUES (?, ?) "
                    "ON CONFLICT(source) DO UPDATE SET last_at = MAX(last_at, excluded.last_at)",
                    (post.source, _iso(at)),
                )
            last_by_source = {
                r["source"]: _dt(r["last_at"])
                for r in conn.execute("SELECT source, last_at FROM source_seen")
            }
            for evaluator in self.evaluators.values():
                report.runs.append(
                    self._run_rule(
                        conn, evaluator, start, end, stamped, watch_start, last_by_source, report
                    )
                )
            self._set(conn, last_end=_iso(end), cursor=next_cursor, failures="0")
            conn.execute("DELETE FROM engine_state WHERE name = 'degraded_since'")

    def _run_rule(
        self,
        conn: Any,
        evaluator: Evaluator,
        start: datetime,
        end: datetime,
        stamped: list[tuple[Post, datetime]],
        watch_start: datetime,
        last_by_source: dict[str, datetime],
        report: RunReport,
    ) -> RuleRun:
        began = time.perf_counter()
        rule = evaluator.rule
        # A rule added later starts where it joined, not at the engine's first window.
        rule_start = max(start, watch_start)
        first = conn.execute(
            "SELECT MIN(start) FROM rule_runs WHERE rule = ?", (rule.id,)
        ).fetchone()[0]
        rule_watch = _dt(first) if first else start
        new: list[Post] = []
        counted: list[Seen] = []
        for post, at in stamped:
            if not evaluator.filter(post):
                continue
            seen = Seen.of(post, at)
            inserted = conn.execute(
                "INSERT OR IGNORE INTO rule_posts (rule, post_id, at, doc) VALUES (?, ?, ?, ?)",
                (rule.id, post.id, _iso(at), _seen_json(seen)),
            ).rowcount
            if inserted:  # R3: counted once, whatever re-upserts or repeated runs bring
                new.append(post)
                counted.append(seen)
        since = end - evaluator.lookback()
        recent = self._recent.get(rule.id)
        if recent is None:  # first run of this process: the database holds the history
            recent = [
                _seen_of(r["doc"])
                for r in conn.execute(
                    "SELECT doc FROM rule_posts WHERE rule = ? AND at > ? ORDER BY at",
                    (rule.id, _iso(since)),
                )
            ]
        else:
            recent = [s for s in recent if s.at > since] + counted
        self._next_recent[rule.id] = recent
        window = Window(
            start=rule_start,
            end=end,
            posts=new,
            recent=recent,
            watch_start=max(rule_watch, watch_start),
            last_by_source=last_by_source,
            sources=self.sources,
        )
        alerts = evaluator.evaluate(window) if new or not evaluator.needs_new_posts else []
        for alert in alerts:
            self.notifier.notify(conn, alert, end, report.notified)
        keep = max(evaluator.lookback(), SEEN_RETENTION)
        conn.execute(
            "DELETE FROM rule_posts WHERE rule = ? AND at <= ?", (rule.id, _iso(end - keep))
        )
        run = RuleRun(
            rule.id,
            rule_start,
            end,
            len(stamped),
            len(new),
            len(alerts),
            round((time.perf_counter() - began) * 1000, 3),
        )
        conn.execute(
            "INSERT INTO rule_runs (rule, start, end, hits, matches, alerts, duration_ms) "
            "VALUES (?, ?, ?, ?, ?, ?, ?)",
            (
                run.rule,
                _iso(run.start),
                _iso(run.end),
                run.hits,
                run.matches,
                run.alerts,
                run.duration_ms,
            ),
        )
        return run
