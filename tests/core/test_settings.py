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
    Deadline,
    FlatlineRule,
    FrequencyRule,
    QuietHours,
    Settings,
    Tiers,
    Webhook,
    load_settings,
)
from core.settings_loader import load
from service.cli import main
from service.commands.config_cmd import settings_schema
from tests.core.config_helpers import EXAMPLE, FIXTURES, MINIMAL, ROOT, line_of, problems_of, write

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
    # Without the environment the secrets are missing: warnings, not errors.
    assert [w.path for w in result.warnings] == [
        "api.tokens[0].token_env",
        "api.tokens[1].token_env",
        "webhooks[0].secret_env",
    ]
    assert s.cases.escalate_to == ["cases", "wecom-office"] and s.alerting.storm_cap == 20


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
    assert out.strip() == "OK: 江州理工大学, 7 sources, 8 units, 6 watch rules, 6 alert rules"


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


# ---------------------------------------------------------------- environment and secrets


def test_env_substitution_defaults_and_escapes() -> None:
    path = FIXTURES / "secrets.yaml"
    env = {
        "YUQING_TEST_DATA": "/srv",
        "YUQING_TEST_SECRET": "whsec_bmV3",
        "YUQING_TEST_OLD_SECRET": "whsec_b2xk",
    }
    result = load(path, env=env)
    s = result.settings
    assert s.institution.name == "江州理工大学"  # ${VAR:-default}
    assert s.storage.data_dir == Path("/srv/yuqing")
    hook = s.webhooks[0]
    assert hook.url.endswith("price=$5")  # $$ is a literal $
    assert hook.secrets == ["whsec_bmV3", "whsec_b2xk"]  # current first, during a rotation
    assert "whsec_bmV3" not in repr(hook) and "secret" not in hook.model_dump()
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


def test_commands_that_deliver_nothing_are_not_warned_about_delivery_secrets(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    # yuqing analyze / crawl / search neither sign webhooks nor serve the API: an unset
    # secret there is noise, while a warning about what they do use still shows.
    for var in ("YUQING_TEST_SECRET", "YUQING_TEST_TOKEN"):
        monkeypatch.delenv(var, raising=False)
    path = write(
        tmp_path,
        "s.yaml",
        MINIMAL
        + "storage:\n  evidence_days: 30\n"
        + "webhooks:\n  - id: cases\n    url: https://cases.example.cn/\n"
        + "    secret_env: YUQING_TEST_SECRET\n"
        + "api:\n  tokens:\n    - name: office\n      token_env: YUQING_TEST_TOKEN\n",
    )

    def warned(delivers: bool) -> list[str]:
        caplog.clear()
        with caplog.at_level("WARNING", logger="yuqing.config"):
            load_settings(path, delivers=delivers)
        return [r.getMessage().split(": ")[2] for r in caplog.records]

    assert warned(True) == [
        "storage.evidence_days",
        "webhooks[0].secret_env",
        "api.tokens[0].token_env",
    ]
    assert warned(False) == ["storage.evidence_days"]


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


def test_a_generic_secret_that_is_not_whsec_is_a_warning() -> None:
    env = {"YUQING_TEST_DATA": "/srv", "YUQING_TEST_SECRET": "plain", "YUQING_TEST_OLD_SECRET": "x"}
    warnings = load(FIXTURES / "secrets.yaml", env=env).warnings
    assert [(w.path, w.line) for w in warnings] == [
        ("webhooks[0].secret_env", line_of(FIXTURES / "secrets.yaml", "secret_env:")),
    ]
    assert "whsec_" in warnings[0].message


def test_api_tokens_come_from_the_environment() -> None:
    env = {"YUQING_API_TOKEN": "tok-write", "YUQING_API_READ_TOKEN": "tok-read"}
    api = load(EXAMPLE, env=env).settings.api
    office, dashboard = api.tokens
    assert office.token is not None and office.token.get_secret_value() == "tok-write"
    assert office.scopes == ["read", "write"] and dashboard.scopes == ["read"]
    assert api.listen == "127.0.0.1:8080"


def test_tiers_by_severity_feed_the_deadline_calculator() -> None:
    from alerts.deadlines import DeadlineUnit, tiers_from

    tiers = Tiers.model_validate({"major": {"respond": "4 working_days"}})
    converted = tiers_from(tiers.by_severity())
    assert converted[Severity.MAJOR].respond.amount == 4
    assert converted[Severity.MAJOR].respond.unit is DeadlineUnit.WORKING_DAYS
    assert converted[Severity.ESPECIALLY_MAJOR].report.unit is DeadlineUnit.HOURS


def test_the_committed_json_schema_is_current() -> None:
    committed = json.loads((ROOT / "config" / "schema" / "settings.schema.json").read_text("utf-8"))
    assert committed == settings_schema(), (
        "run: yuqing config schema > config/schema/settings.schema.json"
    )


def test_settings_dumped_as_json_load_back_equal() -> None:
    settings = load(EXAMPLE, env={}).settings
    dumped = settings.model_dump(mode="json")
    assert Settings.model_validate(dumped) == settings


def test_tier_score_thresholds_are_optional_and_ordered() -> None:
    assert Tiers.model_validate({}).major_at is None
    tiers = Tiers.model_validate({"major_at": 5, "especially_major_at": 10})
    assert (tiers.major_at, tiers.especially_major_at) == (5, 10)
    with pytest.raises(ValidationError, match="major_at must be below"):
        Tiers.model_validate({"major_at": 10, "especially_major_at": 5})
