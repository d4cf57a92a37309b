"""Turn one pydantic validation error into a key path, a plain message and what to do,
in the words of someone editing YAML rather than of a Python programmer."""

from __future__ import annotations

import difflib
import re
import types
from typing import Annotated, Any, Union, get_args, get_origin

from pydantic import BaseModel
from pydantic_core import ErrorDetails

from core.settings_refs import Path

# (key, wrong value) -> what to write instead, for the mistakes people actually make.
_VALUE_HINTS: dict[tuple[str, str], str] = {
    ("kind", "rss"): "use feed for RSS/Atom",
    ("kind", "atom"): "use feed for RSS/Atom",
    ("kind", "xml"): "use feed for RSS/Atom",
    ("kind", "bbs"): "use forum for a BBS",
    ("kind", "discuz"): "use forum, with profile: discuz_x",
    ("kind", "tieba"): "use forum, with profile: tieba",
    ("kind", "news"): "use comments for articles with comment threads, site for a whole site",
    ("kind", "article"): "use comments for an article and its comments, site for a whole site",
    ("kind", "web"): "use site",
    ("kind", "wechat"): "use wecom for a 企业微信 robot",
    ("kind", "weixin"): "use wecom for a 企业微信 robot",
    ("kind", "企业微信"): "use wecom",
    ("kind", "dingding"): "use dingtalk",
    ("kind", "钉钉"): "use dingtalk",
    ("kind", "lark"): "use feishu",
    ("kind", "飞书"): "use feishu",
    ("kind", "json"): "use generic for a plain JSON webhook",
    ("kind", "http"): "use generic for a plain JSON webhook",
    ("kind", "keyword"): "use match",
    ("kind", "any"): "use match",
    ("kind", "threshold"): "use frequency",
}

_EXPECTED = {
    "int": "a whole number",
    "float": "a number",
    "bool": "true or false",
    "string": "text",
    "list": "a list (lines starting with '- ', or [a, b])",
    "dict": "a mapping (key: value lines)",
    "model": "a mapping (key: value lines)",
    "model_attributes": "a mapping (key: value lines)",
    "time": "a time of day such as 17:00",
    "timedelta": "a duration such as 30m, 2h or 1d",
}


def _show(value: Any) -> str:
    if value is None:
        return "nothing (an empty value)"
    if isinstance(value, dict):
        return "a mapping"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, bool):
        return "true" if value else "false"
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "...'"


def _unwrap(tp: Any) -> Any:
    """Strip Annotated and `| None` so that what is left is the type a key holds."""
    while True:
        origin = get_origin(tp)
        if origin is Annotated:
            tp = get_args(tp)[0]
        elif origin in (Union, types.UnionType):
            members = [a for a in get_args(tp) if a is not type(None)]
            if len(members) != 1:
                return tp
            tp = members[0]
        else:
            return tp


def _step(tp: Any, part: str | int) -> Any:
    tp = _unwrap(tp)
    origin = get_origin(tp)
    if isinstance(tp, type) and issubclass(tp, BaseModel):
        field = tp.model_fields.get(str(part))
        return None if field is None else field.annotation
    if origin is list and isinstance(part, int):
        return get_args(tp)[0]
    if origin is dict and isinstance(part, str):
        return get_args(tp)[1]
    if origin in (Union, types.UnionType):
        # A discriminated union: the loc names the member by its `kind`.
        for member in get_args(tp):
            kind = getattr(member, "model_fields", {}).get("kind")
            if kind is not None and part in get_args(kind.annotation):
                return member
    return None


def _model_at(loc: tuple[str | int, ...]) -> type[BaseModel] | None:
    from core.settings import Settings

    tp: Any = Settings
    for part in loc:
        tp = _step(tp, part)
        if tp is None:
            return None
    tp = _unwrap(tp)
    return tp if isinstance(tp, type) and issubclass(tp, BaseModel) else None


def _union_tags(loc: tuple[str | int, ...]) -> list[str]:
    """The `kind` values a discriminated union at ``loc`` accepts."""
    from core.settings import Settings

    tp: Any = Settings
    for part in loc:
        tp = _step(tp, part)
    tags: list[str] = []
    for member in get_args(_unwrap(tp)):
        kind = getattr(member, "model_fields", {}).get("kind")
        tags += [str(t) for t in get_args(kind.annotation)] if kind is not None else []
    return tags


def _is_tag(loc: tuple[str | int, ...], index: int) -> bool:
    """Whether loc[index] is pydantic's own name for a union member, not a key in the file."""
    part = loc[index]
    if not isinstance(part, str):
        return False
    if re.search(r"[\[\(]", part):
        return True
    parent = _model_at(loc[:index])
    return parent is None and _model_at(loc[: index + 1]) is not None


def _one_of(value: Any, allowed: list[str], key: str) -> tuple[str, str]:
    message = f"{_show(value)} is not one of {', '.join(allowed)}"
    hint = _VALUE_HINTS.get((key, str(value).strip().lower()), "")
    if not hint:
        close = difflib.get_close_matches(str(value).lower(), allowed, n=1, cutoff=0.5)
        hint = f"did you mean {close[0]!r}?" if close else f"write one of {', '.join(allowed)}"
    return message, hint


def describe_error(error: ErrorDetails) -> tuple[Path, str, str]:
    """(key path as written in the file, what is wrong, what to do)."""
    loc = tuple(error["loc"])
    path: Path = tuple(p for i, p in enumerate(loc) if not _is_tag(loc, i))
    kind, value, ctx = error["type"], error.get("input"), error.get("ctx") or {}
    key = str(path[-1]) if path and isinstance(path[-1], str) else ""

    if kind == "extra_forbidden":
        model = _model_at(loc[:-1])
        valid = sorted(model.model_fields) if model else []
        close = difflib.get_close_matches(key, valid, n=1, cutoff=0.6)
        if close:
            hint = f"did you mean {close[0]!r}?"
        else:
            hint = f"valid keys here: {', '.join(valid)}" if valid else "remove it"
        return path, f"unknown key {key!r}", hint
    if kind == "missing":
        return path, f"missing required key {key!r}", f"add `{key}:` here"
    if kind in ("union_tag_invalid", "union_tag_not_found"):
        allowed = _union_tags(loc)
        tag_key = str(ctx.get("discriminator", "kind")).strip("'")
        if kind == "union_tag_not_found":
            return (
                (*path, tag_key),
                f"missing {tag_key!r}",
                f"add {tag_key}: one of " + ", ".join(allowed),
            )
        message, hint = _one_of(ctx.get("tag"), allowed, tag_key)
        return (*path, tag_key), message, hint
    if kind in ("enum", "literal_error"):
        allowed = re.findall(r"'([^']*)'", str(ctx.get("expected", ""))) or [
            str(x) for x in re.findall(r"(\S+?)(?:,| or |$)", str(ctx.get("expected", "")))
        ]
        message, hint = _one_of(value, allowed, key)
        return path, message, hint
    if kind in ("value_error", "assertion_error"):
        text = str(ctx.get("error", error["msg"]))
        message, _, hint = text.partition(" — ")
        return path, message, hint
    bounds = {
        "greater_than_equal": ("at least", "ge"),
        "greater_than": ("more than", "gt"),
        "less_than_equal": ("at most", "le"),
        "less_than": ("less than", "lt"),
    }
    if kind in bounds:
        words, name = bounds[kind]
        return path, f"must be {words} {ctx.get(name)}, got {_show(value)}", ""
    if kind == "too_short" and isinstance(value, list | str) and not value:
        return path, "must not be empty", ""
    base = kind.removesuffix("_type").removesuffix("_parsing").removesuffix("_from_datetime")
    if base in _EXPECTED and (kind.endswith(("_type", "_parsing")) or kind == base):
        return path, f"expected {_EXPECTED[base]}, got {_show(value)}", ""
    return path, error["msg"][0].lower() + error["msg"][1:], ""
