"""The rule engine over a real SqliteIndex and state database, with a controllable clock and
restarts (ALERTING.md R1–R3, R5, R6, D1–D3, T2)."""

from __future__ import annotations

import json
import random
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from alerts.delivery import FaultHooks
from alerts.models import Destination
from alerts.sender import Worker
from alerts.silences import SilenceBook
from core.post import Category, Sentiment, Severity
from store.sqlite import SqliteIndex
from tests.alerts.engine_support import Flaky, Rig, make_post, minutes
from tests.alerts.support import SECRET, START, FakeClock, Receiver

MATCH = {"id": "canteen", "kind": "match", "watch_rules": ["canteen"], "realert": "1h"}


@pytest.fixture
def index(tmp_path: Path) -> Iterator[Flaky]:
    store = SqliteIndex(tmp_path / "index")
    store.init()
    yield Flaky(store)
    store.close()


def rig(tmp_path: Path, index: Flaky, rules: list[dict[str, Any]], **options: Any) -> Rig:
    r = Rig(tmp_path / "state", index, rules, **options)
    r.run(START)  # the first run starts watching from now
    return r


def test_windows_are_contiguous_and_recorded_across_restart(tmp_path: Path, index: Flaky) -> None:
    r = rig(tmp_path, index, [MATCH])
    index.upsert([make_post(1, minutes(START, 0.5))])
    assert r.run(minutes(START, 1)).ran
    assert not r.run(minutes(START, 1.5)).ran  # not due yet: no window, no overlap
    index.upsert(
        [make_post(2, minutes(START, 1.7)), make_post(3, minutes(START, 1.8), watch_rules=[])]
    )
    r.run(minutes(START, 2))
    r.restart()
    r.run(minutes(START, 3))
    r.restart()
    r.run(minutes(START, 7))  # the daemon was down 4 minutes: one window covers them
    windows = r.engine.windows("canteen")
    assert [w.start for w in windows] == [
        START,
        minutes(START, 1),
        minutes(START, 2),
        minutes(START, 3),
    ]
    assert [w.end for w in windows] == [w.start for w in windows[1:]] + [minutes(START, 7)]
    assert [(w.hits, w.matches, w.alerts) for w in windows] == [
        (1, 1, 1),
        (2, 1, 1),
        (0, 0, 0),
        (0, 0, 0),
    ]
    assert all(w.duration_ms >= 0 for w in windows)
    # Stored in UTC (R6).
    assert all(s.endswith("+00:00") for (s,) in r.rows("SELECT start FROM rule_runs"))


def test_posts_indexed_before_watching_began_are_not_alerted(tmp_path: Path, index: Flaky) -> None:
    index.upsert([make_post(1, START - timedelta(days=1))])
    r = rig(tmp_path, index, [MATCH])
    r.run(minutes(START, 1))
    assert r.outcomes() == []


def test_backfill_evaluates_the_whole_index(tmp_path: Path, index: Flaky) -> None:
    index.upsert([make_post(1, START - timedelta(days=1))])
    r = rig(tmp_path, index, [MATCH], backfill=True)
    r.run(minutes(START, 1))
    assert len(r.outcomes()) == 1


def test_index_down_for_several_runs_then_back_loses_nothing(tmp_path: Path, index: Flaky) -> None:
    ops = Destination(id="ops", url="https://ops.example.cn/hook", events=["operational"])
    cases = Destination(id="cases", url="https://cases.example.cn/hook", events=["case"])
    r = Rig(tmp_path / "state", index, [MATCH], destinations=[cases, ops])
    r.run(START)
    index.upsert([make_post(1, minutes(START, 0.5))])
    r.run(minutes(START, 1))
    index.down = 3
    for n in (2, 3, 4):
        index.upsert([make_post(10 + n, minutes(START, n - 0.5))])
        report = r.run(minutes(START, n))
        assert report.degraded and not report.ran
        if n == 3:
            r.restart()  # a restart during the outage changes nothing
    assert r.engine.windows("canteen")[-1].end == minutes(START, 1)  # the window did not advance
    assert r.engine.lag(minutes(START, 4)) == timedelta(minutes=3)
    # "monitor degraded" went out once, by the operational path, after the second failure.
    assert r.deliveries("operational.") == ["operational.monitor_degraded"]
    assert r.rows("SELECT kind FROM alerts WHERE kind = 'operational'") == [("operational",)]
    report = r.run(minutes(START, 5))
    assert report.ran and not report.degraded
    last = r.engine.windows("canteen")[-1]
    assert (last.start, last.end, last.matches) == (minutes(START, 1), minutes(START, 5), 3)
    assert len(r.outcomes()) == 4  # every post alerted once
    assert r.deliveries("operational.") == [
        "operational.monitor_degraded",
        "operational.monitor_recovered",
    ]
    r.run(minutes(START, 6))
    assert len(r.outcomes()) == 4


def test_one_failed_run_is_not_yet_degraded(tmp_path: Path, index: Flaky) -> None:
    r = rig(tmp_path, index, [MATCH])
    index.down = 1
    assert r.run(minutes(START, 1)).degraded
    r.run(minutes(START, 2))
    assert r.deliveries("operational.") == []


def test_a_post_is_counted_once_across_reupsert_and_restart(tmp_path: Path, index: Flaky) -> None:
    freq = {
        "id": "burst",
        "kind": "frequency",
        "watch_rules": ["canteen"],
        "threshold": 3,
        "window": "1h",
        "realert": "1m",
    }
    r = rig(tmp_path, index, [MATCH, freq])
    post = make_post(1, minutes(START, 0.5))
    index.upsert([post, make_post(2, minutes(START, 0.6))])
    r.run(minutes(START, 1))
    r.restart()
    index.upsert([post.model_copy(update={"title": "修改后的标题"})])  # re-indexed, same id
    index.upsert([post])
    r.run(minutes(START, 2))
    assert [w.matches for w in r.engine.windows("burst")] == [2, 0]
    assert r.outcomes(rule="burst") == []  # 2 distinct posts, not 4
    assert r.rows("SELECT COUNT(*) FROM rule_posts WHERE rule = 'burst'") == [(2,)]
    index.upsert([make_post(3, minutes(START, 2.5))])
    r.run(minutes(START, 3))
    assert r.outcomes(rule="burst") == ["rule:burst"]


def test_late_post_is_evaluated_by_indexing_time(tmp_path: Path, index: Flaky) -> None:
    r = rig(tmp_path, index, [MATCH])
    late = make_post(1, minutes(START, 0.5), published=START - timedelta(days=3))
    index.upsert([late])
    r.run(minutes(START, 1))
    assert len(r.outcomes()) == 1


def test_a_crash_before_commit_repeats_the_window_and_sends_once(
    tmp_path: Path, index: Flaky
) -> None:
    r = rig(tmp_path, index, [MATCH])
    index.upsert([make_post(1, minutes(START, 0.5))])

    def crash() -> None:
        raise RuntimeError("killed after match, before commit")

    r.outbox.hooks.before_commit = crash
    with pytest.raises(RuntimeError):
        r.run(minutes(START, 1))
    r.outbox.hooks = FaultHooks()
    r.restart()
    assert r.engine.windows("canteen") == []  # nothing of the crashed run was kept
    r.run(minutes(START, 1))
    r.run(minutes(START, 2))
    assert len(r.outcomes()) == 1
    assert r.deliveries("case.") == ["case.opened"]


def test_realert_suppresses_and_counts_across_restart(tmp_path: Path, index: Flaky) -> None:
    rule = {**MATCH, "realert": "30m", "aggregation": {"key": "cluster", "window": "1m"}}
    r = rig(tmp_path, index, [rule])
    # Aggregated per minute: minutes 1-2 make one notification, 3-4 the next (same identity).
    for n in range(1, 5):
        index.upsert([make_post(n, minutes(START, n - 0.5), cluster="c1")])
        r.run(minutes(START, n))
        if n == 2:
            r.restart()
    assert r.outcomes() == ["cluster:c1"]
    assert r.outcomes("suppressed") == ["cluster:c1"]
    assert r.rows("SELECT suppressed FROM rule_identities") == [(1,)]
    index.upsert([make_post(50, minutes(START, 40), cluster="c1")])
    r.run(minutes(START, 41))
    r.run(minutes(START, 42))
    assert r.outcomes() == ["cluster:c1", "cluster:c1"]  # realert passed: told again


def test_aggregation_sends_one_notification_per_window_across_restart(
    tmp_path: Path, index: Flaky
) -> None:
    rule = {**MATCH, "aggregation": {"key": "cluster", "window": "10m"}}
    r = rig(tmp_path, index, [rule])
    for n in range(1, 6):
        index.upsert([make_post(n, minutes(START, n - 0.5), cluster="c1", site=f"s{n}.example.cn")])
        r.run(minutes(START, n))
        if n == 3:
            r.restart()
    assert r.outcomes() == []  # the aggregation window is still open
    r.run(minutes(START, 11))
    r.restart()
    r.run(minutes(START, 12))
    assert r.outcomes() == ["cluster:c1"]
    (opened,) = r.book.find()
    assert opened.occurrences == 1
    body = r.rows("SELECT body FROM alerts WHERE kind = 'case'")[0][0]
    assert '"cluster_size":5' in body.replace(" ", "")


def test_silence_with_matchers_start_end_author_comment(tmp_path: Path, index: Flaky) -> None:
    r = rig(tmp_path, index, [MATCH])
    silences = SilenceBook(r.db)  # type: ignore[arg-type]  # the rig opened it
    s = silences.add(
        {"rule": "canteen", "key": "post:*"},
        minutes(START, 0),
        minutes(START, 2),
        author="王老师",
        comment="已知事件，正在处置",
        now=START,
    )
    index.upsert([make_post(1, minutes(START, 0.5))])
    r.run(minutes(START, 1))
    assert r.outcomes() == [] and len(r.outcomes("silenced")) == 1
    index.upsert([make_post(2, minutes(START, 2.5))])
    r.run(minutes(START, 3))  # the silence has ended
    assert len(r.outcomes()) == 1
    assert silences.get(s.id).author == "王老师"


def test_expired_silence_no_longer_silences(tmp_path: Path, index: Flaky) -> None:
    r = rig(tmp_path, index, [MATCH])
    silences = SilenceBook(r.db)  # type: ignore[arg-type]  # the rig opened it
    s = silences.add({"rule": "canteen"}, START, START + timedelta(days=1), "王", "测试", START)
    silences.expire(s.id, minutes(START, 0.2))
    index.upsert([make_post(1, minutes(START, 0.5))])
    r.run(minutes(START, 1))
    assert len(r.outcomes()) == 1


# 23:30 in Beijing on 18 November is 15:30 UTC; quiet hours 23:00–07:00 cross midnight.
NIGHT = datetime(2026, 11, 18, 15, 30, tzinfo=UTC)


@pytest.mark.parametrize(
    ("severity", "sent_at_once"),
    [(Severity.GENERAL, False), (Severity.MAJOR, False), (Severity.ESPECIALLY_MAJOR, True)],
)
def test_quiet_hours_across_midnight_hold_then_deliver(
    tmp_path: Path, index: Flaky, severity: Severity, sent_at_once: bool
) -> None:
    rule = {**MATCH, "quiet_hours": {"start": "23:00", "end": "07:00"}}
    r = Rig(tmp_path / "state", index, [rule])
    r.run(NIGHT)
    index.upsert([make_post(1, minutes(NIGHT, 0.5), severity=severity)])
    r.run(minutes(NIGHT, 1))
    index.upsert([make_post(2, minutes(NIGHT, 40), severity=severity)])  # after midnight
    r.run(minutes(NIGHT, 41))
    assert bool(r.outcomes()) is sent_at_once
    r.restart()
    before_seven = datetime(2026, 11, 18, 22, 59, tzinfo=UTC)  # 06:59 local
    r.run(before_seven)
    assert bool(r.outcomes()) is sent_at_once
    r.run(before_seven + timedelta(minutes=2))  # 07:01 local
    assert len(r.outcomes()) == 2
    r.run(before_seven + timedelta(minutes=3))
    assert len(r.outcomes()) == 2  # released once


def test_storm_cap_folds_the_excess_into_one_digest(tmp_path: Path, index: Flaky) -> None:
    r = rig(tmp_path, index, [MATCH], storm_cap=3, storm_window=timedelta(minutes=10))
    index.upsert([make_post(n, minutes(START, 0.5)) for n in range(10)])
    index.upsert([make_post(99, minutes(START, 0.5), severity=Severity.ESPECIALLY_MAJOR)])
    r.run(minutes(START, 1))
    assert len(r.outcomes()) == 4  # three, and the especially-major one past the cap
    assert len(r.outcomes("folded")) == 7
    r.run(minutes(START, 10))  # the storm window (10:00–10:10) has ended
    digests = r.outcomes(rule="alert-storm")
    assert len(digests) == 1
    title = r.rows("SELECT title FROM alert_log WHERE rule = 'alert-storm'")[0][0]
    assert "7" in title
    r.run(minutes(START, 11))
    assert len(r.outcomes(rule="alert-storm")) == 1


def test_the_storm_cap_counts_per_destination(tmp_path: Path, index: Flaky) -> None:
    office = Destination(id="office", url="https://office.example.cn/hook")
    unit = Destination(id="unit", url="https://unit.example.cn/hook", units=["u2"])
    r = Rig(tmp_path / "state", index, [MATCH], destinations=[office, unit], storm_cap=3,
            storm_window=timedelta(minutes=10))  # fmt: skip
    r.run(START)
    index.upsert([make_post(n, minutes(START, 0.5), units=["u1"]) for n in range(4)])
    index.upsert([make_post(9, minutes(START, 0.6), units=["u2"])])
    r.run(minutes(START, 1))
    per_destination = r.rows(
        "SELECT destination, COUNT(*) FROM deliveries GROUP BY destination ORDER BY destination"
    )
    # The office had its three; the unit's robot had none, so the u2 alert still reaches it.
    assert per_destination == [("office", 3), ("unit", 1)]
    r.run(minutes(START, 10))
    digests = r.rows(
        "SELECT destination FROM deliveries WHERE alert_id IN "
        "(SELECT id FROM alerts WHERE rule = 'alert-storm')"
    )
    assert digests == [("office",)]
    (title,) = r.rows("SELECT title FROM cases WHERE rule = 'alert-storm'")[0]
    assert "另有 2 条" in title


def test_an_invalid_rule_is_refused_and_the_others_keep_running(
    tmp_path: Path, index: Flaky
) -> None:
    bad = {"id": "bad", "kind": "match", "filters": {"query": "(未闭合"}}
    r = rig(tmp_path, index, [bad, MATCH])
    index.upsert([make_post(1, minutes(START, 0.5))])
    report = r.run(minutes(START, 1))
    assert any("alert rule bad" in e for e in report.errors)
    assert [run.rule for run in report.runs] == ["canteen"]
    assert len(r.outcomes()) == 1


def test_flatline_through_the_engine(tmp_path: Path, index: Flaky) -> None:
    rule = {"id": "silent", "kind": "flatline", "max_silence": "2h", "realert": "12h"}
    r = rig(tmp_path, index, [rule], sources=["bbs", "feed"])
    index.upsert([make_post(1, minutes(START, 30))])
    r.run(minutes(START, 31))
    assert r.outcomes() == []
    r.run(minutes(START, 121))
    assert r.outcomes() == ["source:feed"]
    r.run(minutes(START, 152))
    assert r.outcomes() == ["source:feed", "source:bbs"]
    r.run(minutes(START, 200))
    assert len(r.outcomes()) == 2  # realert holds both


def test_end_to_end_signed_webhook(tmp_path: Path, index: Flaky) -> None:
    clock = FakeClock(START)
    receiver = Receiver(clock, [SECRET])
    try:
        dest = Destination(
            id="cs", url=receiver.url + "/cases/cs", secrets=[SECRET], allow_private=True
        )
        r = Rig(tmp_path / "state", index, [MATCH], destinations=[dest])
        r.run(START)
        index.upsert([make_post(1, minutes(START, 0.5), severity=Severity.MAJOR, units=["hq"])])
        r.run(minutes(START, 1))
        clock.now = minutes(START, 1)
        assert Worker(r.outbox, clock, rng=random.Random(1)).run_once().sent == 1
        (got,) = receiver.on("/cases/cs")
        assert got.verified and b'"case.opened"' in got.body and b'"major"' in got.body
    finally:
        receiver.close()


def test_a_frequency_window_spans_local_midnight(tmp_path: Path, index: Flaky) -> None:
    freq = {"id": "burst", "kind": "frequency", "watch_rules": ["canteen"], "threshold": 2,
            "window": "30m"}  # fmt: skip
    before_midnight = datetime(2026, 11, 18, 15, 50, tzinfo=UTC)  # 23:50 in Beijing
    r = Rig(tmp_path / "state", index, [freq])
    r.run(before_midnight)
    index.upsert([make_post(1, minutes(before_midnight, 5))])  # 23:55
    r.run(minutes(before_midnight, 6))
    index.upsert([make_post(2, minutes(before_midnight, 15))])  # 00:05 the next day
    r.run(minutes(before_midnight, 16))
    assert r.outcomes() == ["rule:burst"]
    (opened,) = r.book.find()
    assert opened.detected_at == minutes(before_midnight, 16)


def test_the_webhook_says_what_the_post_is_why_its_tier_and_links_the_evidence(
    tmp_path: Path, index: Flaky
) -> None:
    """The payload carries the post's sentiment, category and the reasons for its tier, and
    links the stored page through the API (these were empty before: the engine dropped them)."""
    clock = FakeClock(START)
    receiver = Receiver(clock, [SECRET])
    sha = "ab" * 32
    try:
        dest = Destination(
            id="cs", url=receiver.url + "/cases/cs", secrets=[SECRET], allow_private=True
        )
        r = Rig(
            tmp_path / "state",
            index,
            [MATCH],
            destinations=[dest],
            evidence_base="http://127.0.0.1:8080/v1/evidence/",
        )
        r.run(START)
        post = make_post(
            1,
            minutes(START, 0.5),
            severity=Severity.MAJOR,
            severity_reasons=["负面", "类别：捏造/歪曲/诽谤/煽动"],
            sentiment=Sentiment.NEGATIVE,
            category=Category.DEFAMATION,
            evidence=sha,
            units=["hq"],
        )
        index.upsert([post])
        r.run(minutes(START, 1))
        clock.now = minutes(START, 1)
        assert Worker(r.outbox, clock, rng=random.Random(1)).run_once().sent == 1
        (got,) = receiver.on("/cases/cs")
        data = json.loads(got.body)["data"]
        assert data["sentiment"] == "negative" and data["category"] == "defamation"
        assert data["severity_reasons"] == ["负面", "类别：捏造/歪曲/诽谤/煽动"]
        assert data["evidence"] == f"http://127.0.0.1:8080/v1/evidence/{sha}"
    finally:
        receiver.close()


def test_counted_posts_stored_before_the_new_fields_still_load() -> None:
    """Rules' counted posts live in the state database as JSON; rows written before sentiment,
    category, reasons and evidence were kept load with those empty."""
    from alerts.engine import _seen_json, _seen_of
    from alerts.rules import Seen

    seen = Seen("p1", START, "bbs", "bbs.example.cn", sentiment=Sentiment.NEGATIVE)
    assert _seen_of(_seen_json(seen)) == seen
    old = json.loads(_seen_json(Seen("p2", START, "bbs", "bbs.example.cn")))
    for name in ("sentiment", "category", "severity_reasons", "evidence"):
        del old[name]
    loaded = _seen_of(json.dumps(old))
    assert loaded.post_id == "p2" and loaded.sentiment is None and loaded.severity_reasons == ()
