"""`yuqing alerts test RULE` (dry-run a rule over stored posts), `yuqing alerts list` (what the
rule engine raised and what became of it) and `yuqing alerts silence add|list|expire`."""

from __future__ import annotations

import argparse
import getpass
import json
import os
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from alerts.dryrun import DryRunError, dry_run, read_all
from alerts.models import SEVERITY_LABELS
from alerts.rules import RuleError
from alerts.silences import MATCH_FIELDS, SilenceBook, SilenceError, parse_matchers
from core.post import Severity
from core.settings import Settings
from core.settings_types import parse_duration
from service.cli import UserError
from service.timespec import parse_when
from service.wiring import SetupError, data_dir, open_index, settings_from_args
from store.base import IndexUnavailable
from store.state import StateDB, StateError

OUTCOMES = ("sent", "suppressed", "silenced", "aggregated", "held", "folded")


def _duration(text: str) -> timedelta:
    try:
        value = parse_duration(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None
    if not isinstance(value, timedelta) or value <= timedelta(0):
        raise argparse.ArgumentTypeError(f"{text!r}: write a positive duration such as 10m or 2h")
    return value


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = sub.add_parser("alerts", help="dry-run alert rules, list alerts, silence them")
    actions = parser.add_subparsers(dest="alerts_action", metavar="ACTION", required=True)

    test = actions.add_parser(
        "test",
        help="dry-run an alert rule over stored posts and print the would-be alerts",
        description="Nothing is written and nothing is sent. Windows run on each post's fetch "
        "time; realert is applied, silences and quiet hours are not.",
    )
    test.add_argument("rule", metavar="RULE", help="an alert rule id from the config")
    test.add_argument("--since", default="7d", help="start: 2026-03-01, '2026-03-01 08:30', 7d")
    test.add_argument("--until", default=None, help="end (default: now)")
    test.add_argument("--step", type=_duration, default=None, help="window step, e.g. 10m")
    test.add_argument("--json", action="store_true", help="one JSON alert per line")
    test.set_defaults(func=test_command)

    listing = actions.add_parser("list", help="recent alerts the rule engine raised")
    listing.add_argument("--limit", type=int, default=50)
    listing.add_argument("--rule", help="only this rule")
    listing.add_argument("--outcome", choices=OUTCOMES, help="only this outcome")
    listing.set_defaults(func=list_command)

    silence = actions.add_parser("silence", help="add, list or expire silences")
    sil = silence.add_subparsers(dest="silence_action", metavar="ACTION", required=True)
    add = sil.add_parser(
        "add",
        help="silence the alerts every matcher matches",
        description=f"MATCHER is FIELD=PATTERN, FIELD one of {', '.join(MATCH_FIELDS)}; "
        "PATTERN may use * and ?. Example: rule=negative-canteen key='cluster:*'",
    )
    add.add_argument("matchers", metavar="MATCHER", nargs="+")
    add.add_argument("--for", dest="duration", type=_duration, help="how long, e.g. 2h")
    add.add_argument("--until", dest="ends", help="or until when")
    add.add_argument("--start", default=None, help="from when (default: now)")
    add.add_argument("--comment", required=True, help="why (kept with the silence)")
    add.add_argument("--author", default=None, help="who (default: $YUQING_USER or login)")
    add.set_defaults(func=silence_add)
    ls = sil.add_parser("list", help="silences that have not ended (--all: every one)")
    ls.add_argument("--all", action="store_true")
    ls.set_defaults(func=silence_list)
    expire = sil.add_parser("expire", help="end a silence now")
    expire.add_argument("id", type=int)
    expire.set_defaults(func=silence_expire)


def _settings(args: argparse.Namespace) -> Settings:
    try:
        return settings_from_args(args)
    except SetupError as exc:
        raise UserError(str(exc)) from None


def _state(settings: Settings) -> StateDB:
    try:
        return StateDB.in_data_dir(data_dir(settings))
    except StateError as exc:
        raise UserError(str(exc)) from None


def _when(text: str, zone: ZoneInfo, now: datetime) -> datetime:
    try:
        return parse_when(text, zone, now=now)
    except ValueError as exc:
        raise UserError(str(exc)) from None


def _local(value: datetime, zone: ZoneInfo) -> str:
    return value.astimezone(zone).strftime("%Y-%m-%d %H:%M")


def test_command(args: argparse.Namespace) -> int:
    settings = _settings(args)
    zone, now = settings.tz, datetime.now(UTC)
    rules = {r.id: r for r in settings.alert_rules}
    if args.rule not in rules:
        known = ", ".join(sorted(rules)) or "none configured"
        raise UserError(f"no alert rule {args.rule!r} (known: {known})")
    rule = rules[args.rule]
    since = _when(args.since, zone, now)
    until = _when(args.until, zone, now) if args.until else now
    step = args.step or getattr(rule, "window", None) or timedelta(minutes=10)
    index = open_index(settings)
    try:
        posts = read_all(index)
        result = dry_run(
            rule, posts, since, until, step, [s.id for s in settings.sources if s.enabled]
        )
    except (IndexUnavailable, DryRunError, RuleError) as exc:
        raise UserError(str(exc)) from None
    finally:
        index.close()
    if args.json:
        for alert in result.alerts:
            print(alert.model_dump_json())
        return 0
    print(
        f"rule {rule.id} ({rule.kind}) from {_local(since, zone)} to {_local(until, zone)}, "
        f"{result.windows} windows of {step}: {result.posts} matching posts, "
        f"{len(result.alerts)} alerts, {len(result.suppressed)} held back by realert"
    )
    for alert in result.alerts:
        print(
            f"  {_local(alert.detected_at, zone)}  {SEVERITY_LABELS[alert.severity]:<4} "
            f"{alert.key:<28} x{alert.cluster_size:<3} {alert.title}"
        )
        if alert.link:
            print(f"      {alert.link}")
    return 0


def list_command(args: argparse.Namespace) -> int:
    settings = _settings(args)
    db = _state(settings)
    sql, params = "SELECT * FROM alert_log WHERE 1=1", []
    if args.rule:
        sql += " AND rule = ?"
        params.append(args.rule)
    if args.outcome:
        sql += " AND outcome = ?"
        params.append(args.outcome)
    rows = db.connection().execute(sql + " ORDER BY id DESC LIMIT ?", (*params, args.limit))
    found = rows.fetchall()
    if not found:
        print("no alerts")
        return 0
    print(f"{'when':<16} {'outcome':<10} {'tier':<4} {'rule':<20} {'key':<28} title")
    for r in found:
        tier = SEVERITY_LABELS[Severity(r["severity"])]
        when = _local(datetime.fromisoformat(r["at"]), settings.tz)
        print(
            f"{when:<16} {r['outcome']:<10} {tier:<4} {r['rule']:<20} {r['key']:<28} {r['title']}"
        )
    return 0


def _author(given: str | None) -> str:
    if given:
        return given
    try:
        return os.environ.get("YUQING_USER") or getpass.getuser()
    except (KeyError, OSError):
        return "cli"


def silence_add(args: argparse.Namespace) -> int:
    settings = _settings(args)
    zone, now = settings.tz, datetime.now(UTC)
    starts = _when(args.start, zone, now) if args.start else now
    if (args.duration is None) == (args.ends is None):
        raise UserError("say how long: --for 2h, or --until '2026-03-01 18:00'")
    ends = starts + args.duration if args.duration else _when(args.ends, zone, now)
    book = SilenceBook(_state(settings))
    try:
        silence = book.add(parse_matchers(args.matchers), starts, ends, _author(args.author),
                           args.comment, now)  # fmt: skip
    except SilenceError as exc:
        raise UserError(str(exc)) from None
    print(
        f"silence {silence.id}: {json.dumps(silence.matchers, ensure_ascii=False)} from "
        f"{_local(silence.starts_at, zone)} to {_local(silence.ends_at, zone)}"
    )
    return 0


def silence_list(args: argparse.Namespace) -> int:
    settings = _settings(args)
    now = datetime.now(UTC)
    silences = SilenceBook(_state(settings)).all(None if args.all else now)
    if not silences:
        print("no silences")
        return 0
    for s in silences:
        state = "active" if s.active(now) else ("ended" if s.ends_at <= now else "pending")
        print(
            f"{s.id:>4} {state:<7} {_local(s.starts_at, settings.tz)} → "
            f"{_local(s.ends_at, settings.tz)}  {json.dumps(s.matchers, ensure_ascii=False)}  "
            f"{s.author}: {s.comment}"
        )
    return 0


def silence_expire(args: argparse.Namespace) -> int:
    settings = _settings(args)
    try:
        silence = SilenceBook(_state(settings)).expire(args.id, datetime.now(UTC))
    except SilenceError as exc:
        raise UserError(str(exc)) from None
    print(f"silence {silence.id} ended at {_local(silence.ends_at, settings.tz)}")
    return 0
