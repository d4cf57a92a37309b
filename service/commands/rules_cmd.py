"""`yuqing rules test RULE --text TEXT` (does a watch rule match, which words, and why) and
`yuqing rules check` (compile every configured watch rule, report the ones that do not)."""

from __future__ import annotations

import argparse
import json
import re
import sys
from dataclasses import asdict

from analysis.segment import Segmenter
from analysis.watch import GROUP_NAMES, RuleError, RuleMatch, RuleSet, WatchSpec, spec_from_model
from core.settings import Settings
from service.cli import UserError
from service.wiring import SetupError, segmenter_for, settings_from_args

FIELD_NAMES = {"title": "标题", "body": "正文"}


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = sub.add_parser("rules", help="try out and check watch rules")
    actions = parser.add_subparsers(dest="rules_action", metavar="ACTION", required=True)

    test = actions.add_parser(
        "test",
        help="does a rule match a text? which words matched, and why",
        description="RULE is a watch rule id from the config, or an expression such as "
        "'(江州理工 OR 江理工) AND (作弊 | 泄题) -招生简章'. Exit status 0 when it matches, "
        "1 when it does not, 2 when the rule is wrong.",
    )
    test.add_argument("rule", metavar="RULE", help="a watch rule id or an expression")
    test.add_argument("--text", required=True, help="the post's body")
    test.add_argument("--title", default="", help="the post's title")
    test.add_argument(
        "--scope", choices=("title", "body", "both"), help="for an expression (default both)"
    )
    test.add_argument("--proximity", type=int, help="for an expression: within N characters")
    test.add_argument("--tokens", action="store_true", help="also print the segmented words")
    test.add_argument("--json", action="store_true", help="print the result as JSON")
    test.set_defaults(func=test_command)

    check = actions.add_parser("check", help="compile every configured watch rule")
    check.set_defaults(func=check_command)


def _settings(args: argparse.Namespace) -> Settings:
    try:
        return settings_from_args(args)
    except SetupError as exc:
        raise UserError(str(exc)) from None


def _spec(args: argparse.Namespace, settings: Settings | None) -> WatchSpec:
    if settings is not None:
        for rule in settings.watch_rules:
            if rule.id == args.rule:
                if args.scope or args.proximity:
                    raise UserError("--scope and --proximity are for expressions, not rule ids")
                return spec_from_model(rule)
        if re.fullmatch(r"[A-Za-z0-9_.-]+", args.rule) and settings.watch_rules:
            known = ", ".join(r.id for r in settings.watch_rules)
            print(
                f"yuqing: note: no watch rule has the id {args.rule!r} (there are: {known}); "
                "testing it as an expression",
                file=sys.stderr,
            )
    if args.proximity is not None and args.proximity < 1:
        raise UserError("--proximity must be at least 1")
    return WatchSpec(
        id="expression", expression=args.rule, scope=args.scope or "both", proximity=args.proximity
    )


def test_command(args: argparse.Namespace) -> int:
    try:
        settings: Settings | None = settings_from_args(args, delivers=False)
    except SetupError as exc:
        settings = None
        detail = " ".join(line.strip() for line in str(exc).splitlines()[:2])
        print(f"yuqing: warning: config not loaded: {detail}", file=sys.stderr)
        print("yuqing: warning: testing with jieba's dictionary only", file=sys.stderr)
    spec = _spec(args, settings)
    segmenter = segmenter_for(settings) if settings is not None else Segmenter()
    try:
        rules = RuleSet([spec], segmenter)
    except RuleError as exc:
        if exc.position is not None and spec.expression is not None:
            print(
                f"  {spec.expression}\n  {_caret(spec.expression, exc.position)}", file=sys.stderr
            )
        raise UserError(str(exc)) from None
    post = rules.tokenize(args.title, args.text)
    result = rules.explain(spec.id, post)
    if args.json:
        payload = asdict(result)
        if args.tokens:
            payload["tokens"] = {f: [t.word for t in ts] for f, ts in post.fields.items()}
        print(json.dumps(payload, ensure_ascii=False, indent=2))
    else:
        print("\n".join(_describe(spec, result)))
        if args.tokens:
            for name, tokens in post.fields.items():
                print(f"  {FIELD_NAMES[name]}分词: {' / '.join(t.word for t in tokens)}")
    return 0 if result.matched else 1


def _caret(expression: str, position: int) -> str:
    # Wide (CJK) characters take two columns in a terminal.
    pad = sum(2 if ord(ch) > 0x2E80 else 1 for ch in expression[: position - 1])
    return " " * pad + "^"


def _describe(spec: WatchSpec, result: RuleMatch) -> list[str]:
    title = f"{spec.id} ({spec.name})" if spec.name else spec.id
    lines = [f"rule {title}: {'MATCHED 命中' if result.matched else 'no match 未命中'}"]
    if spec.expression is not None:
        lines.append(f"  expression: {spec.expression}")
    lines.append(
        f"  scope: {spec.scope}" + (f", proximity: {spec.proximity}" if spec.proximity else "")
    )
    for group in result.groups:
        mark = "✓" if group.satisfied else "✗"
        found = "、".join(group.words) or "—"
        label = GROUP_NAMES[group.group]
        if group.group == "exclude":
            lines.append(
                f"  {mark} {label}: {'blocked by ' + found if group.words else 'none found'}"
            )
        else:
            lines.append(f"  {mark} {label}: {found}")
    for hit in result.hits:
        lines.append(f"    + {hit.word}  {FIELD_NAMES[hit.field]} {hit.start + 1}-{hit.end}")
    for hit in result.blocked_by:
        lines.append(f"    - {hit.word}  {FIELD_NAMES[hit.field]} {hit.start + 1}-{hit.end}")
    lines.append(f"  why: {result.reason}")
    return lines


def check_command(args: argparse.Namespace) -> int:
    settings = _settings(args)
    specs = [spec_from_model(r) for r in settings.watch_rules if r.enabled]
    rules = RuleSet(specs, segmenter_for(settings), skip_invalid=True)
    for error in rules.errors:
        print(f"yuqing: {error}", file=sys.stderr)
    print(f"{len(rules.rules)} watch rules compile, {len(rules.errors)} do not")
    return 1 if rules.errors else 0
