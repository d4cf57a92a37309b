"""Watch rules (监测规则) over segmented posts: group form (主体词 AND 地域词 AND 事件词, NOT
排除词) or an expression; scope, proximity, and which words matched where and why."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Collection, Iterable, Sequence
from dataclasses import dataclass, field, replace
from itertools import chain
from typing import Literal, Protocol

import numpy as np

from analysis.batch_words import BatchWords
from analysis.segment import Segmenter
from analysis.watch_post import Cut, FieldName, Hit, PostTokens
from analysis.watch_syntax import (
    All,
    Any,
    Node,
    Not,
    RuleSyntaxError,
    Term,
    all_terms,
    parse,
    positive_terms,
    term,
    true_without_words,
)
from analysis.word_scan import WordScan

__all__ = [
    "GROUPS",
    "Cut",
    "FieldName",
    "GroupResult",
    "Hit",
    "PostTokens",
    "RuleError",
    "RuleMatch",
    "RuleSet",
    "RuleSyntaxError",
    "WatchSpec",
    "spec_from_model",
    "specs_from_models",
]

Scope = Literal["title", "body", "both"]
GROUPS = ("subject", "place", "event")  # 主体词, 地域词, 事件词; "exclude" is 排除词
GROUP_NAMES = {"subject": "主体词", "place": "地域词", "event": "事件词", "exclude": "排除词"}
_FIELDS: dict[str, tuple[FieldName, ...]] = {
    "title": ("title",),
    "body": ("body",),
    "both": ("title", "body"),
}


class RuleError(ValueError):
    """A watch rule that cannot be used, naming the rule (and the position, for syntax)."""

    def __init__(self, rule_id: str, message: str, position: int | None = None) -> None:
        super().__init__(f"watch rule {rule_id!r}: {message}")
        self.rule_id = rule_id
        self.position = position


@dataclass(frozen=True)
class WatchSpec:
    """One watch rule as written: the groups, or an expression; scope; proximity in characters."""

    id: str
    subject: tuple[str, ...] = ()
    place: tuple[str, ...] = ()
    event: tuple[str, ...] = ()
    exclude: tuple[str, ...] = ()
    expression: str | None = None
    scope: Scope = "both"
    proximity: int | None = None
    name: str = ""


class _WatchRuleModel(Protocol):
    """The shape of core.settings.WatchRule (read, not imported: analysis stands alone)."""

    @property
    def id(self) -> str: ...
    @property
    def name(self) -> str: ...
    @property
    def subject(self) -> list[str]: ...
    @property
    def place(self) -> list[str]: ...
    @property
    def event(self) -> list[str]: ...
    @property
    def exclude(self) -> list[str]: ...
    @property
    def expression(self) -> str | None: ...
    @property
    def scope(self) -> Scope: ...
    @property
    def proximity(self) -> int | None: ...


def spec_from_model(rule: _WatchRuleModel) -> WatchSpec:
    """Adapter from the config's WatchRule model."""
    return WatchSpec(
        id=rule.id,
        name=rule.name,
        subject=tuple(rule.subject),
        place=tuple(rule.place),
        event=tuple(rule.event),
        exclude=tuple(rule.exclude),
        expression=rule.expression,
        scope=rule.scope,
        proximity=rule.proximity,
    )


@dataclass(frozen=True)
class GroupResult:
    group: str  # subject / place / event / exclude
    words: tuple[str, ...]  # the words found (exclude: the ones that blocked the match)
    satisfied: bool  # exclude: True when nothing blocked


@dataclass(frozen=True)
class RuleMatch:
    """Why a rule matched or not: the hits that made it true, the words that blocked it."""

    rule_id: str
    matched: bool
    hits: tuple[Hit, ...] = ()
    blocked_by: tuple[Hit, ...] = ()
    groups: tuple[GroupResult, ...] = ()
    reason: str = ""


_Window = tuple[FieldName, int, int] | None
_FieldsOf = Callable[[tuple[str, ...]], set[FieldName]]  # a term's words -> fields holding it
# (the terms found in scope, where a term is found) -> whether a rule holds
_Holds = Callable[[set[tuple[str, ...]], _FieldsOf], bool]


@dataclass
class _Compiled:
    spec: WatchSpec
    tree: Node
    positive: list[Term]  # terms not under NOT: a match needs at least one of them present
    needs_positive: bool  # False when the tree can be true with no positive term present


class RuleSet:
    """Compiled watch rules: each distinct word is looked up once per post, and only rules with
    at least one of their words in the post are evaluated."""

    def __init__(
        self, specs: Iterable[WatchSpec], segmenter: Segmenter, *, skip_invalid: bool = False
    ) -> None:
        self.segmenter = segmenter
        self.rules: dict[str, _Compiled] = {}
        self.errors: list[RuleError] = []  # with skip_invalid: the rules left out, and why
        self._by_word: dict[tuple[str, ...], list[str]] = defaultdict(list)
        self._by_first: dict[str, list[tuple[str, ...]]] = defaultdict(list)
        for spec in specs:
            try:
                compiled = self._compile(spec)
            except RuleError as exc:
                if not skip_invalid:
                    raise
                self.errors.append(exc)
                continue
            self.rules[spec.id] = compiled
            for t in compiled.positive:
                if t.tokens not in self._by_word:
                    self._by_first[t.tokens[0]].append(t.tokens)
                if spec.id not in self._by_word[t.tokens]:
                    self._by_word[t.tokens].append(spec.id)
        self._always = [r for r, c in self.rules.items() if not c.needs_positive]
        # Each rule's truth in scope ignoring proximity (a necessary condition when there is
        # one), compiled once: the positive terms' part is read off the found terms' set.
        self._holds = {
            rule_id: _holds(c.tree, _FIELDS[c.spec.scope], self._by_word.keys())
            for rule_id, c in self.rules.items()
        }
        # One-word terms, which may also be found as a sub-word of a longer word.
        self._single_terms = frozenset(t[0] for t in self._by_word if len(t) == 1)
        # Every word of a positive term: a post holding none (nor a word holding a one-word
        # term inside) can match no rule but those of ``_always``.
        self._rule_words = frozenset(chain.from_iterable(self._by_word))
        self._scan = WordScan(self._rule_words)
        self._no_rule_subwords: set[str] = set()
        self._rule_subwords_of: dict[str, frozenset[str]] = {}

    def _compile(self, spec: WatchSpec) -> _Compiled:
        if spec.id in self.rules:
            raise RuleError(spec.id, "two watch rules have this id")
        if spec.scope not in _FIELDS:
            raise RuleError(spec.id, f"scope {spec.scope!r} is not title, body or both")
        if spec.proximity is not None and spec.proximity < 1:
            raise RuleError(spec.id, "proximity must be at least 1 character")
        cut = self.segmenter.cut
        try:
            if spec.expression is not None:
                if spec.subject or spec.place or spec.event or spec.exclude:
                    raise RuleError(spec.id, "give either an expression or word groups, not both")
                tree = parse(spec.expression, cut)
            else:
                tree = self._groups(spec)
        except RuleSyntaxError as exc:
            raise RuleError(spec.id, str(exc), exc.position) from None
        positive = positive_terms(tree)
        return _Compiled(spec, tree, positive, not true_without_words(tree))

    def _groups(self, spec: WatchSpec) -> Node:
        items: list[Node] = []
        for group in GROUPS:
            words = getattr(spec, group)
            if words:
                items.append(Any(tuple(self._word(spec, w) for w in words), group=group))
        if not items:
            raise RuleError(spec.id, "no subject, place or event words and no expression")
        if spec.exclude:
            excluded = Any(tuple(self._word(spec, w) for w in spec.exclude), group="exclude")
            items.append(Not(excluded))
        return All(tuple(items))

    def _word(self, spec: WatchSpec, word: str) -> Term:
        try:
            return term(word, self.segmenter.cut)
        except RuleSyntaxError:
            raise RuleError(spec.id, f"{word!r} has no word to match") from None

    def tokenize(self, title: str = "", body: str = "") -> PostTokens:
        return PostTokens.of(self.segmenter, title, body)

    def match(self, post: PostTokens) -> list[RuleMatch]:
        """The rules the post matches, in rule order, each with its hits."""
        present = post.cut_words()
        inside = self._rule_subwords(present)  # the one-word terms some word holds
        present |= inside
        found: dict[tuple[str, ...], list[Hit]] = {}
        candidates = set(self._always)
        # Only the post's words that start a rule word, picked by one set operation (C).
        for word in present & self._by_first.keys():
            for tokens in self._by_first[word]:
                if all(t in present for t in tokens[1:]):
                    hits = post.find(tokens, len(tokens) > 1 or word in inside)
                    if hits:
                        found[tokens] = hits
                        candidates.update(self._by_word[tokens])
        where = {tokens: {h.field for h in hits} for tokens, hits in found.items()}

        def fields_of(tokens: tuple[str, ...]) -> set[FieldName]:
            if tokens not in where:  # only under NOT somewhere: not looked up yet
                hits = found[tokens] = [] if tokens in self._by_word else post.find(tokens)
                where[tokens] = {h.field for h in hits}
            return where[tokens]

        held: dict[tuple[FieldName, ...], set[tuple[str, ...]]] = {}  # found, per scope
        results = []
        for rule_id, rule in self.rules.items():
            if rule_id not in candidates:
                continue
            scope = _FIELDS[rule.spec.scope]
            if scope not in held:
                held[scope] = {t for t, fields in where.items() if not fields.isdisjoint(scope)}
            # A cheap yes/no first (most candidates fail); the hits and the why only for a yes.
            if self._holds[rule_id](held[scope], fields_of):
                for t in rule.positive:  # not found above: none in the post (see fields_of)
                    found.setdefault(t.tokens, [])
                result = self._evaluate(rule, post, found)
                if result.matched:
                    results.append(result)
        return results

    def match_many(
        self,
        cuts: Sequence[dict[FieldName, Cut]],
        texts: Sequence[str] | None = None,
        *,
        words: BatchWords | None = None,
    ) -> list[list[RuleMatch]]:
        """``match`` of each post of a batch (its cut per field). ``texts``: each post's
        normalised fields in one string, or any string holding every word of its cut (None:
        its words joined). A post matches only if a rule word is a word or a piece of one
        (食堂 in 三食堂), so a text holding none of them, as a substring, is passed over:
        one scan of the batch finds the few posts left (most hold none). ``words``: the
        posts' words numbered (the analyzer's): the scan then reads each distinct word once."""
        if self._always:  # a rule true without its words: every post is evaluated
            return [self.match(PostTokens(self.segmenter, cut)) for cut in cuts]
        hot: Collection[int] | None
        if words is not None:
            hot = self._holding(words)
        else:
            if texts is None:
                texts = ["\n".join("".join(part) for part, _ in cut.values()) for cut in cuts]
            hot = self._scan.holding(texts)
        return [
            self.match(PostTokens(self.segmenter, cut)) if hot is None or n in hot else []
            for n, cut in enumerate(cuts)
        ]

    def _holding(self, batch: BatchWords) -> Collection[int] | None:
        """The posts of ``batch`` with a word holding a rule word (None: every post may)."""
        held = self._scan.holding(batch.words)
        if held is None:
            return None
        holds = np.zeros(len(batch.words), np.bool_)
        holds[list(held)] = True
        return set(batch.rows()[holds[batch.ids]].tolist())

    def _rule_subwords(self, present: set[str]) -> set[str]:
        """The one-word rule terms that are sub-words of the post's words (食堂 in 三食堂).
        Each word is judged once; most hold none, and set operations skip those."""
        plain, holding = self._no_rule_subwords, self._rule_subwords_of
        if len(plain) >= 65536 or len(holding) >= 65536:  # before ``fresh``: all are judged
            plain.clear()
            holding.clear()
        # Each set operation walks the post's words, never the (growing) tables.
        fresh = [word for word in present - plain if word not in holding]
        singles = self._single_terms
        for word in fresh:
            found = {gram for _, gram in self.segmenter.subwords(word)} & singles
            if found:
                holding[word] = frozenset(found)
            else:
                plain.add(word)
        out: set[str] = set()
        for word in holding.keys() & present:
            out |= holding[word]
        return out

    def explain(self, rule_id: str, post: PostTokens) -> RuleMatch:
        """One rule against one post, matched or not, with the groups and the blocking words."""
        compiled = self.rules[rule_id]
        found: dict[tuple[str, ...], list[Hit]] = {}
        for t in all_terms(compiled.tree):
            found.setdefault(t.tokens, post.find(t.tokens))
        return self._evaluate(compiled, post, found)

    def _evaluate(
        self, rule: _Compiled, post: PostTokens, found: dict[tuple[str, ...], list[Hit]]
    ) -> RuleMatch:
        spec = rule.spec
        fields = _FIELDS[spec.scope]

        def hits_of(t: Term) -> list[Hit]:
            hits = found.get(t.tokens)
            if hits is None:  # a word only under NOT: looked up on demand
                hits = found[t.tokens] = post.find(t.tokens)
            return [Hit(t.text, h.field, h.start, h.end) for h in hits if h.field in fields]

        windows: list[_Window] = [None]
        if spec.proximity is not None:
            starts = sorted({(h.field, h.start) for t in rule.positive for h in hits_of(t)})
            windows = [(f, s, s + spec.proximity) for f, s in starts] or [None]
        for window in windows:
            outcome = _Outcome()
            if _eval(rule.tree, hits_of, window, outcome, "", False):
                return _result(spec, True, outcome, "")
        outcome = _Outcome()
        unconstrained = _eval(rule.tree, hits_of, None, outcome, "", False)
        near = f"所有词不在 {spec.proximity} 字以内" if unconstrained else ""
        return _result(spec, False, outcome, near)


@dataclass
class _Outcome:
    hits: list[Hit] = field(default_factory=list)
    blocked: list[Hit] = field(default_factory=list)


def _holds(node: Node, scope: tuple[FieldName, ...], known: Collection[tuple[str, ...]]) -> _Holds:
    """The tree's truth ignoring proximity, from the terms found in scope (those ``known``,
    looked up for every post) and, for the others (only under NOT), where each is found."""
    if isinstance(node, Term):
        tokens = node.tokens
        if tokens in known:
            return lambda held, fields_of: tokens in held
        return lambda held, fields_of: not fields_of(tokens).isdisjoint(scope)
    if isinstance(node, Not):
        item = _holds(node.item, scope, known)
        return lambda held, fields_of: not item(held, fields_of)
    # The known terms of a group in one set operation, the rest one by one.
    terms = frozenset(t.tokens for t in node.items if isinstance(t, Term) and t.tokens in known)
    rest = [
        _holds(item, scope, known)
        for item in node.items
        if not (isinstance(item, Term) and item.tokens in known)
    ]
    if isinstance(node, All):
        return lambda held, fields_of: terms <= held and all(i(held, fields_of) for i in rest)
    return lambda held, fields_of: (
        not terms.isdisjoint(held) or any(i(held, fields_of) for i in rest)
    )


def _eval(
    node: Node,
    hits_of: Callable[[Term], list[Hit]],
    window: _Window,
    out: _Outcome,
    group: str,
    negated: bool,
) -> bool:
    """Truth of the tree; every branch is evaluated (no short cut) so "why" sees every word.
    Words under NOT count anywhere in scope; the others only inside the proximity window."""
    if isinstance(node, Term):
        hits = [replace(h, group=group) for h in hits_of(node)]
        if negated:
            out.blocked += hits
            return bool(hits)
        if window is not None:
            name, lo, hi = window
            hits = [h for h in hits if h.field == name and lo <= h.start and h.end <= hi]
        out.hits += hits
        return bool(hits)
    if isinstance(node, Not):
        return not _eval(node.item, hits_of, window, out, group, not negated)
    group = node.group or group
    results = [_eval(item, hits_of, window, out, group, negated) for item in node.items]
    return all(results) if isinstance(node, All) else any(results)


def _result(spec: WatchSpec, matched: bool, out: _Outcome, near: str) -> RuleMatch:
    hits, blocked = _unique(out.hits), _unique(out.blocked)
    groups: list[GroupResult] = []
    if spec.expression is None:
        for group in GROUPS:
            if getattr(spec, group):
                words = tuple(dict.fromkeys(h.word for h in hits if h.group == group))
                groups.append(GroupResult(group, words, bool(words)))
        if spec.exclude:
            words = tuple(dict.fromkeys(h.word for h in blocked))
            groups.append(GroupResult("exclude", words, not words))
    if matched:
        if groups:
            reason = "; ".join(
                f"{GROUP_NAMES[g.group]}: {'、'.join(g.words)}" for g in groups if g.words
            )
        else:
            found = "、".join(dict.fromkeys(h.word for h in hits))
            reason = f"命中: {found}" if found else "表达式成立 (无须命中词)"
        return RuleMatch(spec.id, True, hits, (), tuple(groups), reason)
    reasons = [
        f"缺少{GROUP_NAMES[g.group]}" for g in groups if g.group != "exclude" and not g.satisfied
    ]
    if blocked:
        reasons.append("被排除: " + "、".join(dict.fromkeys(h.word for h in blocked)))
    if near:
        reasons.append(near)
    if not reasons:
        reasons.append("表达式不成立")
    return RuleMatch(spec.id, False, hits, blocked, tuple(groups), "; ".join(reasons))


def _unique(hits: list[Hit]) -> tuple[Hit, ...]:
    return tuple(sorted(dict.fromkeys(hits), key=lambda h: (h.field != "title", h.start, h.end)))


def specs_from_models(rules: Sequence[_WatchRuleModel]) -> list[WatchSpec]:
    """The enabled rules of a config, adapted."""
    return [spec_from_model(r) for r in rules if getattr(r, "enabled", True)]
