"""YAML read with its locations: each file into plain data plus the line and column where every
key path was written, ${ENV} substituted, duplicate keys caught, a folder's files merged by
top-level key. YAML 1.2 scalars (17:00 is text, no is a word)."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from core.settings import Problem
from core.settings_refs import Path as KeyPath
from core.settings_refs import format_path


@dataclass(frozen=True)
class Mark:
    file: str
    line: int  # 1-based
    column: int  # 1-based


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


class Reader:
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
            self.problems.append(syntax_problem(name, exc, text))
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


def syntax_problem(name: str, exc: yaml.MarkedYAMLError, text: str) -> Problem:
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
