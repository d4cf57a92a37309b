"""`yuqing cases list|show|ack|assign|reply|close|archive`, plus `failures` and `replay` of
webhook deliveries, over the state database in the data folder."""

from __future__ import annotations

import argparse
import getpass
import os
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

from alerts.cases import CaseBook, CaseError
from alerts.delivery import Outbox, OutboxError
from alerts.models import (
    OPEN_STATES,
    SEVERITY_LABELS,
    STATE_LABELS,
    Case,
    CaseState,
    Resolution,
)
from service.cli import UserError
from service.wiring import SetupError, data_dir, settings_from_args
from store.state import StateDB, StateError


def _case_id(text: str) -> int:
    digits = text.strip().upper().removeprefix("C")
    if not digits.isdigit():
        raise argparse.ArgumentTypeError(f"{text!r} is not a case number (e.g. 12 or C000012)")
    return int(digits)


def _actor() -> str:
    try:
        return os.environ.get("YUQING_USER") or getpass.getuser()
    except (KeyError, OSError):
        return "cli"


def _open(args: argparse.Namespace) -> tuple[CaseBook, ZoneInfo]:
    try:
        settings = settings_from_args(args)
        db = StateDB.in_data_dir(args.data_dir or data_dir(settings))
    except (SetupError, StateError) as exc:
        raise UserError(str(exc)) from None
    book = CaseBook.from_settings(db, settings)
    return book, ZoneInfo(settings.timezone)


def _local(value: datetime | None, zone: ZoneInfo) -> str:
    return value.astimezone(zone).strftime("%Y-%m-%d %H:%M") if value else "-"


def _list(args: argparse.Namespace) -> int:
    book, zone = _open(args)
    states = [CaseState(s) for s in args.state] or ([] if args.all else list(OPEN_STATES))
    now = datetime.now(UTC)
    cases = book.find(states, limit=args.limit)
    if args.overdue:
        overdue = {c.id for c in book.overdue(now)}
        cases = [c for c in cases if c.id in overdue]
    if not cases:
        print("no cases")
        return 0
    print(f"{'case':<8} {'state':<12} {'tier':<8} {'respond by':<16} {'unit':<12} title")
    for c in cases:
        late = " !" if c.state in OPEN_STATES and c.respond_by <= now else ""
        print(
            f"{c.ref:<8} {c.state.value:<12} {SEVERITY_LABELS[c.severity]:<6} "
            f"{_local(c.respond_by, zone):<16}{late:<2} {(c.unit_name or c.unit or '-'):<10} "
            f"{c.title}"
        )
    return 0


def _show(args: argparse.Namespace) -> int:
    book, zone = _open(args)
    try:
        c = book.get(args.case)
    except CaseError as exc:
        raise UserError(str(exc)) from None
    rows = [
        ("case", f"{c.ref} ({c.rule} / {c.key})"),
        ("state", f"{c.state.value} {STATE_LABELS[c.state]}"),
        ("tier", f"{c.severity.value} {SEVERITY_LABELS[c.severity]}"),
        ("title", c.title),
        ("unit", f"{c.unit_name or c.unit or '-'}  liaison: {c.liaison or '-'}"),
        ("assignee", c.assignee or "-"),
        ("detected", _local(c.detected_at, zone)),
        ("report by", _local(c.report_by, zone)),
        (
            "respond by",
            _local(c.respond_by, zone)
            + (
                f"  (extended {_local(c.extended_at, zone)}: {c.extension_reason})"
                if c.extended_at
                else ""
            ),
        ),
        ("special report", _special(c, zone)),
        ("occurrences", str(c.occurrences)),
        (
            "previous case",
            f"C{c.previous_case:06d}" + (" (second wave)" if c.second_wave else "")
            if c.previous_case
            else "-",
        ),
        ("reply", c.reply or "-"),
        ("resolution", f"{c.resolution.value}: {c.summary}" if c.resolution else "-"),
    ]
    for name, value in rows:
        print(f"{name:>14}: {value}")
    print("\naudit trail:")
    for event in book.events(c.id):
        detail = ", ".join(f"{k}={v}" for k, v in event.detail.items() if v not in (None, ""))
        print(f"  {_local(event.at, zone)}  {event.actor:<10} {event.kind:<16} {detail}")
    return 0


def _special(case: Case, zone: ZoneInfo) -> str:
    """特报: due when, made when (or late)."""
    if case.special_report_by is None:
        return (
            "- (not owed at this tier)"
            if case.special_report_at is None
            else (f"made {_local(case.special_report_at, zone)}")
        )
    due = f"due {_local(case.special_report_by, zone)}"
    if case.special_report_at is not None:
        return f"{due}, made {_local(case.special_report_at, zone)}"
    late = " — OVERDUE" if case.special_report_by <= datetime.now(UTC) else ""
    return f"{due}, not made yet{late} (yuqing report special --case {case.id})"


def _change(args: argparse.Namespace) -> int:
    book, _ = _open(args)
    now, actor = datetime.now(UTC), args.by or _actor()
    try:
        if args.action == "ack":
            case = book.acknowledge(args.case, actor, now)
        elif args.action == "assign":
            case = book.assign(args.case, args.assignee, actor, now, unit=args.unit)
        elif args.action == "reply":
            case = book.reply(args.case, args.text, actor, now)
        elif args.action == "close":
            case = book.close(args.case, args.resolution, args.summary, actor, now)
        elif args.action == "extend":
            days = args.days or book.max_extension_days
            case = book.extend(args.case, days, args.reason, actor, now)
            print(f"{case.ref}: reply now due {_local(case.respond_by, ZoneInfo(book.zone))}")
            return 0
        else:
            case = book.archive(args.case, actor, now)
    except CaseError as exc:
        raise UserError(str(exc)) from None
    print(f"{case.ref} is now {case.state.value} ({STATE_LABELS[case.state]})")
    return 0


def _failures(args: argparse.Namespace) -> int:
    book, _ = _open(args)
    outbox = Outbox(book, [])
    failures = outbox.failures()
    for d in failures:
        case = f"C{d.case_id:06d}" if d.case_id else "-"
        print(
            f"{d.id}  {d.destination:<12} {d.state.value:<9} {case:<8} {d.event:<28} "
            f"attempts={d.attempts} {d.last_error or ''}"
        )
    if not failures:
        print("no failed deliveries")
    for dest, reason in outbox.disabled_destinations().items():
        print(f"destination {dest} is disabled ({reason})")
    return 0


def _replay(args: argparse.Namespace) -> int:
    book, _ = _open(args)
    outbox = Outbox(book, [])
    try:
        if args.enable:
            outbox.enable_destination(args.enable)
        done = outbox.replay(
            datetime.now(UTC),
            ids=args.delivery,
            destination=args.destination or args.enable,
            actor=args.by or _actor(),
        )
    except OutboxError as exc:
        raise UserError(str(exc)) from None
    print(f"queued {len(done)} deliveries again; the patrol daemon sends them")
    return 0


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]  # argparse's private generic
    cases = sub.add_parser("cases", help="list and handle cases (立案/批办/回复/销号)")
    cases.add_argument(
        "--data-dir",
        default=None,
        help="state database folder (default: the configured data folder)",
    )
    verbs = cases.add_subparsers(dest="action", metavar="ACTION", required=True)

    p = verbs.add_parser("list", help="open cases (or --all, --state, --overdue)")
    p.add_argument("--state", action="append", default=[], choices=[s.value for s in CaseState])
    p.add_argument("--all", action="store_true", help="include closed and archived cases")
    p.add_argument("--overdue", action="store_true", help="only cases past a deadline")
    p.add_argument("--limit", type=int, default=100)
    p.set_defaults(func=_list)

    p = verbs.add_parser("show", help="one case with its deadlines and audit trail")
    p.add_argument("case", type=_case_id)
    p.set_defaults(func=_show)

    for name, text in (("ack", "acknowledge (确认)"), ("archive", "archive a closed case (归档)")):
        p = verbs.add_parser(name, help=text)
        p.add_argument("case", type=_case_id)
        p.add_argument("--by", default=None, help="who does it (default: $YUQING_USER or login)")
        p.set_defaults(func=_change)

    p = verbs.add_parser("assign", help="assign to a person or unit (批办)")
    p.add_argument("case", type=_case_id)
    p.add_argument("assignee")
    p.add_argument("--unit", default=None, help="change the responsible unit id")
    p.add_argument("--by", default=None)
    p.set_defaults(func=_change)

    p = verbs.add_parser("reply", help="record the reply that was published (回复)")
    p.add_argument("case", type=_case_id)
    p.add_argument("text")
    p.add_argument("--by", default=None)
    p.set_defaults(func=_change)

    p = verbs.add_parser("close", help="close with a resolution and a summary (销号)")
    p.add_argument("case", type=_case_id)
    p.add_argument("--resolution", required=True, choices=[r.value for r in Resolution])
    p.add_argument("--summary", required=True)
    p.add_argument("--by", default=None)
    p.set_defaults(func=_change)

    p = verbs.add_parser(
        "extend", help="extend the reply deadline once, with a reason (延期: 3 days, 5 at most)"
    )
    p.add_argument("case", type=_case_id)
    p.add_argument(
        "--days",
        type=int,
        default=None,
        help="how many days more (default: cases.max_extension_days, 2)",
    )
    p.add_argument("--reason", required=True, help="why the reply needs more time")
    p.add_argument("--by", default=None)
    p.set_defaults(func=_change)

    p = verbs.add_parser("failures", help="webhook deliveries that gave up")
    p.set_defaults(func=_failures)

    p = verbs.add_parser("replay", help="queue failed deliveries again (same webhook-id)")
    p.add_argument("delivery", nargs="*", help="delivery ids (msg_...)")
    p.add_argument("--destination", default=None, help="all failures of this destination")
    p.add_argument(
        "--enable",
        default=None,
        metavar="DESTINATION",
        help="re-enable a destination disabled by 410, then replay its failures",
    )
    p.add_argument("--by", default=None)
    p.set_defaults(func=_replay)
