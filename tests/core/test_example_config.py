"""The example institution drives the analysis stage as the demo will: its watch rules compile
and match the posts they were written for, and its unit directory routes them."""

from __future__ import annotations

import pytest

from analysis.routing import Router, unit_from_model
from analysis.segment import Segmenter
from analysis.watch import PostTokens, RuleSet, specs_from_models
from core.settings import Settings
from core.settings_loader import load
from tests.core.config_helpers import EXAMPLE


@pytest.fixture(scope="module")
def example() -> Settings:
    return load(EXAMPLE, env={}).settings


@pytest.fixture(scope="module")
def segmenter(example: Settings) -> Segmenter:
    return Segmenter(example.dictionary_words())


@pytest.mark.parametrize(
    ("title", "body", "rule", "unit"),
    [
        ("三食堂饭菜里吃出虫子", "今天在三食堂吃饭，同学吃坏了拉肚子，江理工后勤不管吗",
         "canteen-safety", "logistics"),
        ("东校区昨晚有人打架", "江理工东校区宿舍门口两人打架，有人受伤", "campus-security",
         "security"),
        ("期末考试", "听说江州理工期末考试有人作弊泄题", "exam-fairness", "academic-affairs"),
        ("看病经历", "江理工附院误诊，家属投诉", "hospital-dispute", "hospital"),
        ("学术圈", "江理工某教授论文抄袭被撤稿", "academic-misconduct", "graduate-school"),
    ],
)  # fmt: skip
def test_example_rules_match_and_route(
    example: Settings, segmenter: Segmenter, title: str, body: str, rule: str, unit: str
) -> None:
    rules = RuleSet(specs_from_models(example.watch_rules), segmenter)
    matched = [m.rule_id for m in rules.match(PostTokens.of(segmenter, title, body)) if m.matched]
    assert rule in matched
    router = Router([unit_from_model(u) for u in example.units], segmenter, example.default_unit)
    assert router.route_text(body, title)[0].unit_id == unit


def test_example_exclusions_and_the_default_unit(example: Settings, segmenter: Segmenter) -> None:
    rules = RuleSet(specs_from_models(example.watch_rules), segmenter)
    post = PostTokens.of(segmenter, "三食堂美食推荐", "江理工三食堂美食推荐：吃坏了也值得")
    assert "canteen-safety" not in [m.rule_id for m in rules.match(post) if m.matched]
    router = Router([unit_from_model(u) for u in example.units], segmenter, example.default_unit)
    assert router.route_text("今天天气不错")[0].unit_id == "publicity"
