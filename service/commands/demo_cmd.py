"""`yuqing demo`: the whole pipeline on loopback — sites that publish posts over time, the patrol
daemon, the API and a webhook receiver — for a newcomer without internet (service/demo.py)."""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

from service.cli import UserError


def _minutes(value: str) -> float:
    try:
        minutes = float(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{value!r} is not a number of minutes") from None
    if not 0.5 <= minutes <= 24 * 60:
        raise argparse.ArgumentTypeError("give between 0.5 and 1440 minutes")
    return minutes


def _port(value: str) -> int:
    if not value.isdigit() or not 1024 <= int(value) <= 65533:
        raise argparse.ArgumentTypeError(f"{value!r} is not a port between 1024 and 65533")
    return int(value)


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser(
        "demo",
        help="a few minutes of the whole pipeline on loopback, no internet needed (Ctrl-C stops)",
        description="Starts, all on this machine: demo sites (a Discuz! forum, a Tieba-style "
        "board, a news site with comments, an RSS feed, a message board) about the example "
        "university that publish new posts over time, the patrol daemon against a fast copy "
        "of config/example, the HTTP API, and a webhook receiver that prints the alerts. "
        "Ports: --port (sites), --port+1 (receiver), --port+2 (API).",
    )
    p.add_argument("--minutes", type=_minutes, help="stop after this long (default: Ctrl-C)")
    p.add_argument(
        "--data",
        type=Path,
        help="folder for the demo's config, data and report "
        "(default: a new temporary folder, kept afterwards)",
    )
    p.add_argument("--port", type=_port, default=8765, help="port of the demo sites (8765)")
    p.add_argument(
        "--fast",
        action="store_true",
        help="tell the story about four times faster (used by the tests)",
    )
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from service.demo import DemoError, Plan
    from service.demo import run as run_demo

    folder: Path = args.data or Path(tempfile.mkdtemp(prefix="yuqing-demo-"))
    if folder.exists() and not folder.is_dir():
        raise UserError(f"--data {folder} is a file; give a folder (it is created if missing)")
    try:
        return run_demo(Plan(args.port, fast=args.fast, minutes=args.minutes), folder.resolve())
    except DemoError as exc:
        raise UserError(str(exc)) from None
