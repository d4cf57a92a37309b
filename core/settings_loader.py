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

import yaml
from pydantic import ValidationError

from core.settings import ConfigError, Problem, Settings
from core.settings_errors import describe_error
from core.settings_refs import Path as KeyPath
from core.settings_refs import format_path, reference_problems

ENV_VAR = "YUQING_CONFIG"
DEFAULT_DIR = Path("config") / "example"
_REPO_DEFAULT = Path(__file__).resolve().parent.parent / DEFAULT_DIR


@dataclass(frozen=True)
class Mark:
    file: str
    line: int  # 1-based
    column: int  # 1-based


@dataclass
class LoadResult:
    settings: Settings
    warnings: list[Problem] = field(default_factory=list)
    files: list[Path] = field(default_factory=list)


# libyaml when PyYAML was built with it: five times faster, with the same marks.
_BaseLoader: type[yaml.SafeLoader] = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


class _Loader(_BaseLoader):  # type: ignore[valid-type,misc]  # a class chosen at import time
    """YAML 1.2's plain scalars: 17:00 stays text (YAML 1.1 reads it as the number 1020 in base
    60) and yes/no/on/off stay words (an exclusion word 'no' must not become false)."""


_Loader.yaml_implicit_resolvers = {
    first: [(tag, rx) for tag, rx in resolvers if not tag.endswith((":bool", ":int", ":float"))]
    for first, resolvers in _BaseLoader.yaml_implicit_resolvers.items()
}
_Loader.add_implicit_resolver(
    "tag:yaml.org,2002:bool", re.compile(r"^(?:true|True|TRUE|false|False|FALSE)$"), list("tTfF")
)
_Loader.add_implicit_resolver(
    "tag:yaml.org,2002:int", re.compile(r"^[-+]?(?:0|[1-9][0-9_]*)$"), list("-+0123456789")
)
_Loader.add_implicit_resolver(
    "tag:yaml.org,2002:float",
    re.compile(
        r"^[-+]?(?:[0-9][0-9_]*\.[0-9_]*|\.[0-9_]+)(?:[eE][-+]?[0-9]+)?$"
        r"|^[-+]?\.(?:inf|Inf|INF)$|^\.(?:nan|NaN|NAN)$"
    ),
    list("-+0123456789."),
)


def _guarded(construct: Any) -> Any:
    """A constructor whose bad input (``!!int abc``, a 13th month) is a located YAML error."""

    def guarded(loader: yaml.SafeLoader, node: yaml.Node) -> Any:
        try:
            return construct(loader, node)
        except (ValueError, TypeError, OverflowError) as exc:
            kind = str(node.tag).rsplit(":", 1)[-1]
            raise yaml.constructor.ConstructorError(
                None, None, f"cannot read {node.value!r} as {kind} ({exc})", node.start_mark
            ) from exc

    return guarded


for _tag, _construct in list(_BaseLoader.yaml_constructors.items()):
    _Loader.add_constructor(_tag, _guarded(_construct))

_ENV_REF = re.compile(r"\$\$|\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}")


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
    reader = _Reader(env)
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
    return LoadResult(settings, _sorted(warnings, files), files)


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


class _Reader:
    """Reads files one by one into one merged mapping, remembering where each key was written."""

    def __init__(self, env: Mapping[str, str]) -> None:
        self.env = env
        self.data: dict[str, Any] = {}
        self.marks: dict[KeyPath, Mark] = {}
        self.problems: list[Problem] = []
        self.warnings: list[Problem] = []
        self.unreadable: list[str] = []
        self._seen: set[int] = set()

    def read(self, file: Path) -> None:
        name = str(file)
        try:
            text = file.read_text(encoding="utf-8-sig")
        except UnicodeDecodeError as exc:
            self.problems.append(
                Problem(
                    file=name,
                    message=f"not UTF-8 text ({exc.reason} at byte {exc.start})",
                    hint="save the file as UTF-8",
                )
            )
            self.unreadable.append(name)
            return
        except OSError as exc:
            self.problems.append(Problem(file=name, message=f"cannot read: {exc.strerror}"))
            self.unreadable.append(name)
            return
        try:
            loader = _Loader(text)
            try:
                node = loader.get_single_node()
                if node is None:
                    self.warnings.append(Problem(file=name, message="empty file, ignored"))
                    return
                if not isinstance(node, yaml.MappingNode):
                    self.problems.append(
                        Problem(
                            file=name,
                            line=node.start_mark.line + 1,
                            column=node.start_mark.column + 1,
                            message="the top level must be a mapping",
                            hint="write keys such as institution:, sources: at the left edge",
                        )
                    )
                    self.unreadable.append(name)
                    return
                marks: dict[KeyPath, Mark] = {}
                self._walk(node, (), marks, name)
                self._seen.clear()
                data = loader.construct_document(node)
            finally:
                loader.dispose()
        except yaml.MarkedYAMLError as exc:
            self.problems.append(_syntax_problem(name, exc, text))
            self.unreadable.append(name)
            return
        except yaml.YAMLError as exc:
            self.problems.append(Problem(file=name, message=f"YAML error: {exc}"))
            self.unreadable.append(name)
            return
        except RecursionError:
            self.problems.append(
                Problem(
                    file=name,
                    message="nested too deeply to read",
                    hint="a configuration needs a few levels, not hundreds",
                )
            )
            self.unreadable.append(name)
            return
        self._merge(data, marks, name)

    def _walk(self, node: yaml.Node, path: KeyPath, marks: dict[KeyPath, Mark], name: str) -> None:
        # An alias is the very node of its anchor: walk it once, so that nested aliases
        # ("billion laughs") cost nothing and ${...} is substituted once. Under an alias,
        # problems are located at the alias itself.
        if id(node) in self._seen:
            return
        self._seen.add(id(node))
        if isinstance(node, yaml.MappingNode):
            seen: dict[str, int] = {}
            for key_node, value_node in node.value:
                if key_node.tag == "tag:yaml.org,2002:merge":
                    self._walk(value_node, path, marks, name)
                    continue
                key = str(key_node.value)
                here = (*path, key)
                if key in seen:
                    self.problems.append(
                        Problem(
                            file=name,
                            line=key_node.start_mark.line + 1,
                            column=key_node.start_mark.column + 1,
                            path=format_path(here),
                            message=f"key {key!r} appears twice in this mapping (also line "
                            f"{seen[key]})",
                            hint="keep one; YAML would silently use the last",
                        )
                    )
                seen[key] = key_node.start_mark.line + 1
                marks.setdefault(here, _mark(name, key_node))
                self._walk(value_node, here, marks, name)
        elif isinstance(node, yaml.SequenceNode):
            for index, item in enumerate(node.value):
                marks.setdefault((*path, index), _mark(name, item))
                self._walk(item, (*path, index), marks, name)
        elif isinstance(node, yaml.ScalarNode) and "$" in node.value:
            node.value = self._substitute(node, path, name)

    def _substitute(self, node: yaml.ScalarNode, path: KeyPath, name: str) -> str:
        def one(match: re.Match[str]) -> str:
            if match.group(0) == "$$":
                return "$"
            var, default = match.group(1), match.group(2)
            value = self.env.get(var)
            if value:
                return value
            if default is not None:
                return default
            self.problems.append(
                Problem(
                    file=name,
                    line=node.start_mark.line + 1,
                    column=node.start_mark.column + 1,
                    path=format_path(path),
                    message=f"environment variable {var} is not set",
                    hint=f"export {var}=..., or write ${{{var}:-default}}",
                )
            )
            return match.group(0)

        return _ENV_REF.sub(one, str(node.value))

    def _merge(self, data: dict[str, Any], marks: dict[KeyPath, Mark], name: str) -> None:
        for key, value in data.items():
            key = str(key)
            if key not in self.data:
                self.data[key] = value
                self.marks.update({p: m for p, m in marks.items() if p[:1] == (key,)})
            elif isinstance(self.data[key], list) and isinstance(value, list):
                # A list may be split across files (say, sources in two files): append.
                offset = len(self.data[key])
                self.data[key].extend(value)
                for p, m in marks.items():
                    if p[:1] == (key,) and len(p) > 1 and isinstance(p[1], int):
                        self.marks[(key, p[1] + offset, *p[2:])] = m
            else:
                first = self.marks[(key,)]
                self.problems.append(
                    Problem(
                        file=name,
                        line=marks[(key,)].line,
                        column=marks[(key,)].column,
                        path=key,
                        message=f"also set in {first.file}:{first.line}",
                        hint="keep it in one file (only lists may be split across files)",
                    )
                )


def _mark(name: str, node: yaml.Node) -> Mark:
    return Mark(name, node.start_mark.line + 1, node.start_mark.column + 1)


def _syntax_problem(name: str, exc: yaml.MarkedYAMLError, text: str) -> Problem:
    mark = exc.problem_mark or exc.context_mark
    what = ": ".join(x for x in (exc.context, exc.problem) if x) or "YAML syntax error"
    opened = exc.context_mark
    if opened is not None and mark is not None and opened.line != mark.line:
        # PyYAML notices an unclosed bracket or quote only lines later: name where it began.
        what += f" (the construct began at line {opened.line + 1})"
    hint = "check the indentation and quoting on this line and the one before"
    if isinstance(exc, yaml.constructor.ConstructorError):
        return Problem(
            file=name,
            line=mark.line + 1 if mark else None,
            column=mark.column + 1 if mark else None,
            message=f"YAML error: {what}",
            hint="fix the value, or drop the explicit !!tag",
        )
    lines = text.splitlines()
    if mark is not None and mark.line < len(lines) and "\t" in lines[mark.line][: mark.column + 1]:
        hint = "indent with spaces, not tabs"
    elif exc.problem and "mapping values are not allowed" in exc.problem:
        hint = "put a space after ':' only between a key and its value, or quote the text"
    return Problem(
        file=name,
        line=mark.line + 1 if mark else None,
        column=mark.column + 1 if mark else None,
        message=f"YAML syntax error: {what}",
        hint=hint,
    )


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
    routed = any(unit.webhook for unit in settings.units)
    for index, rule in enumerate(settings.alert_rules):
        if rule.enabled and not rule.destinations and not routed:
            found.append(
                _at(
                    marks,
                    ("alert_rules", index),
                    f"alert rule {rule.id!r} has no "
                    "destinations and no unit has a webhook: its alerts reach no one",
                    "add destinations: [webhook id]",
                )
            )
    return found
