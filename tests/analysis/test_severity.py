"""Severity tiers from explicit signals: table-driven, each row with the reasons it must give."""

from __future__ import annotations

from dataclasses import replace

import pytest

from analysis.severity import (
    SeverityInput,
    SeverityPolicy,
    assess,
    escalation_words,
)
from core.post import Category, Sentiment, Severity

G, M, E = Severity.GENERAL, Severity.MAJOR, Severity.ESPECIALLY_MAJOR

CASES = [
    # (what, input, tier, reason fragments that must appear)
    (
        "a quiet suggestion",
        SeverityInput(text="建议图书馆延长开放时间到晚上十一点"),
        G,
        ["无升级信号"],
    ),
    (
        "a negative local complaint",
        SeverityInput(text="宿舍热水又停了，太差劲", negativity=0.8, category=Category.APPEAL),
        G,
        ["负面情绪 0.80 (+1)", "分类: 询问/质疑/诉求 (+1)"],
    ),
    (
        "a negative label without a probability counts as strongly negative",
        SeverityInput(sentiment=Sentiment.NEGATIVE, category=Category.APPEAL),
        G,
        ["负面情绪 1.00 (+2)"],
    ),
    (
        "positive posts add nothing for sentiment",
        SeverityInput(negativity=0.1, sentiment=Sentiment.POSITIVE),
        G,
        ["无升级信号"],
    ),
    (
        "defamation weighs most, spreading over sites",
        SeverityInput(
            text="揭露某医院黑幕", negativity=0.95, category=Category.DEFAMATION, sites=3
        ),
        M,
        ["分类: 捏造/歪曲/诽谤/煽动 (+3)", "传播: 3 个网站 (+1)"],
    ),
    (
        "hype spreading in a cluster",
        SeverityInput(category=Category.HYPE, negativity=0.7, cluster_size=40, replies=25),
        M,
        ["转载: 40 篇相似帖 (+2)", "回复: 25 条 (+1)"],
    ),
    (
        "a death is never general, even on one quiet post",
        SeverityInput(text="听说昨晚宿舍有学生跳楼了"),
        M,
        ["升级词: 跳楼 (+4)"],
    ),
    (
        "escalation words on one post without reach stay at most major",
        SeverityInput(
            text="学生食物中毒，记者已经到了，家长要去教育厅上访",
            negativity=0.95,
            category=Category.APPEAL,
        ),
        M,
        ["升级词: 食物中毒、记者、教育厅、上访 (+6)", "未见传播: 最高重大"],
    ),
    (
        "the same with reach is especially major",
        SeverityInput(
            text="学生食物中毒，记者已经到了，家长要去教育厅上访",
            negativity=0.95,
            category=Category.APPEAL,
            cluster_size=12,
            sites=3,
        ),
        E,
        ["转载: 12 篇相似帖 (+1)", "传播: 3 个网站 (+1)"],
    ),
    (
        "news pickup on five sites is especially major whatever else",
        SeverityInput(text="某区政府回应", news_pickup=True, sites=5),
        E,
        ["新闻网站转载 (+4)", "传播: 5 个网站 (+2)", "至少特别重大"],
    ),
    (
        "news pickup given as a site kind",
        SeverityInput(site_kinds=frozenset({"forum", "news"}), sites=2),
        M,
        ["新闻网站转载 (+4)"],
    ),
    ("velocity alone", SeverityInput(velocity=60, cluster_size=4), G, ["速度: 60 篇/小时 (+2)"]),
    (
        "wide, fast spread of negative hype",
        SeverityInput(
            category=Category.HYPE,
            negativity=0.92,
            cluster_size=250,
            sites=12,
            velocity=220,
            replies=1500,
        ),
        E,
        ["传播: 12 个网站 (+4)", "速度: 220 篇/小时 (+3)", "回复: 1500 条 (+3)"],
    ),
    (
        "many escalation words are capped",
        SeverityInput(text="死亡 伤亡 群体性 罢课 央视 纪委"),
        M,
        ["(+6)"],
    ),
    (
        "an escalation word that is only a raw substring does not count (网上/访问, not 上访)",
        SeverityInput(text="我在网上访问了学校官网，没找到通知"),
        G,
        ["无升级信号"],
    ),
    (
        "an escalation word inside a longer dictionary word counts (游行 in 游行示威)",
        SeverityInput(text="有人组织游行示威"),
        M,
        ["升级词: 游行 (+4)"],
    ),
]


@pytest.mark.parametrize(("what", "signals", "tier", "reasons"), CASES, ids=[c[0] for c in CASES])
def test_tiers_and_their_reasons(
    what: str, signals: SeverityInput, tier: Severity, reasons: list[str]
) -> None:
    got = assess(signals)
    assert got.tier is tier, got.reasons
    text = " | ".join(got.reasons)
    for fragment in reasons:
        assert fragment in text
    assert got.reasons[-1].startswith(f"得分 {got.score:g}")


def test_reasons_are_strongest_first() -> None:
    got = assess(SeverityInput(negativity=0.7, category=Category.DEFAMATION, sites=10))
    assert got.reasons[:3] == (
        "传播: 10 个网站 (+4)",
        "分类: 捏造/歪曲/诽谤/煽动 (+3)",
        "负面情绪 0.70 (+1)",
    )
    assert got.score == 8


def test_names_and_thresholds_are_configurable() -> None:
    names = {G: "一般舆情", M: "较大舆情", E: "特别重大舆情"}
    strict = SeverityPolicy(names=names, major_at=2, especially_major_at=5)
    signals = SeverityInput(negativity=0.95, category=Category.APPEAL)
    assert assess(signals).tier is G
    got = assess(signals, strict)
    assert (got.tier, got.name) == (M, "较大舆情")
    tuned = SeverityPolicy().tuned(names=names, major_at=2, especially_major_at=None)
    assert (tuned.major_at, tuned.especially_major_at, tuned.names[E]) == (2, 9, "特别重大舆情")
    assert assess(signals, tuned).name == "较大舆情"
    calm = replace(SeverityPolicy(), category_points={Category.DEFAMATION: 0.0})
    assert assess(SeverityInput(category=Category.DEFAMATION), calm).score == 0


def test_a_grave_escalation_word_is_never_general() -> None:
    lenient = SeverityPolicy(major_at=6, especially_major_at=10)
    got = assess(SeverityInput(text="听说昨晚宿舍有学生跳楼了"), lenient)
    assert got.tier is M and got.score == 4
    assert "严重升级词: 至少重大" in got.reasons
    assert assess(SeverityInput(text="宿舍有学生受伤"), lenient).tier is G


def test_escalation_words_are_found_as_words_in_order() -> None:
    found = escalation_words("网友称领导批示后媒体曝光，有人聚集")
    assert found == ["领导批示", "媒体曝光", "聚集"]
    assert escalation_words("今天天气很好") == []


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda: SeverityInput(negativity=1.5), "negativity must be within 0..1"),
        (lambda: SeverityInput(replies=-1), "replies must not be negative"),
        (lambda: SeverityPolicy(major_at=10, especially_major_at=5), "major_at"),
        (lambda: SeverityPolicy(names={G: "一般"}), "names lacks"),
        (lambda: SeverityPolicy(site_steps=((5, 2.0), (3, 1.0))), "ascending"),
    ],
)
def test_bad_input_gets_a_clear_error(make: object, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        make()  # type: ignore[operator]  # the table holds zero-argument callables
