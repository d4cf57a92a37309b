"""Reports rendered from a real embedded index, state database and patrol log in a temp folder,
announced through the real outbox and delivery worker to a local webhook receiver."""

from __future__ import annotations

import contextlib
import json
import re
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import pytest

from alerts.cases import CaseBook
from alerts.delivery import Outbox
from alerts.models import Destination
from alerts.sender import Worker
from core.post import Category, Post, Sentiment, Severity
from core.settings import Settings
from core.settings_loader import load
from service.cli import main
from service.reports import announce, build_report, period_for, produce, save_report
from service.wiring import segmenter_for
from store.patrol_log import Patrol, PatrolLog
from store.sqlite import SqliteIndex
from store.state import StateDB
from tests.alerts.support import SECRET, START, FakeClock, Receiver, Reply, make_alert

DAY = date(2026, 11, 18)  # START is 10:00 that day in Beijing
NOW = START + timedelta(hours=7)  # 17:00 Beijing: the daily report's hour


def write_config(tmp_path: Path, hook_url: str = "http://127.0.0.1:9") -> Path:
    path = tmp_path / "institution.yaml"
    path.write_text(
        f"""institution: {{name: 江州理工大学}}
storage: {{data_dir: {tmp_path / "data"}}}
sources:
  - {{id: bbs, name: 校园BBS, kind: forum, urls: ["https://bbs.example.cn/"], schedule: 1h}}
  - {{id: news, name: 江州新闻网, kind: feed, urls: ["https://news.example.cn/rss"]}}
  - {{id: tieba, name: 贴吧, kind: forum, urls: ["https://tieba.baidu.com/f?kw=x"]}}
webhooks:
  - {{id: cases, kind: generic, url: "{hook_url}/cases/in", secret_env: S, allow_private: true}}
  - {{id: robot, kind: wecom, url: "{hook_url}/robot", allow_private: true}}
reports: {{destinations: [cases, robot]}}
api: {{listen: "127.0.0.1:8080"}}
""",
        encoding="utf-8",
    )
    return path


def post(n: int, source: str, hours: float, **fields: Any) -> Post:
    return Post.create(
        url=f"https://{source}.example.cn/t/{n}",
        source=source,
        title=f"帖子{n}",
        text=f"江州理工 第{n}帖",
        published=START + timedelta(hours=hours),
        **fields,
    )


def seed(settings: Settings) -> None:
    folder = settings.storage.data_dir
    index = SqliteIndex(folder, segmenter=segmenter_for(settings))
    index.init()
    neg, appeal = Sentiment.NEGATIVE, Category.APPEAL
    index.upsert(
        [
            # One story reposted on three sites: the top cluster.
            post(
                1, "bbs", -1, sentiment=neg, category=appeal, severity=Severity.MAJOR, cluster="k1"
            ),
            post(
                2,
                "tieba",
                0,
                sentiment=neg,
                category=appeal,
                severity=Severity.GENERAL,
                cluster="k1",
            ),
            post(
                3,
                "news",
                1,
                sentiment=neg,
                category=Category.HYPE,
                severity=Severity.GENERAL,
                cluster="k1",
            ),
            post(
                4,
                "bbs",
                2,
                sentiment=Sentiment.POSITIVE,
                category=Category.SUGGESTION,
                severity=Severity.GENERAL,
                cluster="k2",
            ),
            post(5, "bbs", 3, sentiment=Sentiment.NEUTRAL, severity=Severity.GENERAL),
            # Outside the day (the day before, Beijing time): counted in no daily figure.
            post(6, "bbs", -20, sentiment=neg, category=appeal, severity=Severity.MAJOR),
        ]
    )
    index.close()
    db = StateDB.in_data_dir(folder)
    outbox = Outbox(CaseBook(db), [])
    outbox.submit(make_alert(key="k1"), START)  # today, general: respond in 3 working days
    outbox.submit(make_alert(key="old", detected_at=START - timedelta(days=9)), START)  # overdue
    closed = outbox.submit(make_alert(key="done", detected_at=START - timedelta(days=1)), START)
    book = CaseBook(db)
    book.acknowledge(closed.case_id, "office", START)
    book.close(closed.case_id, "no_action", "误报", "office", START)
    db.close()
    log = PatrolLog(folder)
    for hours, outcome, errors in (
        (-1.5, "finished", {}),
        (0.5, "failed", {"timeout": 1}),
        (4.5, "finished", {"http_404": 2}),
        (-30, "finished", {}),
    ):
        started = START + timedelta(hours=hours)
        log.record(
            Patrol(
                "bbs", started, started + timedelta(minutes=2), 10, 1000, 4, 2, errors, {}, outcome
            )
        )
    log.close()


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    result = load(write_config(tmp_path), env={"S": SECRET}).settings
    seed(result)
    return result


def daily(settings: Settings) -> dict[str, Any]:
    folder = settings.storage.data_dir
    index = SqliteIndex(folder, segmenter=segmenter_for(settings))
    try:
        period = period_for("daily", settings, NOW, DAY)
        return build_report(settings, index, StateDB.in_data_dir(folder), folder, period, NOW)
    finally:
        index.close()


def test_daily_report_numbers(settings: Settings) -> None:
    report = daily(settings)
    assert report["name"] == "daily-2026-11-18" and report["title"] == "江州理工大学舆情日报"
    assert report["period"] == {
        "start": "2026-11-17T16:00:00+00:00",
        "end": "2026-11-18T16:00:00+00:00",
        "label": "2026-11-18",
    }
    posts = report["posts"]
    assert posts["total"] == 5
    assert posts["by_source"] == {"bbs": 3, "tieba": 1, "news": 1}
    assert posts["by_sentiment"] == {"negative": 3, "positive": 1, "neutral": 1}
    assert posts["by_category"] == {
        "appeal": 2,
        "hype": 1,
        "defamation": 0,
        "suggestion": 1,
        "other": 0,
        "unclassified": 1,
    }
    assert posts["by_severity"] == {"major": 1, "general": 4}
    clusters = report["clusters"]
    assert clusters["complete"] is True
    top = clusters["top"][0]
    assert (top["cluster"], top["posts"], top["negative"], top["severity_label"]) == (
        "k1",
        3,
        3,
        "重大",
    )
    assert top["sites"] == ["bbs.example.cn", "news.example.cn", "tieba.example.cn"]
    assert top["first_seen"] == "2026-11-18 09:00" and top["title"] == "帖子1"
    cases = report["cases"]
    assert [c["title"] for c in cases["new"]] == ["食堂饭菜出现异物，学生发帖质疑"]
    assert sorted(c["id"] for c in cases["open"]) == [1, 2]
    assert [c["id"] for c in cases["overdue"]] == [2]
    assert cases["overdue"][0]["state_label"] == "新建"
    patrols = {p["source"]: p for p in report["patrols"]}
    assert (patrols["bbs"]["runs"], patrols["bbs"]["failed"], patrols["bbs"]["errors"]) == (3, 1, 3)
    assert patrols["bbs"]["new_posts"] == 6 and patrols["bbs"]["last"] == "2026-11-18 14:32"
    assert patrols["news"]["runs"] == 0 and patrols["news"]["last"] is None


def test_weekly_report_covers_seven_days_and_charts_each_day(settings: Settings) -> None:
    folder = settings.storage.data_dir
    index = SqliteIndex(folder, segmenter=segmenter_for(settings))
    period = period_for("weekly", settings, NOW, DAY)
    report = build_report(settings, index, StateDB.in_data_dir(folder), folder, period, NOW)
    index.close()
    assert period.label == "2026-11-12 至 2026-11-18" and report["title"] == "江州理工大学舆情周报"
    assert report["posts"]["total"] == 6
    by_day = report["posts"]["by_day"]
    assert list(by_day) == [f"2026-11-{d}" for d in range(12, 19)]  # quiet days too
    assert by_day["2026-11-17"] == 1 and by_day["2026-11-18"] == 5 and sum(by_day.values()) == 6
    html, _ = save_report(folder, report)
    assert html.read_text(encoding="utf-8").count("<svg") == 5  # four breakdowns and the days


def test_the_html_is_self_contained_and_has_the_charts(settings: Settings) -> None:
    report = daily(settings)
    html_path, json_path = save_report(settings.storage.data_dir, report)
    assert html_path == settings.storage.data_dir / "reports" / "daily-2026-11-18.html"
    assert json.loads(json_path.read_text(encoding="utf-8")) == report
    html = html_path.read_text(encoding="utf-8")
    lowered = html.lower()
    for fetches in ("<script", "<link", " src=", "url(", "@import", "<iframe", "<img"):
        assert fetches not in lowered, fetches
    # The only addresses are the posts' own links, for the reader to click.
    hrefs = re.findall(r'href="([^"]+)"', html)
    assert hrefs and all(h.startswith("https://") and ".example.cn/t/" in h for h in hrefs)
    assert re.findall(r"https?://", html) == re.findall(r"https?://", " ".join(hrefs))
    assert html.count("<svg") == 4 and "<rect" in html
    for text in ("江州理工大学舆情日报", "2026-11-18", "Asia/Shanghai", "负面", "校园BBS"):
        assert text in html
    assert "（超期）" in html and "本时段未巡查" in html


def test_the_announcement_reaches_the_receiver_signed_with_the_link(
    tmp_path: Path, settings: Settings
) -> None:
    clock = FakeClock(NOW)
    receiver = Receiver(clock, [SECRET])
    receiver.script("/robot", Reply(body='{"errcode": 0, "errmsg": "ok"}'))  # as WeCom answers
    try:
        live = load(write_config(tmp_path, receiver.url), env={"S": SECRET}).settings
        db = StateDB.in_data_dir(live.storage.data_dir)
        ids = announce(live, db, daily(live), NOW)
        assert len(ids) == 2
        destinations = [Destination.from_settings(w) for w in live.webhooks]
        sender = Worker(Outbox(CaseBook(db), destinations), clock)
        stats = sender.run_once()
        assert stats.sent == 2 and stats.failed == 0
    finally:
        receiver.close()
    generic = receiver.on("/cases/in")[0]
    assert generic.verified and generic.webhook_id in ids
    body = json.loads(generic.body)
    assert body["type"] == "report.published" and body["data"]["kind"] == "daily"
    assert body["data"]["link"] == "http://127.0.0.1:8080/v1/reports/daily-2026-11-18"
    assert "负面 3 条" in body["data"]["summary"] and "超期 1 件" in body["data"]["summary"]
    robot = json.loads(receiver.on("/robot")[0].body)
    assert robot["msgtype"] == "markdown" and "舆情日报" in robot["markdown"]["content"]


def test_report_command_writes_the_files_and_queues_the_webhooks(
    tmp_path: Path, settings: Settings, capsys: pytest.CaptureFixture[str]
) -> None:
    config = str(tmp_path / "institution.yaml")
    assert main(["--config", config, "report", "daily", "--date", "2026-11-18"]) == 0
    out = capsys.readouterr().out
    assert "daily-2026-11-18.html" in out and "announced to cases, robot (2 queued)" in out
    assert (settings.storage.data_dir / "reports" / "daily-2026-11-18.json").is_file()
    queued = (
        StateDB.in_data_dir(settings.storage.data_dir)
        .connection()
        .execute("SELECT COUNT(*) FROM deliveries WHERE event = 'report.published'")
        .fetchone()[0]
    )
    assert queued == 2
    assert (
        main(["--config", config, "report", "special", "--case", "C000001", "--no-announce"]) == 0
    )
    special = capsys.readouterr().out
    assert "江州理工大学舆情专报" in special and "special-C000001-" in special


def test_special_report_is_about_its_case(settings: Settings) -> None:
    folder = settings.storage.data_dir
    state = StateDB.in_data_dir(folder)
    case = CaseBook(state).get(1)
    index = SqliteIndex(folder, segmenter=segmenter_for(settings))
    try:
        done = produce(settings, index, state, "special", NOW, case=case, send=False)
    finally:
        index.close()
    report = done.report
    assert report["name"] == "special-C000001-2026-11-18-1700" and done.announced == []
    assert report["period"]["start"] == (START - timedelta(days=1)).isoformat()
    assert report["period"]["end"] == NOW.isoformat()
    assert report["posts"]["total"] == 6  # a day before detection reaches back to post 6
    assert report["case"]["ref"] == "C000001" and report["case"]["events"][0]["kind"] == "opened"
    html = done.html.read_text(encoding="utf-8")
    assert "江州理工大学舆情专报" in html and "专报事件" in html


def test_a_special_report_on_a_case_is_recorded_on_the_case(
    settings: Settings, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    config = str(settings.storage.data_dir.parent / "institution.yaml")
    monkeypatch.setenv("YUQING_USER", "宣传部")
    state = StateDB.in_data_dir(settings.storage.data_dir)
    assert CaseBook(state).get(1).special_report_at is None
    argv = ["--config", config, "report", "special", "--case", "1", "--no-announce"]
    assert main(argv) == 0
    assert "C000001: special report recorded" in capsys.readouterr().out
    case = CaseBook(state).get(1)
    assert case.special_report_at is not None
    (event,) = [e for e in CaseBook(state).events(1) if e.kind == "special_report"]
    assert event.actor == "宣传部" and str(event.detail["report"]).startswith("special-C000001-")
    assert event.detail["first"] is True


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["report", "daily", "--date", "18.11.2026"], "is not a date"),
        (["report", "daily", "--case", "1"], "--case goes with a special report"),
        (["report", "special", "--case", "99"], "no case 99"),
    ],
)
def test_report_command_errors_are_one_clear_line(
    tmp_path: Path,
    settings: Settings,
    capsys: pytest.CaptureFixture[str],
    argv: list[str],
    message: str,
) -> None:
    with pytest.raises(SystemExit) if "--date" in argv else contextlib.nullcontext():
        status = main(["--config", str(tmp_path / "institution.yaml"), *argv])
        assert status == 2
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err
