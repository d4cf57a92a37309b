"""Compile a SearchQuery into Elasticsearch query DSL: the parsed tree (store/query.py) becomes
match / match_phrase clauses on pre-segmented token fields, never query_string."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from store.base import SearchQuery
from store.query import And, Node, Not, Or, Term

# Search-mode tokens: a long word also yields its sub-words, so 大学 finds 苏州大学.
TOKEN_FIELDS = ["title_tokens^2", "text_tokens"]
# Precise-mode words with positions: a quoted phrase must be these words, adjacent, in order.
PHRASE_FIELDS = ["title_words", "text_words"]

Clause = dict[str, Any]


def compile_node(node: Node) -> Clause:
    if isinstance(node, Term):
        return _term(node)
    if isinstance(node, And):
        return {"bool": {"must": [compile_node(n) for n in node.items]}}
    if isinstance(node, Or):
        return {
            "bool": {"should": [compile_node(n) for n in node.items], "minimum_should_match": 1}
        }
    if isinstance(node, Not):
        return {"bool": {"must_not": [compile_node(node.item)]}}
    raise TypeError(f"not a query node: {node!r}")  # pragma: no cover - the tree is closed


def _term(term: Term) -> Clause:
    text = " ".join(term.tokens)
    if term.phrase:
        return {
            "bool": {
                "should": [{"match_phrase": {f: {"query": text}}} for f in PHRASE_FIELDS],
                "minimum_should_match": 1,
            }
        }
    # Every token must occur, in the title or in the text (a post is one document).
    return {
        "multi_match": {
            "query": text,
            "fields": TOKEN_FIELDS,
            "type": "cross_fields",
            "operator": "and",
        }
    }


def _millis(value: datetime) -> int:
    if value.tzinfo is None:
        raise ValueError("naive datetime in a search: give a time zone")
    return int(value.timestamp() * 1000)


def filters(query: SearchQuery) -> list[Clause]:
    """The filters of ``query``: each list matches any of its values; time is [since, until)."""
    out: list[Clause] = []
    for field, values in (
        ("source", query.sources),
        ("site", query.sites),
        ("sentiment", query.sentiments),
        ("category", query.categories),
        ("severity", query.severities),
        ("units", query.units),
    ):
        if values:
            out.append({"terms": {field: [str(v) for v in values]}})
    if query.since is not None or query.until is not None:
        bounds: dict[str, int] = {}
        if query.since is not None:
            bounds["gte"] = _millis(query.since)
        if query.until is not None:
            bounds["lt"] = _millis(query.until)
        out.append({"range": {"time": {**bounds, "format": "epoch_millis"}}})
    return out


def build(tree: Node | None, query: SearchQuery) -> Clause:
    """The whole query: the words score, the filters only select."""
    return {
        "bool": {
            "must": [compile_node(tree)] if tree is not None else [{"match_all": {}}],
            "filter": filters(query),
        }
    }
