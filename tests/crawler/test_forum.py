"""Forum extraction on saved Discuz! X (GBK and UTF-8), Discuz! 7 and Tieba pages."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from crawler.encoding import decode_page
from crawler.extract.forum import (
    ListPage,
    ThreadPage,
    page_url,
    parse_list,
    parse_page,
    parse_thread,
    profile_named,
    recognise,
    thread_url,
)
from crawler.extract.profiles import ForumProfile, ProfileError
from store.base import IndexUnavailable
from tests.crawler.server import Received, Reply, TestServer

PAGES = Path(__file__).parent / "pages"
BBS = "http://bbs.jzlg.edu.cn/"


def _html(rel: str) -> str:
    return decode_page((PAGES / rel).read_bytes())[0]


def _thread(rel: str, url: str, profile: str) -> ThreadPage:
    return parse_thread(_html(rel), url, profile_named(profile))


def test_discuz_x_gbk_list_gives_threads_with_counts_and_last_reply() -> None:
    page = parse_list(
        _html("discuz_x/forum-2-1.html"), BBS + "forum-2-1.html", profile_named("discuz_x")
    )
    by_url = {t.url: t for t in page.threads}
    food = by_url[BBS + "thread-101-1-1.html"]
    assert food.title == "食堂饭菜涨价还越来越难吃，学校到底管不管？"
    assert food.reply_count == 12
    assert food.last_reply == datetime(2026, 11, 19, 13, 30, tzinfo=UTC)  # 21:30 in Shanghai
    assert by_url[BBS + "thread-102-1-1.html"].reply_count == 2
    assert BBS + "thread-99-1-1.html" in by_url  # the pinned thread is listed too
    assert page.next_url == BBS + "forum-2-2.html"
    last = parse_list(
        _html("discuz_x/forum-2-2.html"), BBS + "forum-2-2.html", profile_named("discuz_x")
    )
    assert [t.url for t in last.threads] == [BBS + "thread-103-1-1.html"]
    assert last.next_url is None


def test_discuz_x_gbk_three_pages_of_replies() -> None:
    floors: list[int | None] = []
    url: str | None = BBS + "thread-101-1-1.html"
    pages = 0
    while url:
        name = url.rsplit("/", 1)[1]
        page = _thread("discuz_x/" + name, url, "discuz_x")
        assert page.thread_url == BBS + "thread-101-1-1.html"
        floors += [r.floor for r in page.replies]
        url = page.next_url
        pages += 1
    assert pages == 3
    assert floors == list(range(1, 14))


def test_discuz_x_reply_fields_quote_removed_and_reply_to_kept() -> None:
    page = _thread("discuz_x/thread-101-2-1.html", BBS + "thread-101-2-1.html", "discuz_x")
    seventh = next(r for r in page.replies if r.floor == 7)
    assert seventh.author == "土木小张"
    assert seventh.time == datetime(2026, 11, 18, 7, 36, tzinfo=UTC)
    assert seventh.text == "夹生饭我也遇到过两次，胃疼了一晚上。"  # the quote of floor 2 is gone
    assert seventh.anchor == "1007"
    assert seventh.reply_to == "1002"
    assert next(r for r in page.replies if r.floor == 6).reply_to is None


def test_discuz_x_first_page_names_floors_and_drops_noise() -> None:
    page = _thread("discuz_x/thread-101-1-1.html", BBS + "thread-101-1-1.html", "discuz_x")
    assert page.title == "食堂饭菜涨价还越来越难吃，学校到底管不管？"
    assert [r.floor for r in page.replies] == [1, 2, 3, 4, 5]  # 楼主 沙发 板凳 地板 5#
    first = page.replies[0]
    assert "本帖最后由" not in first.text  # the edit note is not what was said
    assert first.text.startswith("二食堂二楼的红烧肉")
    third = page.replies[2]
    # The anti-copy "jammer" and display:none text are hidden in the page and must not leak.
    assert third.text == "上周在一食堂吃出了头发，拍照发给后勤投诉邮箱，到现在没人回复。"
    assert all("好好学习" not in r.text for r in page.replies)  # signatures
    assert all("驾校" not in r.text for r in page.replies)  # the ad between floors


def test_discuz_x_utf8_query_urls() -> None:
    url = BBS + "forum.php?mod=viewthread&tid=201&extra=page%3D1"
    page = _thread("discuz_x_utf8/viewthread-tid201-page1.html", url, "discuz_x")
    assert page.thread_url == BBS + "forum.php?mod=viewthread&tid=201"
    assert [r.floor for r in page.replies] == [1, 2, 3, 4]
    assert page.replies[1].text == "服务器崩是真的，十二点整点进去就是502。"
    assert page.next_url == BBS + "forum.php?mod=viewthread&tid=201&extra=page%3D1&page=2"
    assert thread_url(page.next_url) == page.thread_url
    page3 = _thread("discuz_x_utf8/viewthread-tid201-page3.html", page.next_url, "discuz_x")
    assert [r.floor for r in page3.replies] == [9, 10]
    assert page3.next_url is None
    lst = parse_list(
        _html("discuz_x_utf8/forumdisplay-fid3.html"),
        BBS + "forum.php?mod=forumdisplay&fid=3",
        profile_named("discuz_x"),
    )
    assert BBS + "forum.php?mod=viewthread&tid=201" in [t.url for t in lst.threads]


def test_discuz_7_list_and_thread() -> None:
    base = "http://chem.jzlg.edu.cn/bbs/"
    lst = parse_list(
        _html("discuz_7/forumdisplay-fid5.html"),
        base + "forumdisplay.php?fid=5",
        profile_named("discuz_7"),
    )
    assert [(t.url, t.reply_count) for t in lst.threads] == [
        (base + "viewthread.php?tid=301", 5),
        (base + "viewthread.php?tid=302", 0),
    ]
    page = _thread(
        "discuz_7/viewthread-tid301-page2.html", base + "viewthread.php?tid=301&page=2", "discuz_7"
    )
    assert page.title == "实验室安全检查走过场，化学楼通风橱坏了半年"
    assert [r.floor for r in page.replies] == [5, 6]
    fifth = page.replies[0]
    assert fifth.text == "发了，处长回复说本月内更换，等着看。"  # "引用: 原帖由 …" removed
    assert fifth.reply_to == "7004"
    assert fifth.author == "隔壁课题组"


def test_tieba_nested_replies_point_at_their_floor() -> None:
    page = _thread("tieba/p-401.html", "https://tieba.baidu.com/p/401", "tieba")
    assert page.title == "江州理工大学宿舍空调收费问题"
    assert page.next_url == "https://tieba.baidu.com/p/401?pn=2"
    top = [r for r in page.replies if r.floor is not None]
    nested = [r for r in page.replies if r.floor is None]
    assert [r.floor for r in top] == [1, 2, 3]
    assert [r.author for r in nested] == ["江理贴吧吧主", "软件工程1班"]
    assert {r.reply_to for r in nested} == {"9002"}
    assert nested[0].text == "可以去计财处问一下定价依据"
    last = _thread("tieba/p-401-pn2.html", "https://tieba.baidu.com/p/401?pn=2", "tieba")
    assert last.next_url is None
    assert last.thread_url == "https://tieba.baidu.com/p/401"


def test_relative_time_with_exact_title_and_a_page_cut_short() -> None:
    html = _html("discuz_x/thread-101-2-1.html")
    # Discuz! shows recent posts as "3 天前" and keeps the exact time in a title attribute.
    html = html.replace(
        '<em id="authorposton1006">发表于 2026-11-18 14:10</em>',
        '<em id="authorposton1006">发表于 <span title="2026-11-18 14:10">3&nbsp;天前</span></em>',
    )
    assert 'title="2026-11-18 14:10"' in html
    page = parse_thread(html, BBS + "thread-101-2-1.html", profile_named("discuz_x"))
    assert page.replies[0].time == datetime(2026, 11, 18, 6, 10, tzinfo=UTC)
    # A page cut off mid-way (a size cap, a dropped connection) still gives the replies before.
    cut = html[: html.index("postmessage_1009")]
    partial = parse_thread(cut, BBS + "thread-101-2-1.html", profile_named("discuz_x"))
    assert [r.floor for r in partial.replies][:3] == [6, 7, 8]
    assert partial.replies[2].text == "听说新承包商是某领导的亲戚，所以才一直没人管。"
    assert parse_thread("<html></html>", BBS, profile_named("discuz_x")).replies == []


def test_reply_counts_as_boards_print_them() -> None:
    html = _html("discuz_x/forum-2-1.html").replace(">12</a><em>", ">1.2万</a><em>")
    html = html.replace(">2</a><em>467</em>", ">1,234</a><em>467</em>")
    counts = [t.reply_count for t in parse_list(html, BBS, profile_named("discuz_x")).threads]
    assert counts == [0, 12000, 1234]


def test_page_urls_for_each_url_style() -> None:
    dx, tieba = profile_named("discuz_x"), profile_named("tieba")
    assert page_url(BBS + "thread-101-1-1.html", 3, dx) == BBS + "thread-101-3-1.html"
    assert page_url(BBS + "forum.php?mod=viewthread&tid=201", 3, dx) == (
        BBS + "forum.php?mod=viewthread&tid=201&page=3"
    )
    assert (
        page_url("https://tieba.baidu.com/p/401", 2, tieba) == "https://tieba.baidu.com/p/401?pn=2"
    )
    assert page_url(BBS + "forum.php?mod=viewthread&tid=201", 1, dx) == (
        BBS + "forum.php?mod=viewthread&tid=201"
    )
    for url in (BBS + "thread-101-3-1.html", "https://tieba.baidu.com/p/401?pn=2"):
        assert thread_url(page_url(thread_url(url), 4, tieba if "tieba" in url else dx)) == (
            thread_url(url)
        )


def test_recognise_each_forum_and_page_type() -> None:
    cases = {
        "discuz_x/forum-2-1.html": ("discuz_x", "list"),
        "discuz_x/thread-101-1-1.html": ("discuz_x", "thread"),
        "discuz_7/forumdisplay-fid5.html": ("discuz_7", "list"),
        "discuz_7/viewthread-tid301-page1.html": ("discuz_7", "thread"),
        "tieba/f-kw.html": ("tieba", "list"),
        "tieba/p-401.html": ("tieba", "thread"),
    }
    for rel, expected in cases.items():
        found = recognise(_html(rel))
        assert found is not None, rel
        assert (found[0].name, found[1]) == expected, rel
    assert recognise(_html("news/2026-11/20/c_1001.html")) is None


def test_thread_url_is_the_same_for_every_page_and_spelling() -> None:
    assert thread_url(BBS + "thread-101-3-1.html") == BBS + "thread-101-1-1.html"
    assert thread_url(BBS + "forum.php?page=2&tid=201&mod=viewthread") == thread_url(
        BBS + "forum.php?mod=viewthread&tid=201&extra=page%3D1"
    )
    assert thread_url("https://tieba.baidu.com/p/401?pn=2") == "https://tieba.baidu.com/p/401"


def test_a_profile_from_config_reads_another_forum() -> None:
    profile = ForumProfile.from_selectors(
        "other_bbs",
        {
            "post_item": "div.l_post",
            "post_author": "a.p_author_name::text",
            "post_text": "div.d_post_content",
            "post_time": "./descendant::span[@class='tail-info'][last()]",
            "post_floor": "./descendant::span[@class='tail-info'][contains(., '楼')]",
            "thread_title": "h3.core_title_txt::attr(title)",
            "remove": ".//script || .//style",
        },
    )
    page = parse_page(_html("tieba/p-401.html"), "https://tieba.baidu.com/p/401", profile)
    assert isinstance(page, ThreadPage)
    assert [r.floor for r in page.replies] == [1, 2, 3]
    assert page.replies[2].author == "北苑宿舍长"
    assert page.title == "江州理工大学宿舍空调收费问题"
    assert isinstance(
        parse_page(_html("discuz_x/forum-2-1.html"), BBS, profile_named("discuz_x")), ListPage
    )


@pytest.mark.parametrize(
    ("selectors", "message"),
    [
        ({"post_itme": "div"}, "unknown selector key(s) post_itme"),
        ({"post_item": "div"}, "needs thread_item + thread_link"),
        ({"post_item": "div", "post_text": ""}, "must be a non-empty string"),
        ({"post_item": "div", "post_text": "p", "thread_url": "(["}, "not a valid regex"),
    ],
)
def test_bad_profiles_are_refused_with_the_reason(selectors: dict[str, str], message: str) -> None:
    with pytest.raises(
        ProfileError, match=message.replace("(", r"\(").replace(")", r"\)").replace("+", r"\+")
    ):
        ForumProfile.from_selectors("bad", selectors)


def test_unknown_built_in_profile_names_the_known_ones() -> None:
    with pytest.raises(KeyError, match="discuz_7, discuz_x, tieba"):
        profile_named("phpwind")


# -- the forum spider against the local test server -------------------------------------------

FAST = {"DOWNLOAD_DELAY": 0, "AUTOTHROTTLE_ENABLED": False, "ROBOTSTXT_OBEY": False}


def _out_posts(path: Path) -> list[dict[str, Any]]:
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


def _forum(server: TestServer, path: str, **extra: Any) -> dict[str, Any]:
    return {"id": "bbs", "kind": "forum", "urls": [server.url(path)], **extra}


def test_patrol_then_only_new_replies(server: TestServer, crawl: Any, tmp_path: Path) -> None:
    server.pages = PAGES / "discuz_x"
    first_out = tmp_path / "first.jsonl"
    result = crawl(sources=[_forum(server, "/forum-2-1.html")], settings=FAST, out=str(first_out))
    [summary] = result["sources"]
    assert summary["outcome"] == "finished" and not summary["errors"], summary
    posts = _out_posts(first_out)
    # 13 floors of thread 101 over three pages, 3 + 3 in threads 102 and 103 (list page 2),
    # the pinned rules thread's one.
    assert summary["new_posts"] == len(posts) == 20
    food = sorted(
        (p for p in posts if p["thread"].endswith("thread-101-1-1.html")), key=lambda p: p["floor"]
    )
    assert [p["floor"] for p in food] == list(range(1, 14))
    assert food[6]["author"] == "土木小张"
    assert food[6]["text"] == "夹生饭我也遇到过两次，胃疼了一晚上。"
    assert food[6]["parent"] == food[1]["id"]  # floor 7 quotes floor 2
    assert food[0]["reply_count"] == 12
    assert food[0]["title"] == "食堂饭菜涨价还越来越难吃，学校到底管不管？"
    assert food[0]["published"] == "2026-11-18T04:05:00Z"
    assert all(p.get("evidence") for p in posts)  # each links the page it came from

    # Two new replies to thread 101; nothing else changed.
    server.pages = PAGES / "discuz_x_later"
    server.clear()
    second_out = tmp_path / "second.jsonl"
    result = crawl(sources=[_forum(server, "/forum-2-1.html")], settings=FAST, out=str(second_out))
    [summary] = result["sources"]
    assert summary["outcome"] == "finished" and not summary["errors"], summary
    new = _out_posts(second_out)
    assert [(p["floor"], p["author"]) for p in sorted(new, key=lambda p: p["floor"])] == [
        (14, "外院学妹"),
        (15, "路过的学长"),
    ]
    assert summary["new_posts"] == 2
    assert new[0]["id"] not in {p["id"] for p in posts}
    fetched = {r.path for r in server.received()}
    # Unchanged threads are not fetched again; the changed one from its first page straight
    # to the page of the last floor seen.
    assert "/thread-102-1-1.html" not in fetched and "/thread-99-1-1.html" not in fetched
    assert "/thread-101-2-1.html" not in fetched
    assert {"/thread-101-1-1.html", "/thread-101-3-1.html"} <= fetched

    # A third patrol with nothing new fetches no thread at all.
    server.clear()
    result = crawl(sources=[_forum(server, "/forum-2-1.html")], settings=FAST)
    assert result["sources"][0]["new_posts"] == 0
    assert not [r for r in server.received() if "thread-" in r.path]


class _DownIndex:
    """A post index that is down for the whole crawl (loaded by the crawl subprocess)."""

    def __init__(self, settings: object) -> None:
        pass

    def init(self) -> None:
        pass

    def upsert(self, posts: object) -> None:
        raise IndexUnavailable("the test index is down")

    def close(self) -> None:
        pass


def test_replies_not_indexed_are_fetched_again(server: TestServer, crawl: Any) -> None:
    server.pages = PAGES / "discuz_x"
    down = crawl(
        sources=[_forum(server, "/forum-2-1.html")],
        settings={**FAST, "YUQING_POST_INDEX": "tests.crawler.test_forum:_DownIndex"},
    )
    assert down["sources"][0]["errors"].get("index_unavailable")
    assert down["sources"][0]["new_posts"] == 0
    # Nothing was remembered as done: the next patrol fetches every thread and finds all.
    result = crawl(sources=[_forum(server, "/forum-2-1.html")], settings=FAST)
    assert result["sources"][0]["new_posts"] == 20


def test_utf8_board_with_query_urls_and_a_thread_as_source(
    server: TestServer, crawl: Any, tmp_path: Path
) -> None:
    folder = PAGES / "discuz_x_utf8"

    def board(req: Received) -> Reply:
        query = req.query
        if query.get("mod") == ["forumdisplay"]:
            name = "forumdisplay-fid3.html"
        elif query.get("mod") == ["viewthread"] and query.get("tid") == ["201"]:
            name = f"viewthread-tid201-page{query.get('page', ['1'])[0]}.html"
        else:
            return Reply(404, b"not found")
        # The server lies: these pages are UTF-8 (and say so), the header says GBK.
        headers = {"Content-Type": "text/html; charset=gbk"}
        return Reply(200, (folder / name).read_bytes(), headers)

    server.route("/forum.php", board)
    out = tmp_path / "posts.jsonl"
    result = crawl(
        sources=[_forum(server, "/forum.php?mod=forumdisplay&fid=3", profile="discuz_x")],
        settings=FAST,
        out=str(out),
    )
    [summary] = result["sources"]
    posts = _out_posts(out)
    assert summary["errors"] == {"http_404": 1}  # the pinned thread 99 is not on this server
    assert sorted(p["floor"] for p in posts) == list(range(1, 11))
    texts = {p["floor"]: p["text"] for p in posts}
    assert texts[2] == "服务器崩是真的，十二点整点进去就是502。"  # not mojibake
    assert {p["title"] for p in posts} == {"关于图书馆座位预约系统的几点建议"}
    assert {p["thread"] for p in posts} == {server.url("/forum.php?mod=viewthread&tid=201")}


def test_tieba_and_discuz_7_boards(server: TestServer, crawl: Any, tmp_path: Path) -> None:
    server.route(
        "/f",
        Reply(
            200,
            (PAGES / "tieba/f-kw.html").read_bytes(),
            {"Content-Type": "text/html; charset=utf-8"},
        ),
    )
    server.route(
        "/p/401",
        lambda req: Reply(
            200,
            (
                PAGES
                / ("tieba/p-401-pn2.html" if req.query.get("pn") == ["2"] else "tieba/p-401.html")
            ).read_bytes(),
            {"Content-Type": "text/html; charset=utf-8"},
        ),
    )
    server.route("/p/402", Reply(404, b"gone"))
    d7 = PAGES / "discuz_7"
    server.route(
        "/bbs/forumdisplay.php",
        Reply(200, (d7 / "forumdisplay-fid5.html").read_bytes(), {"Content-Type": "text/html"}),
    )
    server.route(
        "/bbs/viewthread.php",
        lambda req: Reply(
            200,
            (d7 / (f"viewthread-tid301-page{req.query.get('page', ['1'])[0]}.html")).read_bytes()
            if req.query.get("tid") == ["301"]
            else b"<html><body>no such thread</body></html>",
            {"Content-Type": "text/html"},
        ),
    )
    out = tmp_path / "posts.jsonl"
    result = crawl(
        sources=[
            {"id": "tieba", "kind": "forum", "urls": [server.url("/f?kw=jzlg&ie=utf-8")]},
            {
                "id": "chem",
                "kind": "forum",
                "urls": [server.url("/bbs/forumdisplay.php?fid=5")],
                "profile": "discuz_7",
            },
            # Any other forum: a profile made of selectors in config (here for the same board).
            {
                "id": "other",
                "kind": "forum",
                "urls": [server.url("/p/401")],
                "selectors": {
                    "post_item": "div.j_l_post",
                    "post_text": "div.d_post_content",
                    "post_author": "a.p_author_name::text",
                    "post_floor": "./descendant::span[@class='tail-info'][contains(., '楼')]",
                    "post_anchor": "div.d_post_content::attr(id)",
                    "thread_next": "(//li[contains(@class,'l_pager')])[1]/a[.='下一页']/@href",
                },
            },
        ],
        settings=FAST,
        out=str(out),
    )
    summaries = {s["source"]: s for s in result["sources"]}
    posts = _out_posts(out)
    tieba = [p for p in posts if p["source"] == "tieba"]
    assert len(tieba) == 6 + 3  # six floors, three nested replies
    nested = [p for p in tieba if "floor" not in p]
    floor2 = next(p for p in tieba if p.get("floor") == 2)
    assert {p["parent"] for p in nested if p["author"] != "北苑宿舍长"} == {floor2["id"]}
    chem = sorted((p for p in posts if p["source"] == "chem"), key=lambda p: p["floor"])
    assert [p["floor"] for p in chem] == [1, 2, 3, 4, 5, 6]
    assert chem[4]["text"] == "发了，处长回复说本月内更换，等着看。"
    assert summaries["chem"]["errors"] == {"no_replies": 1}  # thread 302 is not a thread here
    assert summaries["tieba"]["errors"] == {"http_404": 1}
    other = [p for p in posts if p["source"] == "other"]
    assert sorted(p["floor"] for p in other) == [1, 2, 3, 4, 5, 6]  # both pages, no nesting
    assert {p["id"] for p in other} <= {p["id"] for p in tieba}  # same anchors, same ids
    assert not summaries["other"]["errors"]


def test_a_page_no_profile_reads_is_a_clear_error(server: TestServer, crawl: Any) -> None:
    result = crawl(sources=[_forum(server, "/news/2026-11/20/c_1001.html")], settings=FAST)
    [summary] = result["sources"]
    assert summary["errors"] == {"not_a_forum": 1}
    assert summary["posts"] == 0
