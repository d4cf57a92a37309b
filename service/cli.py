"""The `yuqing` command line: one sub-command module per noun, registered explicitly below."""

from __future__ import annotations

import argparse
import importlib
import os
import sys
from collections.abc import Sequence

# Each module in service/commands/ has `register(subparsers)`, which adds its sub-command(s) and
# sets `func` (taking the parsed args, returning the exit status) on each parser it adds.
COMMAND_MODULES: list[str] = [
    "service.commands.config_cmd",
    "service.commands.search_cmd",
    "service.commands.index_cmd",
    "service.commands.analyze_cmd",
    "service.commands.extract_cmd",
    "service.commands.crawl_cmd",
    "service.commands.patrol_cmd",
    "service.commands.cases_cmd",
    "service.commands.rules_cmd",
]


class UserError(Exception):
    """A problem the person at the keyboard can fix; printed as one line, exit status 2."""


def build_parser() -> argparse.ArgumentParser:
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
    for name in COMMAND_MODULES:
        importlib.import_module(name).register(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
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
    sys.exit(main())
