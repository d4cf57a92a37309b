"""The analyzer's results made in bulk (slot by slot) are the results __init__ makes."""

from __future__ import annotations

import pytest

from analysis.analyzer import Analysis, ClusterInfo, _made
from analysis.category import CategoryResult
from analysis.keywords import Keyword
from analysis.routing import Reason, Route
from analysis.sentiment import SentimentResult
from analysis.severity import Assessment
from core.post import Category, Sentiment, Severity


def test_made_equals_init_and_stays_frozen() -> None:
    clusters = _made(ClusterInfo, ["p1", "p2"], [3, 1], [2, 1], [False, True])
    assert clusters == [ClusterInfo("p1", 3, 2, False), ClusterInfo("p2", 1, 1, True)]
    mood = SentimentResult(Sentiment.NEGATIVE, 0.2)
    category = CategoryResult(Category.APPEAL, ("？",), {Category.APPEAL: 1.0})
    route = Route("logistics", "后勤管理处", "赵磊", "", 3.0, (Reason("place", "三食堂"),))
    severity = Assessment(Severity.GENERAL, "一般", 1.5, ("负面",))
    columns: tuple[list[object], ...] = (
        [["食堂"], []],
        [[Keyword("食堂", 0.5)], []],
        [mood, mood],
        [category, category],
        [[route], []],
        [[], []],
        [severity, severity],
        [clusters[0], None],
    )
    made = _made(Analysis, *columns)
    assert made == [Analysis(*row) for row in zip(*columns, strict=True)]
    assert made[1].cluster is None and made[0].units[0].liaison == "赵磊"
    with pytest.raises(AttributeError):
        made[0].tokens = []  # type: ignore[misc]  # frozen: the point of the test
