"""Read the institution's YAML (one file, or a folder merged by top-level key) into Settings,
and turn every problem — YAML syntax, unknown key, wrong type, dangling reference — into a
message with file, line, key path and what to do."""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from core.settings import ConfigError, Problem, Settings
from core.settings_errors import describe_error
from core.settings_refs import Path as KeyPath
from core.settings_refs import format_path, reference_problems
from core.settings_yaml import Mark, Reader

ENV_VAR = "YUQING_CONFIG"
DEFAULT_DIR = Path("config") / "example"
_REPO_DEFAULT = Path(__file__).resolve().parent.parent / DEFAULT_DIR


@dataclass
class LoadResult:
    settings: Settings
    warnings: list[Problem] = field(default_factory=list)
    files: list[Path] = field(default_factory=list)
    marks: dict[KeyPath, Mark] = field(default_factory=dict, repr=False)

    def problem_at(self, path: KeyPath, message: str, hint: str = "") -> Problem:
        """A problem found later (say, by a stage's own check) located where ``path`` is written."""
        return _at(self.marks, path, message, hint)


def config_path(path: str | Path | None = None) -> Path:
    """The path given, else $YUQING_CONFIG, else config/example (from the working directory,
    or the one shipped next to this package)."""
    if path is not None and str(path) != "":
        return Path(path)
    if os.environ.get(ENV_VAR):
        return Path(os.environ[ENV_VAR])
    return DEFAULT_DIR if DEFAULT_DIR.exists() else _REPO_DEFAULT


def load(
    path: str | Path | None = None,
    env: Mapping[str, str] | None = None,
    *,
    skip_invalid_rules: bool = False,
) -> LoadResult:
    """Load and validate; raise ConfigError listing every problem found.

    With ``skip_invalid_rules`` (the daemon's choice, ALERTING.md R5) a watch or alert rule
    that is invalid, or names a rule that is, is left out and reported as a warning, so the
    other rules keep running; any other problem is still an error.
    """
    env = os.environ if env is None else env
    root = config_path(path)
    files, problems = _files(root)
    if not files:
        raise ConfigError(problems)
    reader = Reader(env)
    for file in files:
        reader.read(file)
    problems += reader.problems
    data, marks, warnings = reader.data, reader.marks, reader.warnings

    hooks = data.get("webhooks")
    for index, hook in enumerate(hooks if isinstance(hooks, list) else []):
        for key in ("secret", "previous_secret"):
            if isinstance(hook, dict) and key in hook:
                del hook[key]
                problems.append(
                    _at(
                        marks,
                        ("webhooks", index, key),
                        "the secret itself is in the file",
                        f"move it to an environment variable and write {key}_env: ITS_NAME",
                    )
                )

    settings, found = _validate(data, marks, env, bool(reader.unreadable))
    # Dropping a watch rule can leave an alert rule naming it: a few rounds settle that.
    for _ in range(3):
        if not skip_invalid_rules or problems:
            break
        bad = _rule_problems(found)
        if not bad or len(bad) != len(found):
            break
        warnings += [p.model_copy(update={"message": f"rule skipped: {p.message}"}) for p in bad]
        for section in _RULE_SECTIONS:
            drop = {index for p in bad for sec, index in [_rule_of(p)] if sec == section}
            data, marks = _without(data, marks, section, drop)
        settings, found = _validate(data, marks, env, False)
    problems += found

    if problems or settings is None:
        raise ConfigError(_sorted(problems, files))
    warnings += _warnings(settings, marks, env)
    return LoadResult(settings, _sorted(warnings, files), files, marks)


_RULE_SECTIONS = ("watch_rules", "alert_rules")


def _validate(
    data: dict[str, Any], marks: Mapping[KeyPath, Mark], env: Mapping[str, str], partial: bool
) -> tuple[Settings | None, list[Problem]]:
    problems: list[Problem] = []
    settings: Settings | None = None
    try:
        settings = Settings.model_validate(data, context={"env": env, "check_references": False})
    except ValidationError as exc:
        for error in exc.errors(include_url=False):
            # A key in a file that did not parse is not missing: say nothing about it.
            if error["type"] == "missing" and partial:
                continue
            path, message, hint = describe_error(error)
            problems.append(_at(marks, path, message, hint))
    for ref in reference_problems(data):
        problems.append(_at(marks, ref.path, ref.message, ref.hint))
    return settings, problems


_RULE_PATH = re.compile(r"^(watch_rules|alert_rules)\[(\d+)\]")


def _rule_of(problem: Problem) -> tuple[str, int]:
    match = _RULE_PATH.match(problem.path)
    return (match.group(1), int(match.group(2))) if match else ("", -1)


def _rule_problems(problems: list[Problem]) -> list[Problem]:
    """The problems that lie inside one watch or alert rule (not the whole section)."""
    return [p for p in problems if _rule_of(p)[0]]


def _without(
    data: dict[str, Any], marks: dict[KeyPath, Mark], section: str, drop: set[int]
) -> tuple[dict[str, Any], dict[KeyPath, Mark]]:
    """``data`` without the items ``drop`` of ``section``, with the marks renumbered to match."""
    if not drop:
        return data, marks
    kept = [i for i in range(len(data[section])) if i not in drop]
    renumber = {old: new for new, old in enumerate(kept)}
    new_marks: dict[KeyPath, Mark] = {}
    for path, mark in marks.items():
        if path[:1] == (section,) and len(path) > 1 and isinstance(path[1], int):
            if path[1] in renumber:
                new_marks[(section, renumber[path[1]], *path[2:])] = mark
        else:
            new_marks[path] = mark
    return {**data, section: [data[section][i] for i in kept]}, new_marks


def _files(root: Path) -> tuple[list[Path], list[Problem]]:
    if root.is_dir():
        files = sorted(p for p in root.iterdir() if p.suffix in (".yaml", ".yml") and p.is_file())
        if not files:
            return [], [
                Problem(
                    file=str(root),
                    message="no .yaml files in this folder",
                    hint="point at the folder holding institution.yaml etc.",
                )
            ]
        return files, []
    if root.is_file():
        return [root], []
    return [], [
        Problem(
            file=str(root),
            message="no such file or folder",
            hint=f"pass a config path, or set {ENV_VAR}",
        )
    ]


def _at(marks: Mapping[KeyPath, Mark], path: KeyPath, message: str, hint: str) -> Problem:
    """A problem located at the deepest part of ``path`` that was written in a file."""
    for cut in range(len(path), -1, -1):
        mark = marks.get(path[:cut])
        if mark is not None:
            return Problem(
                file=mark.file,
                line=mark.line,
                column=mark.column,
                path=format_path(path),
                message=message,
                hint=hint,
            )
    return Problem(
        file=next(iter(marks.values())).file if marks else "<config>",
        path=format_path(path),
        message=message,
        hint=hint,
    )


def _sorted(problems: list[Problem], files: list[Path]) -> list[Problem]:
    order = {str(f): i for i, f in enumerate(files)}
    return sorted(problems, key=lambda p: (order.get(p.file, -1), p.line or 0, p.column or 0))


def _warnings(
    settings: Settings, marks: Mapping[KeyPath, Mark], env: Mapping[str, str]
) -> list[Problem]:
    """Things that load but probably are not what the office wants."""
    found: list[Problem] = []
    for index, hook in enumerate(settings.webhooks):
        for key in ("secret_env", "previous_secret_env"):
            var = getattr(hook, key)
            if var and not env.get(var):
                found.append(
                    _at(
                        marks,
                        ("webhooks", index, key),
                        f"environment variable {var} is not set: requests to this "
                        "webhook will not be signed",
                        f"export {var} before starting",
                    )
                )
    for index, hook in enumerate(settings.webhooks):
        if hook.kind == "generic" and hook.secret and not hook.secrets[0].startswith("whsec_"):
            found.append(
                _at(
                    marks,
                    ("webhooks", index, "secret_env"),
                    f"{hook.secret_env} does not hold a Standard Webhooks secret (whsec_ + base64)",
                    "the case system's receiver will reject the "
                    "signature; generate one with alerts.signing.new_secret()",
                )
            )
    for index, token in enumerate(settings.api.tokens):
        if token.token is None:
            found.append(
                _at(
                    marks,
                    ("api", "tokens", index, "token_env"),
                    f"environment variable {token.token_env} is not set: the API "
                    f"token {token.name!r} cannot be used",
                    f"export {token.token_env}",
                )
            )
    if settings.storage.evidence_days < 180:
        found.append(
            _at(
                marks,
                ("storage", "evidence_days"),
                f"evidence kept {settings.storage.evidence_days} days, under the 6 "
                "months the rules ask for (DOMAIN.md §6)",
                "use 180 or more",
            )
        )
    # A rule without destinations goes to the office's webhooks: those that are no unit's own.
    owned = {unit.webhook for unit in settings.units if unit.webhook}
    office = [hook.id for hook in settings.webhooks if hook.id not in owned]
    for index, rule in enumerate(settings.alert_rules):
        if rule.enabled and not rule.destinations and not office:
            found.append(
                _at(
                    marks,
                    ("alert_rules", index),
                    f"alert rule {rule.id!r} has no destinations and the office has no webhook "
                    "(every webhook is a unit's own, or there are none): only units with a "
                    "webhook hear of its alerts",
                    "add destinations: [webhook id]",
                )
            )
    return found
