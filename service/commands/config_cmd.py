"""`yuqing config check|show|schema`: validate the institution's configuration, print it as
loaded, or print its JSON Schema for editors."""

from __future__ import annotations

import argparse
import json
import re
import sys
from typing import Any, cast

from core.post import SourceKind
from core.settings import ConfigError, Problem, Settings
from core.settings_loader import LoadResult, config_path, load


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = sub.add_parser("config", help="check or show the institution's configuration")
    actions = parser.add_subparsers(dest="config_action", metavar="ACTION", required=True)

    check = actions.add_parser(
        "check", help="validate a config file or folder; list every problem with file and line"
    )
    check.add_argument("path", nargs="?", help="config file or folder (overrides --config)")
    check.add_argument("--quiet", "-q", action="store_true", help="do not print warnings")
    check.set_defaults(func=check_command)

    show = actions.add_parser("show", help="print the configuration as loaded, as JSON")
    show.add_argument("path", nargs="?", help="config file or folder (overrides --config)")
    show.set_defaults(func=show_command)

    schema = actions.add_parser("schema", help="print the JSON Schema of the configuration")
    schema.set_defaults(func=schema_command)


def _path(args: argparse.Namespace) -> str | None:
    path: str | None = args.path or getattr(args, "config", None)
    return path


def check_command(args: argparse.Namespace) -> int:
    where = config_path(_path(args))
    try:
        result = load(where)
        problems = stage_problems(result)
        if problems:
            raise ConfigError(problems)
    except ConfigError as exc:
        for problem in exc.problems:
            print(problem, file=sys.stderr)
        count = len(exc.problems)
        print(f"{count} problem{'s' if count != 1 else ''} in {where}", file=sys.stderr)
        return 1
    if not args.quiet:
        for warning in result.warnings:
            print(f"warning: {warning}", file=sys.stderr)
    s = result.settings
    print(
        f"OK: {s.institution.name}, {len(s.sources)} sources, {len(s.units)} units, "
        f"{len(s.watch_rules)} watch rules, {len(s.alert_rules)} alert rules"
    )
    return 0


def show_command(args: argparse.Namespace) -> int:
    try:
        settings = load(config_path(_path(args))).settings
    except ConfigError as exc:
        print(exc, file=sys.stderr)
        return 1
    # Secrets are excluded from dumps by the model; say only whether each one was found.
    data = settings.model_dump(mode="json")
    for hook, dumped in zip(settings.webhooks, data["webhooks"], strict=True):
        dumped["secret_set"] = hook.secret is not None
    print(json.dumps(data, ensure_ascii=False, indent=2))
    return 0


def schema_command(args: argparse.Namespace) -> int:
    print(json.dumps(settings_schema(), ensure_ascii=False, indent=2))
    return 0


def settings_schema() -> dict[str, Any]:
    """The JSON Schema of one config file, for editors (config/schema/settings.schema.json).
    The secret fields are filled from the environment, never written: they are left out."""
    schema = Settings.model_json_schema()
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["title"] = "Yuqing institution configuration"
    defs = schema["$defs"]
    for name, hidden in (("Webhook", ("secret", "previous_secret")), ("ApiToken", ("token",))):
        for field in hidden:
            defs[name]["properties"].pop(field, None)
    # The short forms the loader also accepts: "2 working_days", `schedule: 30m`; and tiers
    # left out keep their DOMAIN.md defaults.
    defs["Deadline"] = {
        "anyOf": [
            {
                "type": "string",
                "pattern": r"^\s*\d+\s*\S.*$",
                "examples": ["3 hours", "1 day", "2 working_days"],
            },
            defs["Deadline"],
        ]
    }
    defs["Schedule"] = {"anyOf": [{"type": "string"}, {"type": "number"}, defs["Schedule"]]}
    defs["Tiers"].pop("required", None)
    defs["Tier"].pop("required", None)
    return schema


def stage_problems(result: LoadResult) -> list[Problem]:
    """What the later stages would refuse at run time, checked now with their own code: forum
    profiles and selectors, comment-API settings, watch-rule expressions."""
    # Imported here: the crawler and the analysis stage are only needed by this check.
    from analysis.segment import Segmenter
    from analysis.watch import RuleError, RuleSet, spec_from_model
    from crawler.extract.comments import CommentConfig, CommentConfigError
    from crawler.extract.profiles import BUILT_IN, ForumProfile, ProfileError

    settings, problems = result.settings, []
    for index, source in enumerate(settings.sources):
        here = ("sources", index)
        if source.kind is SourceKind.FORUM and source.selectors:
            try:
                ForumProfile.from_selectors(source.id, dict(source.selectors))
            except ProfileError as exc:
                problems.append(result.problem_at((*here, "selectors"), _plain(exc, source.id)))
        elif source.kind is SourceKind.FORUM and source.profile not in (None, *BUILT_IN):
            problems.append(
                result.problem_at(
                    (*here, "profile"),
                    f"no built-in forum profile {source.profile!r}",
                    f"use one of {', '.join(sorted(BUILT_IN))}, or give `selectors:`",
                )
            )
        if source.comments:
            try:
                CommentConfig.from_mapping(source.id, dict(source.comments))
            except CommentConfigError as exc:
                problems.append(result.problem_at((*here, "comments"), _plain(exc, source.id)))
    # Compiling a rule asks the segmenter only whether each word has something to match, which
    # any cut keeping letters and digits answers alike; the full dictionary takes seconds to load.
    segmenter = cast(Segmenter, _LetterCut())
    for index, rule in enumerate(settings.watch_rules):
        try:
            RuleSet([spec_from_model(rule)], segmenter)
        except RuleError as exc:
            key = (
                ("watch_rules", index, "expression") if rule.expression else ("watch_rules", index)
            )
            problems.append(result.problem_at(key, str(exc).split(": ", 1)[-1]))
    return problems


def _plain(exc: Exception, source_id: str) -> str:
    """The stage's message without the "source 'x': " prefix the location already gives."""
    return str(exc).removeprefix(f"source {source_id!r}: ")


class _LetterCut:
    """Runs of letters and digits (Chinese characters count), after the same normalisation."""

    def cut(self, text: str) -> list[str]:
        from analysis.normalize import normalize

        return re.findall(r"[^\W_]+", normalize(text))
