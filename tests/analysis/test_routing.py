"""Routing: place, person and matter words to units, ranked, with reasons; default unit."""

from __future__ import annotations

import pytest

from analysis.batch_words import BatchWords
from analysis.routing import Router, RoutingError, UnitSpec, unit_from_model
from analysis.segment import Segmenter

UNITS = [
    UnitSpec(
        "publicity", "党委宣传部", aliases=("宣传部",), keywords=("官方回应",), liaison="周明"
    ),
    UnitSpec(
        "logistics",
        "后勤管理处",
        aliases=("后勤处",),
        keywords=("食堂", "饭菜", "停电"),
        places=("三食堂", "东校区食堂"),
        people=("钱立新",),
        liaison="赵磊",
        contact="0571-8800-1203",
    ),
    UnitSpec(
        "security",
        "保卫处",
        keywords=("失窃", "打架", "电动车"),
        places=("东校区", "南门"),
        people=("孙振东", "孙处"),
    ),
    UnitSpec("academic", "教务处", keywords=("考试", "作弊", "成绩"), places=("第一教学楼",)),
]


@pytest.fixture(scope="module")
def router() -> Router:
    words = [w for u in UNITS for w in (u.name, *u.aliases, *u.keywords, *u.places, *u.people)]
    return Router(UNITS, Segmenter(words), default_unit="publicity")


@pytest.mark.parametrize(
    ("text", "units", "first_reason"),
    [
        ("三食堂的饭菜里有虫子", ["logistics"], "地点: 三食堂"),
        ("钱立新回应了食堂问题", ["logistics"], "人员: 钱立新"),
        ("食堂太贵了", ["logistics"], "事项: 食堂"),
        ("东校区南门有人打架", ["security"], "地点: 东校区"),
        ("孙处说电动车失窃案已立案", ["security"], "人员: 孙处"),
        ("第一教学楼考试作弊，食堂也停电了", ["academic", "logistics"], "地点: 第一教学楼"),
        ("东校区食堂停电", ["logistics"], "地点: 东校区食堂"),  # the longer place wins
        ("今天天气很好", ["publicity"], "默认: 无匹配单位"),
        ("宣传部发布官方回应", ["publicity"], "单位: 宣传部"),
    ],
)
def test_routes(router: Router, text: str, units: list[str], first_reason: str) -> None:
    routes = router.route_text(text)
    assert [r.unit_id for r in routes] == units
    assert str(routes[0].reasons[0]) == first_reason


def test_route_carries_liaison_and_all_reasons(router: Router) -> None:
    (route,) = router.route_text("三食堂停电，饭菜都凉了，钱立新不管")
    assert (route.liaison, route.contact) == ("赵磊", "0571-8800-1203")
    assert route.reason == "地点: 三食堂; 人员: 钱立新; 事项: 停电; 事项: 饭菜"
    assert route.score == 3 + 3 + 1 + 1


def test_each_word_counts_once(router: Router) -> None:
    once = router.route_text("食堂")[0].score
    assert router.route_text("食堂食堂食堂")[0].score == once


def test_limit_and_no_default() -> None:
    router = Router(UNITS, Segmenter(), default_unit=None)
    assert router.route_text("今天天气很好") == []
    assert len(router.route_text("食堂考试打架", limit=2)) == 2


@pytest.mark.parametrize(
    ("units", "default"),
    [([*UNITS, UNITS[0]], None), (UNITS, "nobody")],
)
def test_bad_directory(units: list[UnitSpec], default: str | None) -> None:
    with pytest.raises(RoutingError):
        Router(units, Segmenter(), default_unit=default)


def test_adapter_from_settings_unit() -> None:
    from core.settings import Person, Unit

    model = Unit(
        id="logistics",
        name="后勤管理处",
        keywords=["食堂"],
        places=["三食堂"],
        people=[Person(name="钱立新", role="处长", aliases=["钱处"])],
        liaison="赵磊",
    )
    spec = unit_from_model(model)
    assert spec.people == ("钱立新", "钱处")
    assert spec.places == ("三食堂",) and spec.liaison == "赵磊"


def test_a_word_listed_twice_counts_once_as_the_stronger() -> None:
    unit = UnitSpec("canteen", "饮食中心", keywords=("三食堂", "饭菜"), places=("三食堂",))
    router = Router([unit], Segmenter(["三食堂", "饮食中心"]))
    (route,) = router.route_text("饭菜难吃，三食堂")
    assert route.reason == "地点: 三食堂; 事项: 饭菜"
    assert route.score == 3 + 1


def test_a_units_route_is_made_once_per_evidence_and_again_when_the_unit_changes() -> None:
    words = [w for u in UNITS for w in (u.name, *u.aliases, *u.keywords, *u.places, *u.people)]
    router = Router(UNITS, Segmenter(words), default_unit="publicity")
    first = router.route_text("三食堂的饭菜里有虫子")
    again = router.route_text("今天三食堂的饭菜又涨价了")
    assert first == again and first[0] is again[0]  # frozen: one object serves both posts
    assert router.route_text("三食堂停电")[0].reason == "地点: 三食堂; 事项: 停电"
    logistics = router.units["logistics"]
    router.units["logistics"] = UnitSpec(
        "logistics", logistics.name, places=logistics.places, liaison="钱新"
    )
    changed = router.route_text("三食堂的饭菜里有虫子")
    assert changed[0].liaison == "钱新" and first[0].liaison == "赵磊"


@pytest.mark.parametrize("default", ["publicity", None])
def test_route_many_routes_each_post_as_route_does(router: Router, default: str | None) -> None:
    router = Router(UNITS, router.segmenter, default_unit=default)
    texts = [
        "三食堂的饭菜里有虫子",
        "",
        "今天天气很好",
        "第一教学楼考试作弊，食堂也停电了，东校区南门有人打架，孙处到了",
        "东校区食堂停电",
        "食堂",
        "钱立新回应了食堂问题",
    ]
    posts = [router.segmenter.cut(text) for text in texts] * 3
    many = router.route_many(BatchWords(posts), limit=2)
    assert many == [router.route(post, limit=2) for post in posts]
    assert sum(bool(r) and r[0].unit_id != "publicity" for r in many) == 15
    many[0].clear()  # each post has its own list
    assert many[1] == router.route(posts[1], limit=2)
