"""The settings: the example institution loads, and every kind of mistake in the YAML is
reported with its file, line, key path and a fix — never a traceback."""

from __future__ import annotations

import json
import subprocess
import sys
from datetime import time, timedelta
from pathlib import Path

import pytest
from pydantic import ValidationError

from core.post import Severity, SourceKind
from core.settings import (
    ConfigError,
    Deadline,
    FlatlineRule,
    FrequencyRule,
    Problem,
    QuietHours,
    Settings,
    Tiers,
    Webhook,
    load_settings,
)
from core.settings_loader import load
from service.cli import main

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "config" / "example"
FIXTURES = Path(__file__).resolve().parent / "config_fixtures"


def line_of(path: Path, text: str, nth: int = 1) -> int:
    """The 1-based line of the nth occurrence of ``text``, so tests name lines by content."""
    lines = path.read_text(encoding="utf-8").splitlines()
    found = [number for number, line in enumerate(lines, start=1) if text in line]
    assert len(found) >= nth, f"{text!r} not in {path} {nth} times"
    return found[nth - 1]


def problems_of(path: Path | str, env: dict[str, str] | None = None) -> list[Problem]:
    with pytest.raises(ConfigError) as caught:
        load(path, env=env or {})
    return caught.value.problems


def write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


MINIMAL = "institution:\n  name: 江州理工大学\n"


# ---------------------------------------------------------------- the example institution


def test_the_example_institution_loads_completely() -> None:
    result = load(EXAMPLE, env={})
    s = result.settings
    assert s.institution.name == "江州理工大学"
    assert "江理工" in s.institution.abbreviations
    assert len(s.units) >= 8 and s.default_unit == "publicity"
    assert {source.kind for source in s.sources} == set(SourceKind)
    assert {rule.kind for rule in s.alert_rules} == {
        "match",
        "frequency",
        "spike",
        "spread",
        "new_term",
        "flatline",
    }
    assert any(r.expression for r in s.watch_rules) and any(r.event for r in s.watch_rules)
    assert {hook.kind for hook in s.webhooks} >= {"generic", "wecom"}
    assert s.mode == "embedded" and s.timezone == "Asia/Shanghai"
    assert s.reports.daily_at == time(17, 0)
    # Every URL the example crawls is the loopback demo.
    assert all(url.startswith("http://127.0.0.1:8765/") for src in s.sources for url in src.urls)
    # Without the environment the signing secret is missing: a warning, not an error.
    assert [w.path for w in result.warnings] == ["webhooks[0].secret_env"]


def test_load_settings_defaults_to_yuqing_config_then_the_example(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.chdir(tmp_path)  # no config/ here: falls back to the shipped example
    monkeypatch.delenv("YUQING_CONFIG", raising=False)
    assert load_settings().institution.name == "江州理工大学"
    monkeypatch.setenv(
        "YUQING_CONFIG", str(write(tmp_path, "one.yaml", "institution:\n  name: 甲\n"))
    )
    assert load_settings().institution.name == "甲"
    assert load_settings(EXAMPLE).institution.name == "江州理工大学"


def test_example_group_rules_default_their_subject_to_the_institution_names() -> None:
    s = load(EXAMPLE, env={}).settings
    canteen = s.watch_rules[0]
    assert canteen.subject == s.institution.names
    assert s.watch_rule("hospital-dispute").subject == ["附属医院", "江理工附院"]
    words = s.dictionary_words()
    assert {"江理工", "三食堂", "12号宿舍楼", "杨老师"} <= set(words)
    assert len(words) == len(set(words))


def test_per_source_politeness_overrides_the_crawl_defaults() -> None:
    s = load(EXAMPLE, env={}).settings
    tieba, bbs = s.politeness(s.source("jz-tieba")), s.politeness(s.source("jz-bbs"))
    assert (tieba.delay, tieba.concurrency) == (timedelta(seconds=3), 1)
    assert (bbs.delay, bbs.concurrency) == (s.crawl.delay, s.crawl.concurrency)
    assert s.source("jz-tieba").schedule.max_interval == timedelta(hours=1)
    assert s.source("jz-liuyan").schedule.cron == "0 8,12,17 * * *"


# ---------------------------------------------------------------- `yuqing config check`


def test_config_check_prints_the_summary_and_exits_zero(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["config", "check", str(EXAMPLE)]) == 0
    out = capsys.readouterr().out
    assert out.strip() == "OK: 江州理工大学, 6 sources, 8 units, 6 watch rules, 6 alert rules"


def test_config_check_lists_every_problem_and_exits_one(capsys: pytest.CaptureFixture[str]) -> None:
    path = FIXTURES / "dangling.yaml"
    assert main(["config", "check", str(path)]) == 1
    err = capsys.readouterr().err.splitlines()
    assert err[-1] == f"5 problems in {path}"
    assert all(line.startswith(f"{path}:") for line in err[:-1])


def test_global_config_option_is_used_and_path_overrides_it(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert main(["--config", str(FIXTURES / "dangling.yaml"), "config", "check"]) == 1
    capsys.readouterr()
    assert main(["--config", str(FIXTURES / "dangling.yaml"), "config", "check", str(EXAMPLE)]) == 0


def test_the_installed_command_never_shows_a_traceback(tmp_path: Path) -> None:
    broken = write(tmp_path, "x.yaml", "institution: [\n")
    run = subprocess.run(
        [sys.executable, "-m", "service.cli", "config", "check", str(broken)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert run.returncode == 1
    assert "Traceback" not in run.stderr and f"{broken}:2:1: YAML syntax error" in run.stderr


def test_config_show_hides_secrets_and_schema_is_json(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("YUQING_CASES_SECRET", "s3cret-value")
    assert main(["config", "show", str(EXAMPLE)]) == 0
    out = capsys.readouterr().out
    assert "s3cret-value" not in out
    shown = json.loads(out)
    assert (
        shown["webhooks"][0]["secret_set"] is True and shown["webhooks"][1]["secret_set"] is False
    )
    assert main(["config", "schema"]) == 0
    schema = json.loads(capsys.readouterr().out)
    assert "institution" in schema["required"]


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


# ---------------------------------------------------------------- environment and secrets


def test_env_substitution_defaults_and_escapes() -> None:
    path = FIXTURES / "secrets.yaml"
    env = {"YUQING_TEST_DATA": "/srv", "YUQING_TEST_SECRET": "new", "YUQING_TEST_OLD_SECRET": "old"}
    result = load(path, env=env)
    s = result.settings
    assert s.institution.name == "江州理工大学"  # ${VAR:-default}
    assert s.storage.data_dir == Path("/srv/yuqing")
    hook = s.webhooks[0]
    assert hook.url.endswith("price=$5")  # $$ is a literal $
    assert hook.secret is not None and hook.secret.get_secret_value() == "new"
    assert hook.previous_secret is not None and hook.previous_secret.get_secret_value() == "old"
    assert "new" not in repr(hook) and "secret" not in hook.model_dump()
    assert result.warnings == []


def test_unset_env_var_is_a_located_problem() -> None:
    path = FIXTURES / "secrets.yaml"
    [problem] = problems_of(path, env={})
    assert problem.line == line_of(path, "YUQING_TEST_DATA")
    assert problem.message == "environment variable YUQING_TEST_DATA is not set"
    assert problem.hint == "export YUQING_TEST_DATA=..., or write ${YUQING_TEST_DATA:-default}"


def test_unset_secret_env_is_a_warning() -> None:
    result = load(FIXTURES / "secrets.yaml", env={"YUQING_TEST_DATA": "/srv"})
    assert result.settings.webhooks[0].secret is None
    assert [w.path for w in result.warnings] == [
        "webhooks[0].secret_env",
        "webhooks[0].previous_secret_env",
    ]


def test_a_secret_written_in_the_file_is_refused(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "s.yaml",
        MINIMAL
        + ("webhooks:\n  - id: cases\n    url: https://cases.example.cn/\n    secret: hunter2\n"),
    )
    [problem] = problems_of(path)
    assert (problem.line, problem.path) == (6, "webhooks[0].secret")
    assert "secret_env" in problem.hint and "hunter2" not in str(problem)


# ---------------------------------------------------------------- folders


def test_a_folder_merges_files_by_top_level_key_and_appends_lists() -> None:
    folder = FIXTURES / "split"
    problems = problems_of(folder)
    # The bad key sits in the second file of sources, as item 3 of the merged list.
    assert [str(p) for p in problems] == [
        f"{folder / 'sources-news.yaml'}:{line_of(folder / 'sources-news.yaml', 'deep')}:5: "
        "sources[3].max_depth: expected a whole number, got 'deep'"
    ]


def test_folder_merge_order_and_conflicts(tmp_path: Path) -> None:
    for name in ("institution.yaml", "sources-forums.yaml", "sources-news.yaml"):
        text = (FIXTURES / "split" / name).read_text(encoding="utf-8")
        write(tmp_path, name, text.replace("max_depth: deep", "max_depth: 2"))
    s = load(tmp_path, env={}).settings
    assert [src.id for src in s.sources] == ["bbs", "tieba", "feed", "news"]
    assert s.storage.data_dir == Path("/var/lib/yuqing")
    write(tmp_path, "zz-storage.yaml", "storage:\n  data_dir: /tmp/other\n")
    [problem] = problems_of(tmp_path)
    assert problem.file.endswith("zz-storage.yaml") and problem.path == "storage"
    assert problem.message == f"also set in {tmp_path / 'institution.yaml'}:4"


def test_a_broken_file_in_a_folder_does_not_make_its_keys_missing(tmp_path: Path) -> None:
    write(tmp_path, "institution.yaml", "institution:\n  name: [甲\n")
    write(tmp_path, "sources.yaml", "sources:\n  - {id: a, kind: rss, urls: [http://a.cn/]}\n")
    problems = problems_of(tmp_path)
    assert [p.file.rsplit("/", 1)[-1] for p in problems] == ["institution.yaml", "sources.yaml"]


# ---------------------------------------------------------------- defaults and value forms


def test_tier_defaults_follow_domain_md() -> None:
    tiers = Settings(institution={"name": "甲"}).tiers
    assert (tiers.general.name, str(tiers.general.report), str(tiers.general.respond)) == (
        "一般",
        "1 working_day",
        "3 working_days",
    )
    assert (str(tiers.major.report), str(tiers.major.respond)) == ("1 day", "2 working_days")
    assert (str(tiers.especially_major.report), str(tiers.especially_major.respond)) == (
        "3 hours",
        "1 day",
    )
    assert tiers.special_report == Deadline(amount=4, unit="hours")
    assert tiers[Severity.MAJOR] is tiers.major and tiers["especially_major"].name == "特别重大"


def test_a_partly_given_tier_keeps_its_own_defaults() -> None:
    tiers = Tiers.model_validate({"major": {"respond": "5 工作日"}, "general": {"name": "一般级"}})
    assert tiers.major.name == "重大" and tiers.major.report == Deadline(amount=1, unit="days")
    assert tiers.major.respond == Deadline(amount=5, unit="working_days")
    assert tiers.general.name == "一般级" and str(tiers.general.respond) == "3 working_days"


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        ("90s", 90),
        ("30m", 1800),
        ("2h", 7200),
        ("1d", 86400),
        ("1h30m", 5400),
        ("1 w", 604800),
        (45, 45),
    ],
)
def test_duration_forms(text: str | int, seconds: int) -> None:
    rule = FrequencyRule(id="r", kind="frequency", threshold=1, window=text)
    assert rule.window == timedelta(seconds=seconds)


def test_yaml_keeps_times_and_words_as_written(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "t.yaml",
        MINIMAL
        + (
            "reports:\n  daily_at: 17:30\n  weekly_day: 周五\n"
            "watch_rules:\n  - id: w\n    event: [打架]\n    exclude: [no, off, 1.5]\n"
        ),
    )
    s = load(path, env={}).settings
    assert s.reports.daily_at == time(17, 30) and s.reports.weekly_day == "friday"
    assert s.watch_rules[0].exclude == ["no", "off", "1.5"]


def test_quiet_hours_across_midnight() -> None:
    quiet = QuietHours(start=time(23), end=time(7))
    assert quiet.covers(time(23, 30)) and quiet.covers(time(3)) and not quiet.covers(time(7))
    assert not quiet.covers(time(12))


def test_webhook_private_addresses_need_allow_private() -> None:
    with pytest.raises(ValidationError, match="allow_private"):
        Webhook(id="w", url="http://127.0.0.1:8766/hook")
    assert Webhook(id="w", url="http://127.0.0.1:8766/hook", allow_private=True).allow_private
    assert Webhook(id="w", url="https://qyapi.weixin.qq.com/cgi-bin/webhook/send").kind == "generic"


def test_settings_built_in_code_check_references_too() -> None:
    with pytest.raises(ValidationError, match=r"alert_rules\[0\]\.sources\[0\]: no source"):
        Settings(
            institution={"name": "甲"},
            alert_rules=[FlatlineRule(id="f", kind="flatline", sources=["x"], max_silence="1h")],
        )
