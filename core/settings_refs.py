"""Cross-references inside one configuration: duplicate ids, and rules, units or reports that
name a watch rule, source, unit or webhook that does not exist.

Works on plain data (parsed YAML, or a dumped Settings) and tolerates wrong shapes, so that the
loader can report dangling references alongside type errors.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

Path = tuple[str | int, ...]

# section key -> what one item is called in messages
SECTIONS = {
    "units": "unit",
    "sources": "source",
    "watch_rules": "watch rule",
    "alert_rules": "alert rule",
    "webhooks": "webhook",
}


def format_path(path: Path) -> str:
    """('sources', 2, 'kind') -> 'sources[2].kind'."""
    text = ""
    for part in path:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else str(part))
    return text


@dataclass(frozen=True)
class RefProblem:
    path: Path
    message: str
    hint: str = ""

    @property
    def where(self) -> str:
        return format_path(self.path)


def _items(data: Mapping[str, Any], section: str) -> Iterator[tuple[int, Mapping[str, Any]]]:
    items = data.get(section)
    if isinstance(items, list):
        for index, item in enumerate(items):
            if isinstance(item, Mapping):
                yield index, item


def _ids(data: Mapping[str, Any], section: str) -> list[str]:
    found = (item.get("id") for _, item in _items(data, section))
    return list(dict.fromkeys(i for i in found if isinstance(i, str)))


def _dangling(path: Path, value: Any, section: str, known: list[str]) -> RefProblem | None:
    if not isinstance(value, str) or value in known:
        return None
    what = SECTIONS[section]
    close = difflib.get_close_matches(value, known, n=1, cutoff=0.6)
    if close:
        hint = f"did you mean {close[0]!r}?"
    elif known:
        hint = f"defined {section}: {', '.join(known)}"
    else:
        hint = f"no {section} are defined — add one under `{section}:`"
    return RefProblem(path, f"no {what} with id {value!r}", hint)


def _list_refs(item: Mapping[str, Any], key: str, path: Path) -> Iterator[tuple[Path, Any]]:
    values = item.get(key)
    if isinstance(values, list):
        for index, value in enumerate(values):
            yield (*path, key, index), value


def reference_problems(data: Mapping[str, Any]) -> list[RefProblem]:
    """Every duplicate id and every reference to an id that is not defined."""
    problems: list[RefProblem] = []
    known = {section: _ids(data, section) for section in SECTIONS}

    for section, what in SECTIONS.items():
        first: dict[str, int] = {}
        for index, item in _items(data, section):
            ident = item.get("id")
            if not isinstance(ident, str):
                continue
            if ident in first:
                problems.append(
                    RefProblem(
                        (section, index, "id"),
                        f"duplicate {what} id {ident!r} (also {section}[{first[ident]}])",
                        "give each one its own id",
                    )
                )
            else:
                first[ident] = index

    refs: list[tuple[Path, Any, str]] = []
    default_unit = data.get("default_unit")
    if default_unit is not None:
        refs.append((("default_unit",), default_unit, "units"))
    for index, unit in _items(data, "units"):
        if unit.get("webhook") is not None:
            refs.append((("units", index, "webhook"), unit["webhook"], "webhooks"))
    for index, rule in _items(data, "alert_rules"):
        here: Path = ("alert_rules", index)
        refs += [(p, v, "watch_rules") for p, v in _list_refs(rule, "watch_rules", here)]
        refs += [(p, v, "webhooks") for p, v in _list_refs(rule, "destinations", here)]
        refs += [(p, v, "sources") for p, v in _list_refs(rule, "sources", here)]
        filters = rule.get("filters")
        if isinstance(filters, Mapping):
            where: Path = (*here, "filters")
            refs += [(p, v, "sources") for p, v in _list_refs(filters, "sources", where)]
            refs += [(p, v, "units") for p, v in _list_refs(filters, "units", where)]
    for key, section in (
        ("reports", "destinations"),
        ("cases", "escalate_to"),
        ("cases", "still_late_to"),
    ):
        part = data.get(key)
        if isinstance(part, Mapping):
            refs += [(p, v, "webhooks") for p, v in _list_refs(part, section, (key,))]

    for path, value, section in refs:
        problem = _dangling(path, value, section, known[section])
        if problem is not None:
            problems.append(problem)
    return problems
