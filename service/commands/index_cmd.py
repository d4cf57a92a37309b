"""`yuqing index init|status|reindex`: set up and look after the post index."""

from __future__ import annotations

import argparse
import json

from service.cli import UserError
from service.wiring import SetupError, open_index, settings_from_args
from store.base import IndexUnavailable


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser("index", help="set up and inspect the post index")
    actions = p.add_subparsers(dest="action", metavar="ACTION", required=True)
    actions.add_parser("init", help="create the index (safe to run again)").set_defaults(
        func=run, action="init"
    )
    status = actions.add_parser("status", help="where the index is and how many posts it holds")
    status.add_argument("--json", action="store_true")
    status.set_defaults(func=run, action="status")
    actions.add_parser(
        "reindex",
        help="segment every post again, e.g. after adding words to the institution's dictionary; "
        "on Elasticsearch, into a new index version behind the alias",
    ).set_defaults(func=run, action="reindex")


def run(args: argparse.Namespace) -> int:
    try:
        settings = settings_from_args(args, delivers=False)
        index = open_index(settings)
        try:
            if args.action == "init":
                index.init()
                print(f"ready: {index.status()['location']}")
            elif args.action == "status":
                info = index.status()
                if getattr(args, "json", False):
                    print(json.dumps(info, ensure_ascii=False, default=str))
                else:
                    for key, value in info.items():
                        print(f"{key}: {value}")
            else:
                reindex = getattr(index, "reindex", None)
                if reindex is None:
                    raise UserError("this index backend cannot reindex")
                print(f"reindexed: {reindex()}")
        finally:
            index.close()
    except SetupError as exc:
        raise UserError(str(exc)) from None
    except IndexUnavailable as exc:
        raise UserError(f"the index is not reachable: {exc}") from None
    return 0
