"""News comments from a JSON comment API (dotted paths from config) and from article HTML."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from crawler.encoding import decode_page
from crawler.extract.comments import (
    CommentConfig,
    CommentConfigError,
    dig,
    first_api_url,
    parse_comment_json,
    parse_embedded_comments,
)
from tests.crawler.server import Received, Reply, TestServer

PAGES = Path(__file__).parent / "pages" / "news"
ARTICLE = "http://news.jz.cn/news/2026-11/20/c_1001.html"
CONFIG = CommentConfig.from_mapping(
    "jznews",
    {
        "api": "/api/comments?newsid={id}&page={page}",
        "article_id": r"c_(\d+)\.html",
        "list": "data.comments",
        "text": "content",
        "author": "user.nickname",
        "time": "ctime",
        "id": "cid",
        "reply_to": "reply_to",
        "next": "data.next",
    },
)


def test_dotted_paths() -> None:
    data = {"data": {"list": [{"user": {"name": "甲"}}, {"user": {"name": "乙"}}]}}
    assert dig(data, "data.list[1].user.name") == "乙"
    assert dig(data, "data.list.0.user.name") == "甲"
    assert dig(data, "data.list[5].user") is None
    assert dig(data, "data.missing.deeper") is None
    assert dig(data, "") is data


def test_url_and_article_id_are_accepted_as_the_configuration_docs_spell_them() -> None:
    config = CommentConfig.from_mapping(
        "x", {"url": "/c?a={article_id}&page={page}", "list": "l", "text": "t"}
    )
    assert first_api_url(config, ARTICLE) == "http://news.jz.cn/c?a=1001&page=1"


def test_api_url_from_article_url() -> None:
    assert first_api_url(CONFIG, ARTICLE) == "http://news.jz.cn/api/comments?newsid=1001&page=1"
    assert first_api_url(CONFIG, "http://news.jz.cn/about.html") is None
    assert first_api_url(CommentConfig(), ARTICLE) is None


def test_two_pages_of_api_comments() -> None:
    url = first_api_url(CONFIG, ARTICLE)
    assert url is not None
    first = parse_comment_json((PAGES / "api/comments-1001-page1.json").read_bytes(), CONFIG, url)
    assert [c.author for c in first.comments] == ["江理校友", "家长王女士", "江州网友"]
    assert first.comments[1].text == "孩子在二食堂吃坏过肚子，希望第三方检测结果真的公开。"
    assert first.comments[0].time == datetime(2026, 11, 20, 3, 20, tzinfo=UTC)
    assert first.comments[0].id == "50001"
    assert first.next_url == "http://news.jz.cn/api/comments?newsid=1001&page=2"
    second = parse_comment_json(
        (PAGES / "api/comments-1001-page2.json").read_bytes(), CONFIG, first.next_url, page=2
    )
    assert [c.id for c in second.comments] == ["50004", "50005"]
    assert second.comments[0].reply_to == "50002"
    assert second.next_url is None


def test_page_counting_when_no_next_path_is_configured() -> None:
    config = CommentConfig.from_mapping(
        "x", {"api": "/c?id={id}&page={page}", "list": "items", "text": "t"}
    )
    url = "http://n.cn/c?id=7&page=1"
    full = parse_comment_json(json.dumps({"items": [{"t": "好"}]}), config, url)
    assert full.next_url == "http://n.cn/c?id=7&page=2"
    empty = parse_comment_json(
        json.dumps({"items": []}), config, "http://n.cn/c?id=7&page=2", page=2
    )
    assert empty.next_url is None


def test_jsonp_html_in_text_and_empty_items() -> None:
    config = CommentConfig.from_mapping("x", {"api": "/c?id={id}", "list": "list", "text": "c"})
    body = 'jQuery1234_567({"list": [{"c": "<p>宿舍<b>太冷</b></p>"}, {"c": ""}, {"c": null}]});'
    page = parse_comment_json(body, config, "http://n.cn/c?id=1")
    assert [c.text for c in page.comments] == ["宿舍太冷"]


def test_not_json_and_wrong_list_path_are_clear_errors() -> None:
    with pytest.raises(ValueError):
        parse_comment_json(b"<html>502 Bad Gateway</html>", CONFIG, "http://n.cn/")
    with pytest.raises(ValueError, match="is a dict, not a list"):
        parse_comment_json(json.dumps({"data": {"comments": {"a": 1}}}), CONFIG, "http://n.cn/")


@pytest.mark.parametrize(
    ("values", "message"),
    [
        ({"apii": "/x"}, "unknown comments key"),
        ({"api": "/c?id={id}"}, "needs 'list' and 'text'"),
        ({"api": "/c", "list": "a", "text": "b"}, "has neither"),
        ({"article_id": "(["}, "not a regex"),
        ({"url": "/c?id={id}", "api": "/c?id={id}", "list": "a", "text": "b"}, "not both"),
    ],
)
def test_bad_config_is_refused(values: dict[str, str], message: str) -> None:
    with pytest.raises(CommentConfigError, match=message):
        CommentConfig.from_mapping("src", values)


def test_comments_embedded_in_gbk_html() -> None:
    html = decode_page((PAGES / "2026-11/18/c_1002.html").read_bytes())[0]
    comments = parse_embedded_comments(html)
    assert [c.author for c in comments] == ["小李同学", "往届生", "江理HR"]
    assert comments[0].text == "招聘会现场人太多了，体育馆空调也没开，闷得慌。"
    assert comments[2].time == datetime(2026, 11, 18, 5, 45, tzinfo=UTC)
    # An article whose comments load by script has none in its HTML.
    assert (
        parse_embedded_comments(decode_page((PAGES / "2026-11/20/c_1001.html").read_bytes())[0])
        == []
    )


def test_embedded_comments_with_configured_selectors() -> None:
    html = (
        '<div><dl class="reply"><dt>网友甲</dt><dd>食堂确实贵</dd><dd class="t">2026-11-20 08:00'
        '</dd></dl><dl class="reply"><dt>网友乙</dt><dd>同意</dd></dl></div>'
    )
    config = CommentConfig.from_mapping(
        "x", {"html_item": "dl.reply", "html_text": "dd", "html_author": "dt", "html_time": "dd.t"}
    )
    comments = parse_embedded_comments(html, config)
    assert [(c.author, c.text) for c in comments] == [("网友甲", "食堂确实贵"), ("网友乙", "同意")]
    assert comments[0].time == datetime(2026, 11, 20, 0, 0, tzinfo=UTC)
    assert comments[1].time is None


# -- the comments spider against the local test server ----------------------------------------

FAST = {"DOWNLOAD_DELAY": 0, "AUTOTHROTTLE_ENABLED": False, "ROBOTSTXT_OBEY": False}
API_CONFIG = {  # as docs/configuration.md spells it: `url` with {article_id}
    "url": "/api/comments?newsid={article_id}&page={page}",
    "article_id": r"c_(\d+)\.html",
    "list": "data.comments",
    "text": "content",
    "author": "user.nickname",
    "time": "ctime",
    "id": "cid",
    "reply_to": "reply_to",
    "next": "data.next",
}


def _posts(path: Path) -> list[dict[str, Any]]:
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


def test_article_and_its_comments_then_only_new_ones(
    server: TestServer, crawl: Any, tmp_path: Path
) -> None:
    extra: list[dict[str, Any]] = []

    def api(req: Received) -> Reply:
        page = req.query.get("page", ["1"])[0]
        data = json.loads((PAGES / f"api/comments-1001-page{page}.json").read_text("utf-8"))
        data["data"]["comments"] += extra if page == "2" else []
        return Reply(
            200, json.dumps(data, ensure_ascii=False), {"Content-Type": "application/json"}
        )

    server.pages = PAGES
    server.route("/api/comments", api)
    sources = [
        {
            "id": "jznews",
            "kind": "comments",
            "urls": [server.url("/2026-11/20/c_1001.html")],
            "comments": API_CONFIG,
        },
        # A channel page: both its articles are followed; c_1002 has comments in its HTML.
        {"id": "campus", "kind": "comments", "urls": [server.url("/jiaoyu/index.html")]},
    ]
    out = tmp_path / "first.jsonl"
    result = crawl(sources=sources, settings=FAST, out=str(out))
    summaries = {s["source"]: s for s in result["sources"]}
    assert all(not s["errors"] for s in summaries.values()), summaries
    posts = _posts(out)
    jz = [p for p in posts if p["source"] == "jznews"]
    article = next(p for p in jz if "author" not in p)
    assert article["title"] == "江州理工大学回应学生食堂涨价问题：将公示菜价并引入第三方检测"
    assert article["text"].startswith("本报讯")
    comments = {p["author"]: p for p in jz if p is not article}
    assert len(comments) == 5
    assert comments["后勤观察员"]["parent"] == comments["家长王女士"]["id"]  # a reply
    assert comments["江理校友"]["parent"] == article["id"]
    assert comments["江理校友"]["published"] == "2026-11-20T03:20:00Z"
    campus = [p for p in posts if p["source"] == "campus"]
    assert sorted(p.get("author", "") for p in campus) == ["", "", "小李同学", "往届生", "江理HR"]
    assert summaries["jznews"]["new_posts"] == 6 and summaries["campus"]["new_posts"] == 5
    # Section links and "next page" of the channel are not articles: never requested.
    assert not server.received("/jiaoyu/index_2") and not server.received("/shehui")

    extra.append(
        {
            "cid": 50006,
            "content": "公示牌上的价格和窗口不一致。",
            "ctime": 1795160000,
            "user": {"nickname": "较真的学生"},
            "reply_to": None,
        }
    )
    second = tmp_path / "second.jsonl"
    result = crawl(sources=sources, settings=FAST, out=str(second))
    assert [(p["source"], p["author"]) for p in _posts(second)] == [("jznews", "较真的学生")]
    assert {s["source"]: s["new_posts"] for s in result["sources"]} == {"jznews": 1, "campus": 0}


def test_a_broken_comment_api_is_an_error_not_a_crash(
    server: TestServer, crawl: Any, tmp_path: Path
) -> None:
    server.pages = PAGES
    server.route(
        "/api/comments", Reply(200, b"<html>502 Bad Gateway</html>", {"Content-Type": "text/html"})
    )
    out = tmp_path / "posts.jsonl"
    result = crawl(
        sources=[
            {
                "id": "jznews",
                "kind": "comments",
                "comments": API_CONFIG,
                "urls": [server.url("/2026-11/20/c_1001.html")],
            }
        ],
        settings=FAST,
        out=str(out),
    )
    [summary] = result["sources"]
    assert summary["errors"] == {"bad_comment_api": 1}
    assert len(_posts(out)) == 1  # the article itself is still kept
