"""The feed spider against the local server: every format, conditional GET, ttl, bozo, HTML."""

from __future__ import annotations

import gzip
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from core.post import Post
from store.base import SearchQuery
from store.evidence import EvidenceStore
from store.patrol_log import PatrolLog
from store.sqlite import SqliteIndex
from tests.crawler.server import PAGES, Received, Reply, TestServer

FAST = {"DOWNLOAD_DELAY": 0, "AUTOTHROTTLE_ENABLED": False}


def feed(source_id: str, url: str, **extra: Any) -> dict[str, Any]:
    return {"id": source_id, "kind": "feed", "urls": [url], **extra}


def posts_of(data_dir: Path, source: str) -> list[Post]:
    index = SqliteIndex(data_dir)
    try:
        return index.search(SearchQuery(sources=[source], limit=100)).posts
    finally:
        index.close()


def by_source(result: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {s["source"]: s for s in result["sources"]}


def test_every_feed_format_is_indexed_with_evidence(
    server: TestServer, crawl: Any, tmp_path: Path
) -> None:
    names = {"rss2": "rss2.xml", "atom": "atom.xml", "rss1": "rss1.rdf", "rss091": "rss091.xml"}
    result = crawl(
        sources=[feed(k, server.url(f"/patrol/{v}")) for k, v in names.items()], settings=FAST
    )
    summary = by_source(result)
    assert {k: summary[k]["new_posts"] for k in names} == {
        "rss2": 3,
        "atom": 2,
        "rss1": 1,
        "rss091": 1,
    }
    assert all(summary[k]["outcome"] == "finished" and not summary[k]["errors"] for k in names)

    data = tmp_path / "data"
    rss2 = {p.title: p for p in posts_of(data, "rss2")}
    sports = rss2["示范大学举行2026年秋季运动会"]
    # Relative links resolve against the feed URL; HTML in the description becomes text.
    assert sports.url == server.url("/articles/1001.html")
    assert sports.text == "11月20日，示范大学第六十届秋季运动会在东区体育场开幕。"
    assert sports.author == "宣传部"
    assert sports.published == datetime(2026, 11, 20, 1, 30, tzinfo=UTC)

    atom = {p.title: p for p in posts_of(data, "atom")}
    assert atom["宿舍热水又停了"].author == "小王同学"
    assert atom["宿舍热水又停了"].text == "东区12栋已经停了三天热水，后勤什么时候修？"
    assert atom["建议增加自习室座位"].published == datetime(2026, 11, 21, 4, 0, tzinfo=UTC)
    [notice] = posts_of(data, "rss1")
    assert (notice.title, notice.author) == ("门诊楼电梯检修通知", "院办")

    # Evidence: the post points at the exact bytes served, with URL and status recorded.
    evidence = EvidenceStore(data)
    assert sports.evidence is not None
    assert evidence.get(sports.evidence) == (PAGES / "patrol/rss2.xml").read_bytes()
    [fetch] = evidence.fetches(sports.evidence)
    assert (fetch.url, fetch.status) == (server.url("/patrol/rss2.xml"), 200)
    stored = next((data / "evidence").rglob(f"{sports.evidence}.gz"))
    assert gzip.decompress(stored.read_bytes()) == evidence.get(sports.evidence)
    evidence.close()

    log = PatrolLog(data)
    patrols = {p.source: p for p in log.patrols()}
    assert patrols["atom"].new_posts == 2 and patrols["atom"].pages == 1
    log.close()


def test_unchanged_feed_is_answered_304_and_yields_nothing_new(
    server: TestServer, crawl: Any
) -> None:
    versions = [(PAGES / "patrol/rss2.xml").read_text(encoding="utf-8")]

    def current(_req: Received) -> Reply:
        return Reply(
            body=versions[-1], headers={"Content-Type": "application/rss+xml"}, conditional=True
        )

    server.route("/feed.xml", current)
    source = feed("news", server.url("/feed.xml"))
    first = by_source(crawl(sources=[source], settings=FAST))["news"]
    assert first["new_posts"] == 3

    # force: the feed's ttl (60 min) would otherwise skip the source, tested below.
    second = by_source(crawl(sources=[source], force=True, settings=FAST))["news"]
    assert (second["not_modified"], second["posts"], second["new_posts"]) == (1, 0, 0)
    requests = server.received("/feed.xml")
    assert requests[1].status == 304 and requests[1].headers.get("If-None-Match")

    # A new entry appears: only it is new.
    versions.append(
        versions[0].replace(
            "<item>",
            "<item><title>新增：校医院夜间门诊调整</title><link>/articles/1004.html</link>"
            "<description>即日起夜间门诊改至急诊楼。</description></item>\n<item>",
            1,
        )
    )
    third = by_source(crawl(sources=[source], force=True, settings=FAST))["news"]
    assert (third["posts"], third["new_posts"]) == (4, 1)


def test_feed_ttl_and_max_age_defer_the_next_patrol(
    server: TestServer, crawl: Any, tmp_path: Path
) -> None:
    server.route(
        "/short.xml",
        Reply(
            body=(PAGES / "patrol/rss091.xml").read_bytes(),
            headers={"Cache-Control": "max-age=1200"},
        ),
    )
    sources = [feed("ttl", server.url("/patrol/rss2.xml")), feed("age", server.url("/short.xml"))]
    crawl(sources=sources, settings=FAST)
    again = by_source(crawl(sources=sources, settings=FAST))
    assert again["ttl"]["outcome"] == "skipped" and "feed ttl" in again["ttl"]["detail"]
    assert again["age"]["outcome"] == "skipped"
    assert len(server.received("/patrol/rss2.xml")) == 1
    assert len(server.received("/short.xml")) == 1
    log = PatrolLog(tmp_path / "data")
    assert [p.outcome for p in log.patrols(source="ttl")] == ["finished", "skipped"]
    log.close()


def test_bozo_feed_keeps_what_it_could_read_and_html_gets_a_clear_error(
    server: TestServer, crawl: Any, tmp_path: Path
) -> None:
    result = by_source(
        crawl(
            sources=[
                feed("broken", server.url("/patrol/bozo.xml")),
                feed("homepage", server.url("/patrol/not_a_feed.html")),
                feed("missing", server.url("/patrol/gone.xml")),
                feed("fine", server.url("/patrol/atom.xml")),
            ],
            settings=FAST,
        )
    )
    assert result["broken"]["new_posts"] >= 1 and result["broken"]["warnings"] == {"bozo_feed": 1}
    assert result["homepage"]["errors"] == {"not_a_feed": 1} and result["homepage"]["posts"] == 0
    assert result["missing"]["errors"] == {"http_404": 1}
    # One broken source never stops another.
    assert result["fine"]["new_posts"] == 2 and not result["fine"]["errors"]
    log = PatrolLog(tmp_path / "data")
    [event] = log.events(source="homepage")
    assert event.kind == "not_a_feed" and "serves an HTML page" in event.detail
    assert log.events(source="broken", kind="bozo_feed")
    log.close()
    data = tmp_path / "data"
    assert "第一条完好" in {p.title for p in posts_of(data, "broken")}


def test_article_profile_follows_entries_for_their_full_text(
    server: TestServer, crawl: Any, tmp_path: Path
) -> None:
    server.route(
        "/full.xml",
        Reply(
            body=(PAGES / "patrol/rss2.xml")
            .read_bytes()
            .replace(b"/articles/1001.html", b"/site/news/1.html"),
            headers={"Content-Type": "text/xml"},
        ),
    )
    result = by_source(
        crawl(
            sources=[feed("full", server.url("/full.xml"), profile="article")],
            settings={**FAST, "ROBOTSTXT_OBEY": False},
        )
    )
    assert result["full"]["posts"] == 3
    assert result["full"]["errors"] == {"http_404": 2}  # 1002 and 1003 have no page
    posts = {p.url.rsplit("/", 1)[-1]: p for p in posts_of(tmp_path / "data", "full")}
    # The followed entry has the article's text; the others keep the feed's summary.
    assert "实验室安全" in posts["1.html"].text
    assert posts["1002.html"].text.startswith("近日有同学反映第二食堂饭菜涨价")
