"""`yuqing patrol`: the main job. Patrols every enabled source on its schedule until stopped."""

from __future__ import annotations

import argparse
import logging
import sys

from crawler.runner import SourceSummary
from service.cli import UserError
from service.commands.crawl_cmd import format_summary
from service.duties import Duties
from service.patrol import Patrol
from service.patrol_status import status_lines
from service.wiring import SetupError, data_dir, settings_from_args
from store.state import StateDB


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser(
        "patrol",
        help="the patrol daemon: crawl, alert, deliver, chase cases, report (Ctrl-C stops)",
        description="Patrols every enabled source of the institution on its own schedule, each "
        "crawl in a child process with a time limit, and records every run in the patrol log; "
        "evaluates the alert rules every minute, sends webhooks, chases due cases and makes "
        "the daily and weekly reports. SIGTERM or Ctrl-C stops it after the running crawls "
        "finish.",
    )
    p.add_argument("--once", action="store_true", help="patrol every source once, then exit")
    p.add_argument(
        "--status",
        action="store_true",
        help="print each source's current interval, next run and last outcome, then exit",
    )
    p.set_defaults(func=run)


def _report(summary: SourceSummary) -> None:
    print(format_summary(summary), flush=True)


def run(args: argparse.Namespace) -> int:
    try:
        settings = settings_from_args(args)
    except SetupError as exc:
        raise UserError(str(exc)) from None
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s: %(message)s")
    logging.getLogger("apscheduler").setLevel(logging.WARNING)  # not a line per job run
    if args.status:
        for line in status_lines(settings, StateDB.in_data_dir(data_dir(settings))):
            print(line)
        return 0
    patrol = Patrol(settings, args.config, _report)
    sources = patrol.sources()
    if not sources:
        raise UserError("no enabled sources in the configuration: add some under `sources:`")
    where = data_dir(settings).resolve()
    print(
        f"yuqing patrol: {settings.institution.name}, {len(sources)} sources, "
        f"{'Elasticsearch' if settings.storage.elasticsearch else 'embedded store'} in {where}",
        flush=True,
    )
    if args.once:
        summaries = patrol.once()
        return 1 if summaries and all(s.outcome == "failed" for s in summaries) else 0
    duties = Duties(settings)
    try:
        patrol.forever(duties)
    except KeyboardInterrupt:
        print("yuqing patrol: stopped", file=sys.stderr)
    finally:
        duties.close()
    return 0
