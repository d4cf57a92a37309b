"""The search language people type, parsed into a small tree that each backend compiles itself.

Words, "quoted phrases", AND / OR / NOT (or ``+word``, ``|``, ``-word``) and parentheses;
juxtaposed terms mean AND. User text never reaches a backend as query syntax: every leaf is a
list of tokens that the backend matches literally.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass

Tokenizer = Callable[[str], list[str]]


class QueryError(ValueError):
    """A query that does not parse, with the character position of the problem."""

    def __init__(self, message: str, position: int) -> None:
        super().__init__(f"{message} (at character {position + 1})")
        self.position = position


@dataclass(frozen=True)
class Term:
    """Every token must occur; ``phrase`` means adjacent and in order."""

    tokens: tuple[str, ...]
    phrase: bool = False


@dataclass(frozen=True)
class And:
    items: tuple[Node, ...]


@dataclass(frozen=True)
class Or:
    items: tuple[Node, ...]


@dataclass(frozen=True)
class Not:
    item: Node


Node = Term | And | Or | Not

_TOKEN = re.compile(
    r'\s*(?:(?P<lparen>\()|(?P<rparen>\))|(?P<quote>"(?P<phrase>[^"]*)"?)'
    r'|(?P<word>[^\s()"]+))'
)
MAX_QUERY_LENGTH = 500
MAX_TERMS = 64


def parse_query(text: str, tokenize: Tokenizer) -> Node | None:
    """Parse ``text``; ``None`` for an empty query (match everything). Raises QueryError."""
    if len(text) > MAX_QUERY_LENGTH:
        raise QueryError(f"query is longer than {MAX_QUERY_LENGTH} characters", MAX_QUERY_LENGTH)
    return _Parser(text, tokenize).parse()


class _Parser:
    def __init__(self, text: str, tokenize: Tokenizer) -> None:
        self.tokenize = tokenize
        self.items: list[tuple[str, str, int]] = []
        pos = 0
        while pos < len(text):
            if text[pos:].strip() == "":
                break
            m = _TOKEN.match(text, pos)
            if m is None:  # pragma: no cover - the pattern accepts every non-space character
                raise QueryError("unexpected character", pos)
            start = m.start(m.lastgroup or 0)
            if m.group("lparen"):
                self.items.append(("(", "(", start))
            elif m.group("rparen"):
                self.items.append((")", ")", start))
            elif m.group("quote") is not None:
                if not m.group("quote").endswith('"') or len(m.group("quote")) == 1:
                    raise QueryError('a quoted phrase is not closed with "', start)
                self.items.append(("phrase", m.group("phrase"), start))
            else:
                word = m.group("word")
                kind = word if word in ("AND", "OR", "NOT") else "word"
                if kind == "word" and word[0] in "+-|" and len(word) > 1 and word[0] != word[1]:
                    # "+a" means AND a, "-a" means NOT a, "|a" means OR a.
                    op = {"+": "AND", "-": "NOT", "|": "OR"}[word[0]]
                    self.items.append((op, word[0], start))
                    self.items.append(("word", word[1:], start + 1))
                    pos = m.end()
                    continue
                if word in ("+", "|", "-"):
                    kind = {"+": "AND", "|": "OR", "-": "NOT"}[word]
                self.items.append((kind, word, start))
            pos = m.end()
        self.i = 0
        self.terms = 0
        self.length = len(text)

    def peek(self) -> str | None:
        return self.items[self.i][0] if self.i < len(self.items) else None

    def position(self) -> int:
        return self.items[self.i][2] if self.i < len(self.items) else self.length

    def parse(self) -> Node | None:
        if not self.items:
            return None
        node = self.parse_or()
        if self.i < len(self.items):
            kind = self.peek()
            raise QueryError(
                "unexpected ')'" if kind == ")" else f"unexpected {self.items[self.i][1]!r}",
                self.position(),
            )
        return node

    def parse_or(self) -> Node:
        items = [self.parse_and()]
        while self.peek() == "OR":
            self.i += 1
            items.append(self.parse_and())
        return items[0] if len(items) == 1 else Or(tuple(items))

    def parse_and(self) -> Node:
        items = [self.parse_not()]
        while self.peek() in ("AND", "NOT", "word", "phrase", "("):
            if self.peek() == "AND":
                self.i += 1
            items.append(self.parse_not())
        return items[0] if len(items) == 1 else And(tuple(items))

    def parse_not(self) -> Node:
        if self.peek() == "AND" and self.items[self.i][1] == "+":
            self.i += 1  # a leading "+word" only says the word is required, as it already is
        if self.peek() == "NOT":
            self.i += 1
            return Not(self.parse_not())
        return self.parse_atom()

    def parse_atom(self) -> Node:
        kind = self.peek()
        pos = self.position()
        if kind is None:
            raise QueryError("the query ends where a word was expected", pos)
        if kind == "(":
            self.i += 1
            node = self.parse_or()
            if self.peek() != ")":
                raise QueryError("'(' is not closed with ')'", pos)
            self.i += 1
            return node
        if kind in ("word", "phrase"):
            text = self.items[self.i][1]
            self.i += 1
            tokens = tuple(t for t in self.tokenize(text) if t.strip())
            if not tokens:
                raise QueryError(f"{text!r} has nothing to search for", pos)
            self.terms += 1
            if self.terms > MAX_TERMS:
                raise QueryError(f"more than {MAX_TERMS} search terms", pos)
            return Term(tokens, phrase=kind == "phrase" and len(tokens) > 1)
        raise QueryError(f"{self.items[self.i][1]!r} needs a word before and after it", pos)
