"""The watch-rule expression language: words, "quoted phrases", AND / OR / NOT (or + | -) and
parentheses, parsed into a small tree; an error names its 1-based character position."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass

Cut = Callable[[str], list[str]]

# Full-width operators become ASCII one for one, so positions in the rule stay right.
_WIDE = str.maketrans({"（": "(", "）": ")", "＋": "+", "｜": "|", "－": "-", "＂": '"',
                       "“": '"', "”": '"', "　": " "})  # fmt: skip
_LEX = re.compile(r'\s*(?:(?P<op>[()+|-])|(?P<quote>"[^"]*"?)|(?P<word>[^\s()"+|]+))')
_KEYWORDS = {"AND": "+", "OR": "|", "NOT": "-"}
MAX_TERMS = 200


class RuleSyntaxError(ValueError):
    """A rule that does not parse; ``position`` is the 1-based character it stumbled on."""

    def __init__(self, message: str, position: int) -> None:
        super().__init__(f"{message} (at character {position})")
        self.message = message
        self.position = position


@dataclass(frozen=True)
class Term:
    """A word or phrase of the rule: matches its tokens as a contiguous sequence."""

    text: str
    tokens: tuple[str, ...]


@dataclass(frozen=True)
class All:
    items: tuple[Node, ...]
    group: str = ""  # the group-form group this node stands for (subject, place, ...)


@dataclass(frozen=True)
class Any:
    items: tuple[Node, ...]
    group: str = ""


@dataclass(frozen=True)
class Not:
    item: Node


Node = Term | All | Any | Not


def term(text: str, cut: Cut, position: int = 1) -> Term:
    tokens = tuple(cut(text))
    if not tokens:
        raise RuleSyntaxError(f"{text!r} has no word to match", position)
    return Term(text.strip(), tokens)


def parse(expression: str, cut: Cut) -> Node:
    """Parse an expression; juxtaposed terms mean AND, NOT binds tightest, then AND, then OR."""
    return _Parser(expression.translate(_WIDE), cut).parse()


class _Parser:
    def __init__(self, text: str, cut: Cut) -> None:
        self.cut = cut
        self.length = len(text)
        self.items: list[tuple[str, str, int]] = []  # (kind, text, 1-based position)
        pos = 0
        while text[pos:].strip():
            m = _LEX.match(text, pos)
            if m is None:  # pragma: no cover - every non-space character starts some token
                raise RuleSyntaxError("unexpected character", pos + 1)
            kind = m.lastgroup or "word"
            value = m.group(kind)
            start = m.start(kind) + 1
            if kind == "quote":
                if len(value) < 2 or not value.endswith('"'):
                    raise RuleSyntaxError('a quoted phrase is not closed with "', start)
                value = value[1:-1]
            elif kind == "word" and value in _KEYWORDS:
                kind, value = "op", _KEYWORDS[value]
            self.items.append((kind, value, start))
            pos = m.end()
        self.i = 0
        self.terms = 0

    def peek(self) -> tuple[str, str, int] | None:
        return self.items[self.i] if self.i < len(self.items) else None

    def at(self, *values: str) -> bool:
        item = self.peek()
        return item is not None and item[0] == "op" and item[1] in values

    def position(self) -> int:
        item = self.peek()
        return item[2] if item else self.length + 1

    def parse(self) -> Node:
        if not self.items:
            raise RuleSyntaxError("the expression is empty", 1)
        node = self.parse_or()
        item = self.peek()
        if item is not None:
            raise RuleSyntaxError(f"unexpected {item[1]!r}", item[2])
        return node

    def parse_or(self) -> Node:
        items = [self.parse_and()]
        while self.at("|"):
            self.i += 1
            items.append(self.parse_and())
        return items[0] if len(items) == 1 else Any(tuple(items))

    def parse_and(self) -> Node:
        items = [self.parse_not()]
        while (item := self.peek()) is not None and not self.at("|", ")"):
            if item[0] == "op" and item[1] == "+":
                self.i += 1
            items.append(self.parse_not())
        return items[0] if len(items) == 1 else All(tuple(items))

    def parse_not(self) -> Node:
        if self.at("-"):
            self.i += 1
            return Not(self.parse_not())
        if self.at("+") and self.i == 0:
            self.i += 1  # a leading "+word" only says the word is required, as it already is
        return self.parse_atom()

    def parse_atom(self) -> Node:
        item = self.peek()
        if item is None:
            raise RuleSyntaxError("the expression ends where a word was expected", self.position())
        kind, value, start = item
        self.i += 1
        if kind == "op" and value == "(":
            node = self.parse_or()
            if not self.at(")"):
                raise RuleSyntaxError("'(' is not closed with ')'", start)
            self.i += 1
            return node
        if kind == "op":
            shown = {"+": "AND / +", "|": "OR / |", "-": "NOT / -", ")": ")"}[value]
            raise RuleSyntaxError(f"{shown} where a word was expected", start)
        self.terms += 1
        if self.terms > MAX_TERMS:
            raise RuleSyntaxError(f"more than {MAX_TERMS} words", start)
        return term(value, self.cut, start)


def positive_terms(node: Node) -> list[Term]:
    """The terms not under NOT: a post matching the tree holds at least one of them, unless
    the tree is true without any word (``true_without_words``)."""
    out: list[Term] = []
    _collect(node, False, out)
    return out


def _collect(node: Node, negated: bool, out: list[Term]) -> None:
    if isinstance(node, Term):
        if not negated:
            out.append(node)
    elif isinstance(node, Not):
        _collect(node.item, not negated, out)
    else:
        for item in node.items:
            _collect(item, negated, out)


def all_terms(node: Node) -> list[Term]:
    if isinstance(node, Term):
        return [node]
    if isinstance(node, Not):
        return all_terms(node.item)
    return [t for item in node.items for t in all_terms(item)]


def true_without_words(node: Node) -> bool:
    """Whether the tree is true for a post holding none of its words (e.g. ``NOT 广告``):
    such a rule must be evaluated for every post, not only for posts with its words."""
    if isinstance(node, Term):
        return False
    if isinstance(node, Not):
        return not true_without_words(node.item)
    values = [true_without_words(item) for item in node.items]
    return all(values) if isinstance(node, All) else any(values)
