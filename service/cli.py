"""The `yuqing` command line: one sub-command module per noun, registered explicitly below."""

from __future__ import annotations

import argparse
import importlib
import os
import sys
from collections.abc import Sequence

# Each command's module has `register(subparsers)`, which adds the command's parser and sets
# `func` (taking the parsed args, returning the exit status). Only the module of the command
# being run is imported, so `yuqing search` does not pay for Scrapy.
COMMANDS: dict[str, str] = {
    "config": "service.commands.config_cmd",
    "search": "service.commands.search_cmd",
    "index": "service.commands.index_cmd",
    "analyze": "service.commands.analyze_cmd",
    "extract": "service.commands.extract_cmd",
    "crawl": "service.commands.crawl_cmd",
    "patrol": "service.commands.patrol_cmd",
    "cases": "service.commands.cases_cmd",
    "rules": "service.commands.rules_cmd",
    "serve": "service.commands.serve_cmd",
    "report": "service.commands.report_cmd",
    "alerts": "service.commands.alerts_cmd",
    "demo": "service.commands.demo_cmd",
}


def _command_of(argv: Sequence[str]) -> str | None:
    """The sub-command named in ``argv`` (skipping the global options), if there is one."""
    args = iter(argv)
    for arg in args:
        if arg in ("--config", "-c"):
            next(args, None)
        elif not arg.startswith("-"):
            return arg
    return None


class UserError(Exception):
    """A problem the person at the keyboard can fix; printed as one line, exit status 2."""


def build_parser(command: str | None = None) -> argparse.ArgumentParser:
    """The parser with ``command``'s sub-command, or with all of them (for help and errors)."""
    parser = argparse.ArgumentParser(
        prog="yuqing",
        description="Yuqing 舆情: watch what the Chinese internet says about one institution.",
    )
    parser.add_argument(
        "--config",
        "-c",
        default=None,
        help="institution config file or folder (default: $YUQING_CONFIG, else config/example)",
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    wanted = [COMMANDS[command]] if command in COMMANDS else list(COMMANDS.values())
    for module in wanted:
        importlib.import_module(module).register(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    parser = build_parser(_command_of(argv))
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    try:
        status: int = args.func(args)
    except UserError as exc:
        print(f"yuqing: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130
    except Exception as exc:  # the last line of defence: one line, never a traceback
        if os.environ.get("YUQING_DEBUG"):
            raise
        print(
            f"yuqing: unexpected error: {type(exc).__name__}: {exc}\n"
            "  (set YUQING_DEBUG=1 to see where; please report it)",
            file=sys.stderr,
        )
        return 1
    return status


if __name__ == "__main__":
    # Through the package's own module, so that the commands' UserError is this one's.
    from service.cli import main as package_main

    sys.exit(package_main())
