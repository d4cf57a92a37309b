"""Each kind of mistake in the institution's YAML gets a message with file, line, key path
and what to do — never a traceback — and the daemon's mode leaves out only the broken rules."""

from __future__ import annotations

from pathlib import Path

import pytest

from core.settings import ConfigError
from core.settings_loader import load
from service.cli import main
from tests.core.config_helpers import EXAMPLE, FIXTURES, MINIMAL, line_of, problems_of, write

# ---------------------------------------------------------------- each kind of mistake


def test_yaml_syntax_error_names_file_line_and_where_it_began() -> None:
    path = FIXTURES / "syntax_error.yaml"
    [problem] = problems_of(path)
    assert problem.file == str(path)
    assert problem.line == line_of(path, "schedule: 5m")
    assert "YAML syntax error" in problem.message
    assert f"began at line {line_of(path, 'urls: [')}" in problem.message


def test_tab_indentation_gets_its_own_hint() -> None:
    [problem] = problems_of(FIXTURES / "tab_indent.yaml")
    assert problem.line == 5 and problem.hint == "indent with spaces, not tabs"


def test_unknown_keys_suggest_the_nearest_valid_key() -> None:
    path = FIXTURES / "unknown_key.yaml"
    got = [str(p) for p in problems_of(path)]
    assert got == [
        f"{path}:{line_of(path, 'abbreviation:')}:3: institution.abbreviation: unknown key "
        "'abbreviation' — did you mean 'abbreviations'?",
        f"{path}:{line_of(path, 'kidn')}:5: sources[0].kidn: unknown key 'kidn' — "
        "did you mean 'kind'?",
        f"{path}:{line_of(path, 'soruces')}:1: soruces: unknown key 'soruces' — "
        "did you mean 'sources'?",
    ]


def test_wrong_types_say_what_was_expected() -> None:
    path = FIXTURES / "wrong_type.yaml"
    by_path = {p.path: p for p in problems_of(path)}
    assert set(by_path) == {
        "sources[0].urls",
        "sources[0].max_pages",
        "sources[0].enabled",
        "storage.evidence_days",
    }
    assert by_path["sources[0].max_pages"].line == line_of(path, "max_pages")
    assert by_path["sources[0].max_pages"].message == "expected a whole number, got 'lots'"
    assert by_path["sources[0].enabled"].message == "expected true or false, got 'maybe'"
    assert by_path["sources[0].urls"].message.startswith("expected a list")
    assert by_path["storage.evidence_days"].message == "expected a whole number, got a list"


def test_missing_required_keys_point_at_the_item_that_lacks_them() -> None:
    path = FIXTURES / "missing_key.yaml"
    got = {(p.path, p.line, p.message) for p in problems_of(path)}
    assert got == {
        ("sources[0].urls", line_of(path, "id: bbs"), "missing required key 'urls'"),
        (
            "alert_rules[0].max_silence",
            line_of(path, "id: silent"),
            "missing required key 'max_silence'",
        ),
    }


def test_wrong_values_name_the_allowed_ones_and_the_likely_fix() -> None:
    path = FIXTURES / "bad_values.yaml"
    by_path = {p.path: p for p in problems_of(path)}
    kind = by_path["sources[0].kind"]
    assert str(kind) == (
        f"{path}:{line_of(path, 'kind: rss')}:5: sources[0].kind: 'rss' is not one of feed, "
        "forum, comments, site — use feed for RSS/Atom"
    )
    assert by_path["webhooks[0].kind"].hint == "use dingtalk"
    assert "Asia/Shanghai" in by_path["timezone"].hint
    assert "'every hour' is not a duration" in by_path["sources[0].schedule.interval"].message
    assert "allow_private" in by_path["webhooks[1]"].hint
    assert by_path["tiers.major.report"].line == line_of(path, "2 fortnights")


def test_dangling_references_and_duplicate_ids() -> None:
    path = FIXTURES / "dangling.yaml"
    got = [(p.line, p.path, p.message, p.hint) for p in problems_of(path)]
    assert got == [
        (
            line_of(path, "default_unit"),
            "default_unit",
            "no unit with id 'publicity'",
            "defined units: security",
        ),
        (
            line_of(path, "webhook: security-robot"),
            "units[0].webhook",
            "no webhook with id 'security-robot'",
            "defined webhooks: cases",
        ),
        (
            line_of(path, "id: bbs", nth=2),
            "sources[1].id",
            "duplicate source id 'bbs' (also sources[0])",
            "give each one its own id",
        ),
        (
            line_of(path, "[canteen-safety]"),
            "alert_rules[0].watch_rules[0]",
            "no watch rule with id 'canteen-safety'",
            "did you mean 'canteen'?",
        ),
        (
            line_of(path, "[jz-feed]"),
            "alert_rules[1].sources[0]",
            "no source with id 'jz-feed'",
            "defined sources: bbs",
        ),
    ]


def test_every_problem_is_reported_not_just_the_first(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "many.yaml",
        MINIMAL
        + (
            "timezone: Mars/Olympus\n"
            "sources:\n"
            "  - {id: a, kind: rss, urls: [http://x.cn/]}\n"
            "  - {id: b, kind: feed, urls: [http://x.cn/], colour: red}\n"
            "alert_rules:\n"
            "  - {id: r, kind: frequency, threshold: 3, window: 1h, watch_rules: [nope]}\n"
        ),
    )
    assert [p.path for p in problems_of(path)] == [
        "timezone",
        "sources[0].kind",
        "sources[1].colour",
        "alert_rules[0].watch_rules[0]",
    ]


def test_duplicate_yaml_keys_are_reported(tmp_path: Path) -> None:
    path = write(tmp_path, "dup.yaml", MINIMAL + "timezone: Asia/Shanghai\ntimezone: UTC\n")
    [problem] = problems_of(path)
    assert (problem.line, problem.path) == (4, "timezone") and "also line 3" in problem.message


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("- a\n- b\n", "the top level must be a mapping"),
        (
            "institution: {name: 甲}\nwatch_rules:\n  - id: w\n    expression: ' '\n",
            "expression is empty",
        ),
        (
            "institution: {name: 甲}\nwatch_rules:\n  - {id: w, subject: []}\n",
            "a watch rule needs words",
        ),
        (
            "institution: {name: 甲}\nsources:\n  - {id: s, kind: feed, urls: [http://a.cn/], "
            "schedule: '61 * * * *'}\n",
            "is not a valid cron line",
        ),
        (
            "institution: {name: 甲}\nsources:\n  - {id: s, kind: feed, urls: [http://a.cn/], "
            "schedule: 5s}\n",
            "interval below 10s",
        ),
        (
            "institution: {name: 甲}\nsources:\n  - {id: s, kind: feed, urls: [http://a.cn/], "
            "schedule: {interval: 5m, min_interval: 10m}}\n",
            "interval lies outside",
        ),
        (
            "institution: {name: 甲}\nalert_rules:\n  - {id: s, kind: spread}\n",
            "needs min_sites or min_posts",
        ),
        (
            "institution: {name: 甲}\nalert_rules:\n  - {id: s, kind: match, threshold: 3}\n",
            "unknown key 'threshold'",
        ),
        (
            "institution: {name: 甲}\nstorage: {data_dir: d, elasticsearch: [localhost:9200]}\n",
            "is not an http(s) URL",
        ),
    ],
)
def test_rule_and_value_checks(tmp_path: Path, text: str, message: str) -> None:
    [problem] = problems_of(write(tmp_path, "c.yaml", text))
    assert message in problem.message and problem.line is not None


@pytest.mark.parametrize(
    ("name", "content", "message"),
    [
        ("missing.yaml", None, "no such file or folder"),
        ("latin1.yaml", "institution:\n  name: caf\xe9\n".encode("latin-1"), "not UTF-8"),
        ("empty", b"", "no .yaml files in this folder"),
    ],
)
def test_unreadable_configurations(
    tmp_path: Path, name: str, content: bytes | None, message: str
) -> None:
    path = tmp_path / name
    if name == "empty":
        path.mkdir()
    elif content is not None:
        path.write_bytes(content)
    [problem] = problems_of(path)
    assert message in problem.message


def test_mangled_example_files_give_config_errors_never_exceptions(tmp_path: Path) -> None:
    """Delete each line of the example in turn: whatever breaks is a ConfigError."""
    names = ["sources.yaml", "alerts.yaml"]
    broken = 0
    for name in names:
        lines = (EXAMPLE / name).read_text(encoding="utf-8").splitlines(keepends=True)
        for index in range(len(lines)):
            folder = tmp_path / f"{name}-{index}"
            folder.mkdir()
            for other in EXAMPLE.glob("*.yaml"):
                (folder / other.name).write_text(other.read_text(encoding="utf-8"), "utf-8")
            (folder / name).write_text("".join(lines[:index] + lines[index + 1 :]), "utf-8")
            try:
                load(folder, env={})
            except ConfigError as exc:
                broken += 1
                assert all(p.file.startswith(str(folder)) for p in exc.problems)
    assert broken > 10


# ---------------------------------------------------------------- the daemon: skip broken rules

R5 = (
    MINIMAL
    + """\
watch_rules:
  - {id: fire, event: [火灾]}
  - {id: empty, expression: " "}
alert_rules:
  - {id: fire-now, kind: match, watch_rules: [fire]}
  - {id: empty-now, kind: match, watch_rules: [empty]}
  - {id: zero, kind: frequency, threshold: 0, window: 1h}
  - {id: silent, kind: flatline, max_silence: 2h}
"""
)


def test_invalid_rules_are_refused_at_load_by_default(tmp_path: Path) -> None:
    path = write(tmp_path, "r.yaml", R5)
    assert [p.path for p in problems_of(path)] == ["watch_rules[1]", "alert_rules[2].threshold"]


def test_the_daemon_mode_skips_only_the_broken_rules(tmp_path: Path) -> None:
    path = write(tmp_path, "r.yaml", R5)
    result = load(path, env={}, skip_invalid_rules=True)
    assert [r.id for r in result.settings.watch_rules] == ["fire"]
    # empty-now names the skipped watch rule: it goes too, in a second round.
    assert [r.id for r in result.settings.alert_rules] == ["fire-now", "silent"]
    skipped = [(w.line, w.message) for w in result.warnings if "rule skipped" in w.message]
    assert skipped == [
        (line_of(path, "id: empty,"), "rule skipped: expression is empty"),
        (line_of(path, "id: empty-now"), "rule skipped: no watch rule with id 'empty'"),
        (line_of(path, "id: zero"), "rule skipped: must be at least 1, got 0"),
    ]


def test_the_daemon_mode_still_refuses_other_problems(tmp_path: Path) -> None:
    path = write(tmp_path, "r.yaml", R5 + "timezone: Nowhere/Land\n")
    with pytest.raises(ConfigError) as caught:
        load(path, env={}, skip_invalid_rules=True)
    assert [p.path for p in caught.value.problems] == [
        "watch_rules[1]",
        "alert_rules[2].threshold",
        "timezone",
    ]


def test_references_from_cases_and_reports_are_checked(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "c.yaml",
        MINIMAL + ("cases:\n  escalate_to: [leaders]\nreports:\n  destinations: [office]\n"),
    )
    assert [(p.path, p.message) for p in problems_of(path)] == [
        ("cases.escalate_to[0]", "no webhook with id 'leaders'"),
        ("reports.destinations[0]", "no webhook with id 'office'"),
    ]


def test_a_value_its_explicit_tag_cannot_read_is_located(tmp_path: Path) -> None:
    path = write(tmp_path, "t.yaml", MINIMAL + "storage:\n  evidence_days: !!int many\n")
    [problem] = problems_of(path)
    assert (problem.line, problem.column) == (4, 18)
    assert problem.message.startswith("YAML error: cannot read 'many' as int")


def test_anchors_and_merge_keys_work_and_errors_are_located(tmp_path: Path) -> None:
    text = MINIMAL + (
        "sources:\n"
        "  - &forum {id: a, kind: forum, urls: [http://a.cn/], max_pages: lots}\n"
        "  - <<: *forum\n"
        "    id: b\n"
    )
    path = write(tmp_path, "a.yaml", text)
    problems = problems_of(path)
    assert [(p.path, p.line) for p in problems] == [
        ("sources[0].max_pages", 4),
        ("sources[1].max_pages", 5),  # inherited through the merge key: at the item merging it
    ]
    fixed = write(tmp_path, "b.yaml", text.replace(", max_pages: lots", ""))
    assert [s.id for s in load(fixed, env={}).settings.sources] == ["a", "b"]


def test_nested_aliases_are_walked_once(tmp_path: Path) -> None:
    """A "billion laughs" file: nine levels of ten aliases each load (and fail) at once."""
    lines = ["institution: {name: 甲}", "a0: &a0 [x, x, x, x, x, x, x, x, x, x]"]
    lines += [f"a{i}: &a{i} [{', '.join([f'*a{i - 1}'] * 10)}]" for i in range(1, 9)]
    path = write(tmp_path, "lol.yaml", "\n".join(lines) + "\n")
    assert [p.path for p in problems_of(path)] == [f"a{i}" for i in range(9)]


def test_config_check_runs_the_stages_own_checks(capsys: pytest.CaptureFixture[str]) -> None:
    """Selectors, built-in profiles, comment APIs and rule expressions are refused by the stage
    that uses them; `config check` asks those stages now, and locates what they refuse."""
    path = FIXTURES / "stage_errors.yaml"
    assert main(["config", "check", str(path)]) == 1
    err = capsys.readouterr().err.splitlines()
    where = [line.split(": ", 2)[:2] for line in err[:-1]]
    assert where == [
        [f"{path}:{line_of(path, 'selectors:')}:5", "sources[0].selectors"],
        [f"{path}:{line_of(path, 'profile:')}:5", "sources[1].profile"],
        [f"{path}:{line_of(path, 'comments:')}:5", "sources[2].comments"],
        [f"{path}:{line_of(path, 'expression:')}:5", "watch_rules[0].expression"],
    ]
    assert "unknown selector key(s) item" in err[0]
    assert "'(' is not closed" in err[3] and "at character 1" in err[3]
    assert err[-1] == f"4 problems in {path}"
