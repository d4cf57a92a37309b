"""The HTTP API against a real embedded index, a real state database and a real patrol log,
through FastAPI's TestClient and once through uvicorn on 127.0.0.1."""

from __future__ import annotations

import functools
import threading
import time
import warnings
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn
from fastapi import FastAPI

from alerts.cases import CaseBook
from alerts.delivery import Outbox
from alerts.engine import Engine
from alerts.models import Destination
from analysis.segment import Segmenter
from core.post import Category, Post, Sentiment, Severity
from core.settings import Settings
from core.settings_loader import load
from service.api import create_app
from service.api_ops import ThreadCrawlStarter
from service.controls import Controls
from service.jobstore import StateJobStore
from service.reports import produce
from store.evidence import EvidenceStore
from store.patrol_log import Patrol, PatrolLog
from store.sqlite import SqliteIndex
from store.state import StateDB
from tests.alerts.engine_support import Flaky
from tests.alerts.support import START, make_alert
from tests.crawler.server import TestServer

with warnings.catch_warnings():
    # Starlette's TestClient asks for its httpx fork ("httpx2") on import; the httpx we lock
    # works the same for these tests, so this one import-time warning is not an error here.
    warnings.filterwarnings("ignore", message="Using `httpx` with `starlette.testclient`")
    from fastapi.testclient import TestClient

READ, WRITE = "read-token-123", "write-token-456"
NOW = START + timedelta(hours=2)  # the clock the app runs on: START is when the alert came


def write_config(tmp_path: Path, feed_url: str = "http://127.0.0.1:9/feed.xml") -> Path:
    path = tmp_path / "institution.yaml"
    path.write_text(
        f"""institution: {{name: 江州理工大学, aliases: [江州理工]}}
storage: {{data_dir: {tmp_path / "data"}}}
allow_private_addresses: true
crawl: {{delay: 1s, obey_robots: false, run_timeout: 2m}}
sources:
  - {{id: bbs, kind: feed, urls: ["{feed_url}"], schedule: 30m}}
  - {{id: news, kind: feed, urls: ["http://127.0.0.1:9/news.xml"], schedule: "0 8 * * *"}}
watch_rules:
  - {{id: canteen, place: [食堂], event: [虫子]}}
api:
  tokens:
    - {{name: office, token_env: T_WRITE, scopes: [read, write]}}
    - {{name: dashboard, token_env: T_READ}}
""",
        encoding="utf-8",
    )
    return path


def settings_at(path: Path) -> Settings:
    return load(path, env={"T_WRITE": WRITE, "T_READ": READ}).settings


@functools.cache
def segmenter(words: tuple[str, ...]) -> Segmenter:
    """Built once: loading the dictionary is the slow part of a test's setup."""
    return Segmenter(list(words))


def open_index(settings: Settings) -> SqliteIndex:
    words = tuple(settings.dictionary_words())
    return SqliteIndex(settings.storage.data_dir, segmenter=segmenter(words))


def app_for(settings: Settings, **kw: Any) -> FastAPI:
    return create_app(settings, index=open_index(settings), **kw)


def seed(settings: Settings) -> None:
    index = open_index(settings)
    index.init()
    index.upsert(
        [
            Post.create(
                url="https://bbs.example.cn/t/1",
                source="bbs",
                title="三食堂卫生问题",
                text="江州理工三食堂吃出虫子",
                sentiment=Sentiment.NEGATIVE,
                category=Category.APPEAL,
                severity=Severity.MAJOR,
                published=START - timedelta(hours=1),
            ),
            Post.create(
                url="https://news.example.cn/a/2",
                source="news",
                title="图书馆延长开放",
                text="江州理工图书馆考试周通宵开放",
                sentiment=Sentiment.POSITIVE,
                severity=Severity.GENERAL,
                published=START - timedelta(days=1),
            ),
        ]
    )
    index.close()
    db = StateDB.in_data_dir(settings.storage.data_dir)
    dest = Destination(id="cs", url="http://127.0.0.1:9/x", allow_private=True)
    Outbox(CaseBook(db), [dest]).submit(make_alert(), START)
    db.close()
    log = PatrolLog(settings.storage.data_dir)
    log.record(
        Patrol(
            "bbs",
            NOW - timedelta(minutes=10),
            NOW - timedelta(minutes=9),
            3,
            900,
            5,
            4,
            {"http_404": 2},
            {},
            "finished",
        )
    )
    log.close()


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    result = settings_at(write_config(tmp_path))
    seed(result)
    return result


@pytest.fixture
def client(settings: Settings) -> Iterator[TestClient]:
    with TestClient(app_for(settings, clock=lambda: NOW)) as c:
        yield c


def auth(token: str = WRITE) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def test_health_and_readiness_need_no_token(client: TestClient) -> None:
    assert client.get("/health").json() == {"status": "ok"}
    ready = client.get("/ready")
    assert ready.status_code == 200 and ready.json()["checks"] == {"index": "ok", "state": "ok"}


def test_readiness_fails_with_the_reason_when_the_index_is_gone(settings: Settings) -> None:
    index = open_index(settings)
    app = create_app(settings, index=index)
    index.close()  # a closed database answers nothing, as a vanished one would
    with TestClient(app) as c:
        ready = c.get("/ready")
    assert ready.status_code == 503
    assert ready.json()["checks"]["state"] == "ok" and ready.json()["checks"]["index"] != "ok"


@pytest.mark.parametrize(
    ("headers", "status", "message"),
    [
        ({}, 401, "Authorization: Bearer"),
        ({"Authorization": "Bearer wrong"}, 401, "unknown token"),
        ({"Authorization": f"Basic {READ}"}, 401, "Authorization: Bearer"),
    ],
)
def test_calls_without_a_valid_token_are_refused(
    client: TestClient, headers: dict[str, str], status: int, message: str
) -> None:
    answer = client.get("/v1/search", headers=headers)
    assert answer.status_code == status and message in answer.json()["detail"]


def test_a_read_token_cannot_write(client: TestClient) -> None:
    assert client.get("/v1/cases", headers=auth(READ)).status_code == 200
    answer = client.post("/v1/cases/1/ack", headers=auth(READ))
    assert answer.status_code == 403 and "'write' scope" in answer.json()["detail"]


def test_no_configured_token_refuses_everything_with_the_fix(tmp_path: Path) -> None:
    settings = load(write_config(tmp_path), env={"T_WRITE": "", "T_READ": ""}).settings
    with TestClient(app_for(settings)) as c:
        answer = c.get("/v1/cases", headers=auth())
    assert answer.status_code == 401 and "api.tokens" in answer.json()["detail"]


def test_search_has_the_cli_semantics(client: TestClient) -> None:
    found = client.get("/v1/search", params={"q": "食堂"}, headers=auth(READ)).json()
    assert found["total"] == 1 and found["posts"][0]["title"] == "三食堂卫生问题"
    mood = client.get(
        "/v1/search", params={"q": "江州理工", "sentiment": "正面"}, headers=auth(READ)
    ).json()
    assert [p["source"] for p in mood["posts"]] == ["news"]
    both = client.get(
        "/v1/search",
        params=[("source", "bbs"), ("source", "news"), ("severity", "重大")],
        headers=auth(READ),
    ).json()
    assert both["total"] == 1 and both["posts"][0]["severity"] == "major"
    by_category = client.get("/v1/search", params={"category": "诉求"}, headers=auth(READ))
    assert by_category.json()["total"] == 1


def test_search_pages_through_with_the_token(client: TestClient) -> None:
    first = client.get("/v1/search", params={"q": "江州理工", "limit": 1}, headers=auth()).json()
    assert first["total"] == 2 and first["next_page"]
    second = client.get(
        "/v1/search",
        params={"q": "江州理工", "limit": 1, "page": first["next_page"]},
        headers=auth(),
    ).json()
    assert second["posts"][0]["id"] != first["posts"][0]["id"]


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"q": '"食堂'}, "the query does not parse"),
        ({"q": "食堂 AND"}, "the query does not parse"),
        ({"limit": "0"}, "limit must be between 1 and 1000"),
        ({"since": "yesterday-ish"}, "is not a time"),
        ({"since": "2026-03-02", "until": "2026-03-01"}, "since must be before"),
        ({"sentiment": "angry"}, "sentiment 'angry' is not one of"),
        ({"page": "%%%"}, "page token or cursor is damaged"),
        ({"sort": "random"}, "sort"),
    ],
)
def test_bad_searches_get_a_4xx_with_the_reason(
    client: TestClient, params: dict[str, str], message: str
) -> None:
    answer = client.get("/v1/search", params=params, headers=auth())
    assert answer.status_code in (400, 422), answer.text
    assert message in answer.json()["detail"]


def test_a_malformed_query_says_where(client: TestClient) -> None:
    answer = client.get("/v1/search", params={"q": "食堂 (卫生"}, headers=auth())
    assert answer.status_code == 400 and isinstance(answer.json()["position"], int)
    assert "at character" in answer.json()["detail"]


def test_posts_by_id(client: TestClient) -> None:
    post_id = client.get("/v1/search", params={"q": "食堂"}, headers=auth()).json()["posts"][0]
    got = client.get(f"/v1/posts/{post_id['id']}", headers=auth())
    assert got.status_code == 200 and got.json()["url"] == "https://bbs.example.cn/t/1"
    missing = client.get("/v1/posts/nope", headers=auth())
    assert missing.status_code == 404 and "no post 'nope'" in missing.json()["detail"]


def test_alerts_are_listed(client: TestClient) -> None:
    alerts = client.get("/v1/alerts", headers=auth(READ)).json()
    assert len(alerts) == 1 and alerts[0]["rule"] == "negative-canteen"
    assert alerts[0]["case_id"] == 1 and alerts[0]["body"]["title"].startswith("食堂饭菜")


def test_the_case_workflow_over_http(client: TestClient) -> None:
    listed = client.get("/v1/cases", headers=auth(READ)).json()
    assert [c["ref"] for c in listed] == ["C000001"] and listed[0]["state"] == "new"
    early = client.post("/v1/cases/1/reply", json={"text": "太早"}, headers=auth())
    assert early.status_code == 409 and "allowed: acknowledged" in early.json()["detail"]
    assert client.post("/v1/cases/1/ack", headers=auth()).json()["state"] == "acknowledged"
    assigned = client.post("/v1/cases/1/assign", json={"assignee": "李老师"}, headers=auth())
    assert assigned.json()["state"] == "in_progress" and assigned.json()["assignee"] == "李老师"
    blank = client.post("/v1/cases/1/reply", json={"text": "   "}, headers=auth())
    assert blank.status_code == 422 and "needs its text" in blank.json()["detail"]
    client.post("/v1/cases/1/reply", json={"text": "已发布情况说明"}, headers=auth())
    no_summary = client.post("/v1/cases/1/close", json={"resolution": "resolved"}, headers=auth())
    assert no_summary.status_code == 422 and "summary" in no_summary.json()["detail"]
    bad = client.post(
        "/v1/cases/1/close", json={"resolution": "shrug", "summary": "x"}, headers=auth()
    )
    assert bad.status_code == 422 and "resolution" in bad.json()["detail"]
    closed = client.post(
        "/v1/cases/1/close", json={"resolution": "resolved", "summary": "已整改"}, headers=auth()
    )
    assert closed.status_code == 200 and closed.json()["state"] == "closed"
    shown = client.get("/v1/cases/1", headers=auth(READ)).json()
    kinds = [(e["kind"], e["actor"]) for e in shown["events"]]
    assert ("transition", "office") in kinds and kinds[0] == ("opened", "system")
    assert client.get("/v1/cases", headers=auth()).json() == []
    assert len(client.get("/v1/cases", params={"all": True}, headers=auth()).json()) == 1
    missing = client.post("/v1/cases/9/ack", headers=auth())
    assert missing.status_code == 404 and "no case 9" in missing.json()["detail"]
    assert client.get("/v1/cases/abc", headers=auth()).status_code == 422


def test_the_reply_deadline_is_extended_once_over_http(client: TestClient) -> None:
    no_reason = client.post("/v1/cases/1/extend", json={}, headers=auth())
    assert no_reason.status_code == 422 and "reason" in no_reason.json()["detail"]
    too_long = client.post("/v1/cases/1/extend", json={"reason": "调查", "days": 5}, headers=auth())
    assert too_long.status_code == 422 and "1 to 2 days, not 5" in too_long.json()["detail"]
    reader = client.post("/v1/cases/1/extend", json={"reason": "调查"}, headers=auth(READ))
    assert reader.status_code == 403
    extended = client.post("/v1/cases/1/extend", json={"reason": "联合调查"}, headers=auth())
    # General: Mon 23 Nov 10:00 Beijing + 2 working days (the default and most) = Wed 25 Nov.
    assert extended.status_code == 200
    assert extended.json()["respond_by"] == "2026-11-25T02:00:00Z"
    assert extended.json()["extension_reason"] == "联合调查"
    again = client.post("/v1/cases/1/extend", json={"reason": "再延"}, headers=auth())
    assert again.status_code == 409 and "extended once" in again.json()["detail"]
    events = client.get("/v1/cases/1", headers=auth(READ)).json()["events"]
    assert [(e["kind"], e["actor"]) for e in events][-1] == ("extended", "office")


def test_sources_show_the_last_patrol_and_the_override_persists(
    client: TestClient, settings: Settings
) -> None:
    sources = {s["id"]: s for s in client.get("/v1/sources", headers=auth(READ)).json()}
    assert sources["bbs"]["last_patrol"]["new_posts"] == 4
    assert sources["bbs"]["next_due"] == (NOW + timedelta(minutes=20)).isoformat()
    assert sources["news"]["last_patrol"] is None and sources["news"]["enabled"] is True
    off = client.post("/v1/sources/news/disable", json={"reason": "改版中"}, headers=auth())
    assert off.status_code == 200 and off.json()["enabled"] is False
    # Persisted in the state database, for the daemon to read, and the YAML is untouched.
    controls = Controls(StateDB.in_data_dir(settings.storage.data_dir))
    assert controls.is_enabled("news", True) is False
    assert (
        "enabled: false" not in (settings.storage.data_dir.parent / "institution.yaml").read_text()
    )
    listed = {s["id"]: s for s in client.get("/v1/sources", headers=auth()).json()}
    assert listed["news"]["override"]["by"] == "office" and not listed["news"]["enabled"]
    client.post("/v1/sources/news/enable", headers=auth())
    assert controls.is_enabled("news", True) is True
    unknown = client.post("/v1/sources/nope/disable", headers=auth())
    assert unknown.status_code == 404 and "sources: bbs, news" in unknown.json()["detail"]


def test_incident_mode_is_stored_and_ends(client: TestClient, settings: Settings) -> None:
    started = client.post(
        "/v1/incidents", json={"source": "bbs", "hours": 6, "reason": "食堂事件"}, headers=auth()
    )
    assert started.status_code == 201, started.text
    watch = started.json()
    assert watch["active"] and watch["interval_s"] == 60 and watch["actor"] == "office"
    assert datetime.fromisoformat(watch["ends"]) == NOW + timedelta(hours=6)
    rule = client.post(
        "/v1/incidents", json={"watch_rule": "canteen", "interval_seconds": 30}, headers=auth()
    )
    assert rule.status_code == 201 and rule.json()["target_kind"] == "watch_rule"
    running = Controls(StateDB.in_data_dir(settings.storage.data_dir)).watches(NOW)
    assert {(w.target_kind, w.target) for w in running} == {
        ("source", "bbs"),
        ("watch_rule", "canteen"),
    }
    ended = client.delete(f"/v1/incidents/{watch['id']}", headers=auth())
    assert ended.status_code == 200 and ended.json()["active"] is False
    active = client.get("/v1/incidents", params={"active": True}, headers=auth(READ)).json()
    assert [w["target"] for w in active] == ["canteen"]
    for body, status, message in [
        ({"source": "bbs", "watch_rule": "canteen"}, 422, "exactly one"),
        ({"watch_rule": "nope"}, 404, "watch rules: canteen"),
        ({"source": "bbs", "interval_seconds": 1}, 422, "interval_seconds"),
    ]:
        answer = client.post("/v1/incidents", json=body, headers=auth())
        assert answer.status_code == status and message in answer.json()["detail"]
    assert client.delete("/v1/incidents/99", headers=auth()).status_code == 404


def test_reports_are_listed_and_fetched(client: TestClient, settings: Settings) -> None:
    index = open_index(settings)
    state = StateDB.in_data_dir(settings.storage.data_dir)
    produce(settings, index, state, "daily", NOW, send=False)
    index.close()
    listed = client.get("/v1/reports", headers=auth(READ)).json()
    assert [r["name"] for r in listed] == ["daily-2026-11-18"]
    assert listed[0]["title"] == "江州理工大学舆情日报" and listed[0]["kind"] == "daily"
    html = client.get(listed[0]["html"], headers=auth(READ))
    assert html.status_code == 200 and "江州理工大学舆情日报" in html.text and "<svg" in html.text
    assert html.headers["content-type"].startswith("text/html")
    data = client.get(listed[0]["json"], headers=auth()).json()
    assert data["posts"]["total"] == 1 and data["cases"]["new"][0]["ref"] == "C000001"
    missing = client.get("/v1/reports/daily-2026-01-01", headers=auth())
    assert missing.status_code == 404 and "GET /v1/reports lists them" in missing.json()["detail"]
    for sneaky in ("..%2Fstate.sqlite3", "daily-x.sqlite3", "weekly-2026-11-18.py"):
        answer = client.get(f"/v1/reports/{sneaky}", headers=auth())
        assert answer.status_code in (400, 404) and "detail" in answer.json()


def test_metrics_are_computed_from_the_stores(client: TestClient) -> None:
    text = client.get("/metrics").text
    values = {
        line.split(" ")[0]: float(line.split(" ")[1])
        for line in text.splitlines()
        if line and not line.startswith("#")
    }
    assert values["yuqing_sources_enabled"] == 2
    assert values["yuqing_sources_due"] == 1  # news: never patrolled
    assert values["yuqing_sources_late"] == 0  # due right now, not yet late
    assert values['yuqing_crawl_errors_24h{source="bbs"}'] == 2
    assert values["yuqing_posts_per_minute"] == pytest.approx(4 / 60)
    assert values["yuqing_delivery_backlog"] == 1
    assert values["yuqing_delivery_oldest_pending_seconds"] == 7200
    assert values["yuqing_cases_open"] == 1
    assert values["yuqing_cases_overdue"] == 0


def test_overdue_cases_show_in_metrics_and_lists(settings: Settings) -> None:
    later = START + timedelta(days=10)
    with TestClient(app_for(settings, clock=lambda: later)) as c:
        assert "yuqing_cases_overdue 1.0" in c.get("/metrics").text
        assert "yuqing_sources_late 1.0" in c.get("/metrics").text  # bbs; news never ran
        overdue = c.get("/v1/cases", params={"overdue": True}, headers=auth()).json()
    assert [case["overdue"] for case in overdue] == [True]


def test_rule_lag_late_sources_failures_and_readiness_name_what_is_degraded(
    tmp_path: Path,
) -> None:
    path = write_config(tmp_path)
    path.write_text(
        path.read_text(encoding="utf-8")
        + "alert_rules:\n  - {id: canteen-match, kind: match, watch_rules: [canteen]}\n"
        + "  - {id: spare, kind: match, enabled: false}\n",
        encoding="utf-8",
    )
    settings = settings_at(path)
    seed(settings)
    index = Flaky(open_index(settings))
    db = StateDB.in_data_dir(settings.storage.data_dir)
    engine = Engine.from_settings(settings, index, Outbox(CaseBook(db), []))
    engine.run_due(NOW - timedelta(minutes=20))  # the first run starts the watch
    engine.run_due(NOW - timedelta(minutes=10))  # one window, ending 10 minutes before NOW
    with TestClient(app_for(settings, clock=lambda: NOW)) as c:
        text = c.get("/metrics").text
        assert 'yuqing_alert_rule_lag_seconds{rule="canteen-match"} 600.0' in text
        assert 'rule="spare"' not in text  # disabled: not evaluated, no lag
        assert "yuqing_alert_monitor_degraded 0.0" in text
        ready = c.get("/ready").json()
        # Rules ten minutes behind, the seeded delivery pending for two hours; news never
        # patrolled is due, not late.
        assert ready["ready"] is True and ready["status"] == "degraded"
        assert set(ready["degraded"]) == {"alert_rules", "deliveries"}
        assert "canteen-match" in ready["degraded"]["alert_rules"]
        assert "the oldest for 2.0 h" in ready["degraded"]["deliveries"]
    # The index goes down for two runs: the monitor is degraded (R2), and says since when.
    index.down = 2
    engine.run_due(NOW - timedelta(minutes=5))
    engine.run_due(NOW - timedelta(minutes=4))
    later = NOW + timedelta(hours=3)  # bbs (30 min) had no patrol since NOW - 10 min
    with db.transaction() as conn:
        conn.execute(
            "UPDATE deliveries SET state = 'failed', last_error = 'HTTP 500' WHERE case_id = 1"
        )
    with TestClient(app_for(settings, clock=lambda: later)) as c:
        text = c.get("/metrics").text
        assert "yuqing_alert_monitor_degraded 1.0" in text
        assert 'yuqing_source_late{source="bbs"} 1.0' in text
        assert "yuqing_deliveries_failed 1.0" in text
        degraded = c.get("/ready").json()["degraded"]
    assert set(degraded) == {"monitor", "sources", "alert_rules", "destinations"}
    assert "since 2026-11-18T03:56:00+00:00" in degraded["monitor"]
    assert degraded["sources"] == "late patrols: bbs"  # news, never patrolled, is only due
    assert degraded["destinations"].startswith("1 failed deliveries to replay")
    db.close()


def test_crawl_now_runs_a_real_crawl_in_a_child_process(tmp_path: Path) -> None:
    server = TestServer().start()
    try:
        settings = settings_at(write_config(tmp_path, server.url("/feeds/rss20.xml")))
        starter = ThreadCrawlStarter(settings)
        with TestClient(app_for(settings, crawl_starter=starter)) as c:
            answer = c.post("/v1/sources/bbs/crawl", headers=auth())
            assert answer.status_code == 202 and answer.json()["status"] == "crawling"
            again = c.post("/v1/sources/bbs/crawl", headers=auth())
            assert again.status_code == 409 and "being crawled" in again.json()["detail"]
            starter.wait(timeout=180)
            bbs = next(s for s in c.get("/v1/sources", headers=auth()).json() if s["id"] == "bbs")
        assert bbs["last_patrol"]["outcome"] == "finished" and bbs["crawling"] is False
        assert bbs["last_patrol"]["new_posts"] > 0
        assert server.received("/feeds/rss20.xml")
    finally:
        server.stop()


def test_through_a_real_uvicorn_server(settings: Settings) -> None:
    config = uvicorn.Config(app_for(settings), host="127.0.0.1", port=0, log_level="error")
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    try:
        for _ in range(200):  # until it listens
            if server.started:
                break
            time.sleep(0.05)
        port = server.servers[0].sockets[0].getsockname()[1]
        base = f"http://127.0.0.1:{port}"
        assert httpx.get(f"{base}/health").json() == {"status": "ok"}
        found = httpx.get(f"{base}/v1/search", params={"q": "食堂"}, headers=auth(READ)).json()
        assert found["total"] == 1
        bad = httpx.get(f"{base}/v1/search", params={"q": '"食堂'}, headers=auth(READ))
        assert bad.status_code == 400 and "does not parse" in bad.json()["detail"]
        spec = httpx.get(f"{base}/openapi.json").json()
        assert "/v1/cases/{case_id}/close" in spec["paths"]
        assert httpx.get(f"{base}/docs").status_code == 200
    finally:
        server.should_exit = True
        thread.join(timeout=30)


def test_times_in_answers_are_utc(client: TestClient) -> None:
    case = client.get("/v1/cases/1", headers=auth()).json()
    assert datetime.fromisoformat(case["detected_at"]) == START.astimezone(UTC)


def test_evidence_is_served_sandboxed_with_its_fetches(
    settings: Settings, client: TestClient
) -> None:
    store = EvidenceStore(settings.storage.data_dir)
    page = "<html><script>alert(1)</script><p>食堂饭菜有虫</p></html>".encode("gbk")
    sha = store.put(
        "https://bbs.example.cn/t/1",
        page,
        headers={"Content-Type": "text/html; charset=gbk"},
        fetched=NOW - timedelta(hours=1),
    )
    store.close()
    got = client.get(f"/v1/evidence/{sha}", headers=auth(READ))
    assert got.status_code == 200 and got.content == page
    assert got.headers["content-type"].startswith("text/html")
    assert got.headers["content-security-policy"] == "sandbox"
    fetches = client.get(f"/v1/evidence/{sha}/fetches", headers=auth(READ)).json()
    assert [(f["url"], f["status"]) for f in fetches] == [("https://bbs.example.cn/t/1", 200)]
    assert client.get(f"/v1/evidence/{sha}").status_code == 401
    assert client.get(f"/v1/evidence/{'0' * 64}", headers=auth(READ)).status_code == 404
    bad = client.get("/v1/evidence/..state.sqlite3", headers=auth(READ))
    assert bad.status_code == 400 and "64 hex digits" in bad.json()["detail"]


def test_a_source_the_daemon_backed_off_is_not_late(settings: Settings) -> None:
    """Adaptive polling may put a quiet source's next run beyond its configured interval; the
    metrics and /ready read the daemon's stored next run, so that is not a late patrol."""
    later = NOW + timedelta(hours=3)  # bbs (every 30 min) last patrolled at NOW - 10 min
    db = StateDB.in_data_dir(settings.storage.data_dir)
    StateJobStore(db)  # the daemon's job table, as `yuqing patrol` leaves it
    with db.transaction() as conn:
        conn.execute(
            "INSERT INTO scheduler_jobs (id, next_run_time, job_state) VALUES (?, ?, ?)",
            ("source:bbs", (later + timedelta(minutes=20)).timestamp(), b"-"),
        )
    db.close()
    with TestClient(app_for(settings, clock=lambda: later)) as c:
        text = c.get("/metrics").text
        assert 'yuqing_source_late{source="bbs"} 0.0' in text
        assert "sources" not in c.get("/ready").json().get("degraded", {})
