"""`yuqing report daily|weekly|special`: the office's report as HTML + JSON in the data folder,
announced by webhook to `reports.destinations`."""

from __future__ import annotations

import argparse
import getpass
import os
from datetime import UTC, date, datetime

from service.cli import UserError
from service.wiring import SetupError, data_dir, open_index, settings_from_args


def _date(text: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a date: write e.g. 2026-11-21") from None


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


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser(
        "report",
        help="write the daily, weekly or special report (日报/周报/专报)",
        description="Counts by source, sentiment, category and severity, the top clusters, new, "
        "open and overdue cases and the patrol log, as a self-contained HTML file (charts "
        "included) and JSON under <data_dir>/reports/, announced to `reports.destinations`.",
    )
    p.add_argument("kind", choices=["daily", "weekly", "special"])
    p.add_argument("--date", type=_date, help="the (last) local day covered; default today")
    p.add_argument("--case", type=_case_id, help="special report: the case it is about")
    p.add_argument("--no-announce", action="store_true", help="do not queue the webhook")
    p.add_argument("--by", default=None, help="who made it (default: $YUQING_USER or login)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from alerts.cases import CaseBook, CaseError
    from service.reports import produce, report_link
    from store.base import IndexUnavailable
    from store.state import StateDB, StateError

    if args.case is not None and args.kind != "special":
        raise UserError("--case goes with a special report: yuqing report special --case 12")
    try:
        settings = settings_from_args(args)
        folder = data_dir(settings)
        state = StateDB.in_data_dir(folder)
    except (SetupError, StateError) as exc:
        raise UserError(str(exc)) from None
    now = datetime.now(UTC)
    case = None
    if args.case is not None:
        try:
            case = CaseBook.from_settings(state, settings).get(args.case)
        except CaseError as exc:
            raise UserError(str(exc)) from None
    index = open_index(settings)
    try:
        done = produce(
            settings,
            index,
            state,
            args.kind,
            now,
            args.date,
            case,
            not args.no_announce,
            actor=args.by or _actor(),
        )
    except IndexUnavailable as exc:
        raise UserError(f"the index is not reachable: {exc}") from None
    finally:
        index.close()
    report = done.report
    print(f"{report['title']}（{report['period']['label']}）: {done.html}")
    if case is not None:
        print(
            f"  {case.ref}: special report recorded (特报已报送), see `yuqing cases show {case.id}`"
        )
    print(f"  data: {done.json}")
    if done.announced:
        print(
            f"  announced to {', '.join(settings.reports.destinations)} "
            f"({len(done.announced)} queued): {report_link(settings, report['name'])}"
        )
    return 0
