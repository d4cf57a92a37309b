"""Hostile sites: size caps, timeouts, redirect loops, endless pagination, calendar traps,
repeating paths, broken HTML, undeclared GBK — one crawl survives them all and says what hit it."""

from __future__ import annotations

import json
from datetime import date, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest

from store.base import SearchQuery
from store.sqlite import SqliteIndex
from tests.crawler.server import Received, Reply, TestServer

ARTICLE = (
    "<p>江州理工大学后勤管理处今日通报，东区学生宿舍热水供应将于本周五恢复正常。"
    "此前因管道老化维修，部分宿舍停供热水三天，给同学们带来不便，后勤处表示歉意。</p>"
    "<p>后勤处同时公布了报修电话和微信公众号报修入口，请同学们遇到问题及时反映，"
    "维修人员将在二十四小时内上门处理，处理结果将在公众号公示，接受师生监督。</p>"
    "<p>学校将结合寒假安排，对东区宿舍老旧管道进行全面更换，彻底解决热水供应不稳定问题。</p>"
)
HTML = {"Content-Type": "text/html; charset=utf-8"}


def html(body: str, title: str = "页面") -> str:
    return (
        f"<html><head><meta charset='utf-8'><title>{title}</title></head><body>{body}</body></html>"
    )


def _page(req: Received) -> Reply:
    n = int(parse_qs(urlsplit(req.path).query).get("page", ["1"])[0])
    return Reply(
        body=html(f'<p>第{n}页</p><a href="/h/list?page={n + 1}">下一页</a>'), headers=HTML
    )


def _day(req: Received) -> Reply:
    """A calendar: every day links to the next day and the same day next month, forever."""
    y, m, d = (int(x) for x in req.path.rstrip("/").split("/")[-3:])
    day = date(y, m, d)
    later = [day + timedelta(days=1), date(y + m // 12, m % 12 + 1, min(d, 28))]
    links = "".join(f'<a href="/h/cal/{t.year}/{t.month}/{t.day}">{t}</a>' for t in later)
    return Reply(body=html(links), headers=HTML)


def _chain(req: Received) -> Reply:
    n = int(parse_qs(urlsplit(req.path).query).get("n", ["0"])[0])
    return Reply(302, "", {"Location": f"/h/chain?n={n + 1}"})


@pytest.fixture
def hostile(server: TestServer) -> TestServer:
    links = [
        "/h/big.html",
        "/h/slow.html",
        "/h/loop-a",
        "/h/chain?n=0",
        "/h/list?page=1",
        "/h/cal/2026/11/22",
        "/h/rep/",
        "/h/broken.html",
        "/h/gbk.html",
        "/h/fine.html",
    ]
    server.route(
        "/h/index.html",
        Reply(body=html("".join(f'<a href="{u}">{u}</a>' for u in links)), headers=HTML),
    )
    server.route("/h/big.html", Reply(body=html("<p>大</p>" * 200_000), headers=HTML))
    server.route("/h/slow.html", Reply(body=html(ARTICLE), headers=HTML, delay=4))
    server.route("/h/loop-a", Reply(302, "", {"Location": "/h/loop-b"}))
    server.route("/h/loop-b", Reply(302, "", {"Location": "/h/loop-a"}))
    server.route("/h/chain", _chain)
    server.route("/h/list", _page)
    server.route_prefix("/h/cal/", _day)
    server.route_prefix("/h/rep/", Reply(body=html('<a href="x/">更多</a>'), headers=HTML))
    # No </head>, unclosed tags, stray end tags, an unterminated comment at the end.
    server.route(
        "/h/broken.html",
        Reply(
            body="<html><head><title>宿舍热水恢复通知</title><body><div><p>"
            + ARTICLE.replace("</p>", "")
            + "</span></td><div><p>完<!-- unterminated",
            headers={"Content-Type": "text/html"},
        ),
    )
    # GBK that declares nothing anywhere: Scrapy alone would decode it as cp1252.
    server.route(
        "/h/gbk.html",
        Reply(
            body=f"<html><head><title>热水通知</title></head><body>{ARTICLE}</body></html>".encode(
                "gbk"
            ),
            headers={"Content-Type": "text/html"},
        ),
    )
    server.route(
        "/h/fine.html", Reply(body=html(ARTICLE.replace("东区", "西区"), "西区通知"), headers=HTML)
    )
    return server


def test_one_crawl_survives_every_hostile_page(
    hostile: TestServer, crawl: Any, tmp_path: Path
) -> None:
    source = {
        "id": "hostile",
        "kind": "site",
        "urls": [hostile.url("/h/index.html")],
        "max_depth": 40,
        "max_pages": 300,
    }
    result = crawl(
        sources=[source],
        settings={
            "DOWNLOAD_DELAY": 0,
            "AUTOTHROTTLE_ENABLED": False,
            "ROBOTSTXT_OBEY": False,
            "DOWNLOAD_MAXSIZE": 1_000_000,
            "DOWNLOAD_WARNSIZE": 500_000,
            "DOWNLOAD_TIMEOUT": 1.5,
            "RETRY_TIMES": 0,
            "YUQING_SAME_SHAPE_LIMIT": 8,
            "REDIRECT_MAX_TIMES": 5,
        },
        out=str(tmp_path / "out.jsonl"),
    )
    [summary] = result["sources"]
    assert summary["outcome"] == "finished"
    errors, warnings = summary["errors"], summary["warnings"]
    assert errors.get("too_large") == 1
    assert errors.get("timeout") == 1
    assert errors.get("redirect_loop") == 1  # the endless chain; the a↔b loop is a duplicate
    assert warnings.get("skipped_same_shape", 0) >= 2  # pagination and calendar
    assert warnings.get("skipped_repeated_path") == 1

    def requests(prefix: str) -> int:
        return len(hostile.received(prefix))

    assert requests("/h/list") <= 9 and requests("/h/cal/") <= 9 * 2
    assert requests("/h/rep/") <= 3
    assert requests("/h/chain") == 6  # the first request and five redirects
    assert requests("/h/loop-") <= 3

    posts = {
        json.loads(line)["url"].rsplit("/", 1)[-1]: json.loads(line)
        for line in (tmp_path / "out.jsonl").read_text(encoding="utf-8").splitlines()
    }
    assert set(posts) == {"broken.html", "gbk.html", "fine.html"}
    assert "热水供应将于本周五恢复正常" in posts["broken.html"]["text"]
    assert "热水供应将于本周五恢复正常" in posts["gbk.html"]["text"]  # no mojibake
    assert posts["gbk.html"]["title"] == "热水通知"
    index = SqliteIndex(tmp_path / "data")
    assert index.search(SearchQuery(text="热水", limit=10)).total == 3
    index.close()
