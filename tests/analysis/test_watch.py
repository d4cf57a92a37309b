"""Watch rules: groups, expressions, scope, proximity, aliases on token boundaries, errors."""

from __future__ import annotations

from pathlib import Path

import pytest

from analysis.segment import Segmenter
from analysis.watch import RuleError, RuleSet, WatchSpec, spec_from_model, specs_from_models

WORDS = ["苏州大学", "苏大", "三食堂", "江州理工", "江理工", "食物中毒"]

RULES = [
    WatchSpec(
        "canteen",
        subject=("苏大", "苏州大学"),
        place=("食堂", "三食堂"),
        event=("拉肚子", "食物中毒"),
        exclude=("招聘",),
    ),
    WatchSpec("subject-only", subject=("苏大",)),
    WatchSpec("title-only", subject=("苏大",), scope="title"),
    WatchSpec("body-only", subject=("苏大",), scope="body"),
    WatchSpec("near", subject=("苏大",), event=("拉肚子",), proximity=12),
    WatchSpec("exam", expression='(苏大 OR 苏州大学) AND (作弊 | 泄题) -"招生简章"'),
    WatchSpec("phrase", expression='"考试 作弊" AND NOT 讲座'),
    WatchSpec("no-ads", expression="NOT 广告"),
]


@pytest.fixture(scope="module")
def rules() -> RuleSet:
    return RuleSet(RULES, Segmenter(WORDS))


CASES = [
    # (title, body, rules that must match)
    ("", "苏大三食堂吃了拉肚子", {"canteen", "subject-only", "body-only", "near", "no-ads"}),
    ("", "苏大强在食堂吃了拉肚子", {"no-ads"}),  # 苏大 is not inside 苏大强
    ("", "蘇大三食堂吃了拉肚子", {"canteen", "subject-only", "body-only", "near", "no-ads"}),
    ("", "苏大学生在食堂食物中毒", {"canteen", "subject-only", "body-only", "no-ads"}),
    ("", "苏大三食堂招聘，吃了拉肚子", {"subject-only", "body-only", "no-ads"}),  # excluded
    (
        "苏大",
        "今天天气很好，我们去了很多地方玩，后来有人拉肚子",
        {"subject-only", "title-only", "no-ads"},
    ),
    (
        "",
        "苏大今天天气很好，我们去了很多地方玩，后来有人拉肚子",
        {"subject-only", "body-only", "no-ads"},
    ),
    ("苏大考试作弊", "", {"subject-only", "title-only", "exam", "phrase", "no-ads"}),
    ("苏大考试作弊", "见招生简章", {"subject-only", "title-only", "phrase", "no-ads"}),
    ("", "作弊考试，苏大讲座", {"subject-only", "body-only", "exam", "no-ads"}),  # not adjacent
    ("", "苏大广告", {"subject-only", "body-only"}),
    ("", "ＳＵＺＨＯＵ 苏州大学 食堂 食物中毒", {"canteen", "no-ads"}),
]


@pytest.mark.parametrize(("title", "body", "expected"), CASES)
def test_rules(rules: RuleSet, title: str, body: str, expected: set[str]) -> None:
    matched = {m.rule_id for m in rules.match(rules.tokenize(title, body))}
    assert matched == expected
    for rule_id in rules.rules:
        assert rules.explain(rule_id, rules.tokenize(title, body)).matched == (rule_id in expected)


def test_hits_say_where(rules: RuleSet) -> None:
    post = rules.tokenize("苏大食堂", "三食堂有人拉肚子")
    (canteen,) = [m for m in rules.match(post) if m.rule_id == "canteen"]
    where = {(h.word, h.field, h.start, h.end, h.group) for h in canteen.hits}
    assert ("苏大", "title", 0, 2, "subject") in where
    assert ("三食堂", "body", 0, 3, "place") in where
    assert ("食堂", "body", 1, 3, "place") in where  # a sub-word of 三食堂
    assert ("拉肚子", "body", 5, 8, "event") in where
    assert canteen.reason == "主体词: 苏大; 地域词: 食堂、三食堂; 事件词: 拉肚子"


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        ("苏大三食堂招聘，吃了拉肚子", "被排除: 招聘"),
        ("苏大吃了拉肚子", "缺少地域词"),
        ("三食堂吃了拉肚子", "缺少主体词"),
    ],
)
def test_explain_says_why_not(rules: RuleSet, body: str, reason: str) -> None:
    result = rules.explain("canteen", rules.tokenize("", body))
    assert not result.matched
    assert reason in result.reason


def test_proximity_reason(rules: RuleSet) -> None:
    result = rules.explain(
        "near", rules.tokenize("", "苏大今天天气很好，我们去了很多地方玩，后来有人拉肚子")
    )
    assert not result.matched
    assert result.reason == "所有词不在 12 字以内"


@pytest.mark.parametrize(
    ("expression", "position"),
    [
        ("(苏大 OR 食堂", 1),
        ("苏大 AND", 7),
        ("苏大 OR OR 食堂", 7),
        ('苏大 "食堂', 4),
        ("苏大 )", 4),
        ("", 1),
        ("苏大 AND ，", 8),
        ("（苏大 ｜ 食堂", 1),
    ],
)
def test_parse_error_names_position(expression: str, position: int) -> None:
    with pytest.raises(RuleError) as caught:
        RuleSet([WatchSpec("bad", expression=expression)], Segmenter())
    assert caught.value.position == position
    assert f"at character {position}" in str(caught.value)
    assert "'bad'" in str(caught.value)


def test_invalid_rules_can_be_skipped() -> None:
    specs = [WatchSpec("bad", expression="(x"), WatchSpec("good", subject=("苏大",))]
    rules = RuleSet(specs, Segmenter(WORDS), skip_invalid=True)
    assert list(rules.rules) == ["good"]
    assert [e.rule_id for e in rules.errors] == ["bad"]


@pytest.mark.parametrize(
    "spec",
    [
        WatchSpec("empty"),
        WatchSpec("both", subject=("苏大",), expression="苏大"),
        WatchSpec("prox", subject=("苏大",), proximity=0),
        WatchSpec("punct", subject=("，",)),
    ],
)
def test_unusable_rules_are_refused(spec: WatchSpec) -> None:
    with pytest.raises(RuleError, match=spec.id):
        RuleSet([spec], Segmenter())


def test_adapter_from_settings_model() -> None:
    from core.settings_rules import WatchRule

    models = [
        WatchRule(id="a", subject=["苏大"], event=["拉肚子"], scope="body", proximity=5),
        WatchRule(id="b", expression="苏大 AND 作弊", enabled=False),
    ]
    specs = specs_from_models(models)
    assert specs == [spec_from_model(models[0])]
    assert specs[0] == WatchSpec(
        "a", subject=("苏大",), event=("拉肚子",), scope="body", proximity=5
    )


def test_many_rules_many_posts() -> None:
    """A rule set of a few hundred rules gives the same answers as rules taken one at a time."""
    seg = Segmenter(WORDS)
    specs = [
        WatchSpec(
            f"r{i}", subject=("苏大",), event=(f"事件{i}", "拉肚子" if i % 7 == 0 else "失火")
        )
        for i in range(300)
    ]
    together = RuleSet(specs, seg)
    posts = ["苏大有人拉肚子", "苏大失火", "苏大事件12", "江理工拉肚子"]
    for body in posts:
        post = together.tokenize("", body)
        alone = {s.id for s in specs if RuleSet([s], seg).match(post)}
        assert {m.rule_id for m in together.match(post)} == alone


EXAMPLE = str(Path(__file__).resolve().parents[2] / "config" / "example")


@pytest.mark.parametrize(
    ("argv", "status", "shown"),
    [
        (
            ["exam-fairness", "--title", "江州理工考试作弊", "--text", "有人说泄题了"],
            0,
            ["MATCHED", "+ 江州理工  标题 1-4", "+ 泄题  正文 4-5"],
        ),
        (
            ["canteen-safety", "--text", "江理工三食堂招聘，吃了拉肚子"],
            1,
            [
                "no match",
                "✓ 地域词: 三食堂、食堂",
                "✗ 排除词: blocked by 招聘",
                "why: 被排除: 招聘",
            ],
        ),
        (["江理工 -讲座", "--text", "江理工讲座", "--tokens"], 1, ["正文分词: 江理工 / 讲座"]),
        (["campus-security", "--text", "江理工宿舍", "--scope", "body"], 2, []),
    ],
)
def test_rules_test_command(
    argv: list[str], status: int, shown: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    from service.cli import main

    assert main(["--config", EXAMPLE, "rules", "test", *argv]) == status
    out = capsys.readouterr().out
    for line in shown:
        assert line in out


def test_rules_test_command_parse_error(capsys: pytest.CaptureFixture[str]) -> None:
    from service.cli import main

    assert main(["--config", EXAMPLE, "rules", "test", "江理工 AND (作弊", "--text", "x"]) == 2
    err = capsys.readouterr().err
    assert "'(' is not closed with ')' (at character 9)" in err
    assert "Traceback" not in err


def test_rules_test_command_json(capsys: pytest.CaptureFixture[str]) -> None:
    import json

    from service.cli import main

    assert main(["--config", EXAMPLE, "rules", "test", "mentions-in-titles",
                 "--title", "江州理工大学通知", "--text", "", "--json"]) == 0  # fmt: skip
    result = json.loads(capsys.readouterr().out)
    assert result["matched"] is True
    assert result["hits"][0]["field"] == "title"


def test_rules_check_command(capsys: pytest.CaptureFixture[str]) -> None:
    from service.cli import main

    assert main(["--config", EXAMPLE, "rules", "check"]) == 0
    assert "0 do not" in capsys.readouterr().out


def test_rules_test_command_unknown_id_is_said(capsys: pytest.CaptureFixture[str]) -> None:
    from service.cli import main

    assert main(["--config", EXAMPLE, "rules", "test", "exam-fairnes", "--text", "江理工"]) == 1
    assert "no watch rule has the id 'exam-fairnes'" in capsys.readouterr().err
