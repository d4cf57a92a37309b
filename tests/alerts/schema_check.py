"""A small JSON Schema checker for the keywords docs/webhook-payload.schema.json uses."""

from __future__ import annotations

import re
from datetime import datetime
from typing import Any

TYPES: dict[str, Any] = {
    "object": dict,
    "array": list,
    "string": str,
    "boolean": bool,
    "null": type(None),
}


def _is_type(value: Any, name: str) -> bool:
    if name == "integer":
        return isinstance(value, int) and not isinstance(value, bool)
    if name == "number":
        return isinstance(value, int | float) and not isinstance(value, bool)
    return isinstance(value, TYPES[name])


def errors(value: Any, schema: dict[str, Any], root: dict[str, Any], at: str = "$") -> list[str]:
    """Every way ``value`` breaks ``schema``; empty when it conforms."""
    if "$ref" in schema:
        target: Any = root
        for part in schema["$ref"].removeprefix("#/").split("/"):
            target = target[part]
        direct = errors(value, target, root, at)
        rest = {k: v for k, v in schema.items() if k not in ("$ref", "description")}
        return direct + (errors(value, rest, root, at) if rest else [])
    out: list[str] = []
    if "oneOf" in schema:
        found: list[list[str]] = [errors(value, s, root, at) for s in schema["oneOf"]]
        matching = sum(1 for f in found if not f)
        if matching != 1:
            out.append(f"{at}: matches {matching} of oneOf")
        if matching == 0:
            out += sorted(found, key=lambda f: len(f))[0]  # the nearest branch says what is wrong
    if "type" in schema:
        names = schema["type"] if isinstance(schema["type"], list) else [schema["type"]]
        if not any(_is_type(value, n) for n in names):
            return [f"{at}: {value!r} is not {names}"]
    if "enum" in schema and value not in schema["enum"]:
        out.append(f"{at}: {value!r} not in {schema['enum']}")
    if "const" in schema and value != schema["const"]:
        out.append(f"{at}: {value!r} != {schema['const']!r}")
    if isinstance(value, str):
        if len(value) > schema.get("maxLength", len(value)):
            out.append(f"{at}: longer than {schema['maxLength']}")
        if "pattern" in schema and not re.search(schema["pattern"], value):
            out.append(f"{at}: {value!r} does not match {schema['pattern']}")
        if schema.get("format") == "date-time":
            try:
                if datetime.fromisoformat(value).tzinfo is None:
                    out.append(f"{at}: {value!r} has no zone")
            except ValueError:
                out.append(f"{at}: {value!r} is not a date-time")
    if (
        isinstance(value, int | float)
        and not isinstance(value, bool)
        and "minimum" in schema
        and value < schema["minimum"]
    ):
        out.append(f"{at}: {value} < {schema['minimum']}")
    if isinstance(value, list):
        if len(value) > schema.get("maxItems", len(value)):
            out.append(f"{at}: more than {schema['maxItems']} items")
        for i, item in enumerate(value):
            out += errors(item, schema.get("items", {}), root, f"{at}[{i}]")
    if isinstance(value, dict):
        props = schema.get("properties", {})
        out += [f"{at}: missing {name}" for name in schema.get("required", []) if name not in value]
        if schema.get("additionalProperties") is False:
            out += [f"{at}: unexpected {name}" for name in value if name not in props]
        for name, sub in props.items():
            if name in value:
                out += errors(value[name], sub, root, f"{at}.{name}")
    return out
