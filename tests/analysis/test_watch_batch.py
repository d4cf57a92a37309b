"""Watch rules over a batch (one scan for the posts holding a rule word) give each post's
``match``: the same rules, hits, groups and reasons."""

from __future__ import annotations

import pytest

from analysis.analyzer import Item, _cut_many
from analysis.batch_words import BatchWords
from analysis.segment import Segmenter
from analysis.watch import Cut, FieldName, RuleSet
from core.settings import load_settings
from pipelines.analysis import build_analyzer
from tests.analysis.test_segment import _corpus, _real_corpus
from tests.analysis.test_watch import CASES, RULES, WORDS

ODD = [
    ("苏大", "这\x00那 三食堂拉肚子"),  # the batch's separator inside a post
    ("", ""),
    ("苏大强", "苏大强在三食堂"),  # 苏大 inside a word: no 苏大
    ("", "苏州大学食堂食物中毒" * 30),
]


def _cuts(
    segmenter: Segmenter, posts: list[tuple[str, str]]
) -> tuple[list[dict[FieldName, Cut]], list[str]]:
    cuts = _cut_many(segmenter, [Item(text=body, title=title) for title, body in posts])
    fields: list[dict[FieldName, Cut]] = [{"title": c.title_cut, "body": c.body_cut} for c in cuts]
    return fields, [f"{c.title}\n{c.body}" for c in cuts]


def _posts() -> list[tuple[str, str]]:
    texts = _real_corpus(300)
    posts = [(title, body) for title, body, _ in CASES] + ODD
    posts += [(t[:8] if k % 4 == 0 else "", t) for k, t in enumerate(texts)]
    # The rules' words in the corpus's posts, so that many match.
    posts += [("", f"苏大{t[:20]}三食堂{t[20:40]}拉肚子") for t in texts[:200]]
    return posts


@pytest.mark.parametrize("always", [False, True])
def test_batch_matches_equal_post_by_post(always: bool) -> None:
    # ``always``: with a rule true without its words (NOT 广告), every post is evaluated.
    specs = RULES if always else [s for s in RULES if s.id != "no-ads"]
    rules = RuleSet(specs, Segmenter(WORDS))
    posts = _posts()
    cuts, texts = _cuts(rules.segmenter, posts)
    expected = [rules.match(rules.tokenize(title, body)) for title, body in posts]
    for given in (texts, None, "words"):
        got = []
        for at in range(0, len(cuts), 97):
            part = slice(at, at + 97)
            if given == "words":  # the analyzer's: the posts' cut words, numbered
                words = BatchWords([c["title"][0] + c["body"][0] for c in cuts[part]])
                got += rules.match_many(cuts[part], words=words)
            else:
                got += rules.match_many(cuts[part], given[part] if given is not None else None)
        assert got == expected
    assert sum(map(len, expected)) > 200  # posts do match


def test_batch_matches_of_the_example_rules() -> None:
    plan = build_analyzer(load_settings("config/example")).plan()
    assert plan.rules is not None
    rules = plan.rules
    posts = [(t[:10], t) for t in _corpus(500)] + [
        ("江州理工考试作弊", "有人说泄题了"),
        ("", "江理工三食堂吃了拉肚子"),
        ("", "东校区宿舍有人打架受伤"),
    ]
    cuts, texts = _cuts(rules.segmenter, posts)
    got = rules.match_many(cuts, texts)
    expected = [rules.match(rules.tokenize(title, body)) for title, body in posts]
    assert got == expected
    words = BatchWords([c["title"][0] + c["body"][0] for c in cuts])
    assert rules.match_many(cuts, words=words) == expected
    assert sum(map(len, expected)) >= 3
