"""Articles, feeds, page recognition, times, and the ``yuqing extract`` command on saved pages."""

from __future__ import annotations

import json
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path

import pytest

from crawler.encoding import decode_page
from crawler.extract.article import extract_article
from crawler.extract.detect import PageKind, detect
from crawler.extract.feed import NotAFeed, parse_feed
from crawler.extract.times import parse_time
from service.cli import main

PAGES = Path(__file__).parent / "pages"
NOW = datetime(2026, 11, 21, 4, 0, tzinfo=UTC)  # 12:00 in Shanghai


def _page(rel: str) -> str:
    return decode_page((PAGES / rel).read_bytes())[0]


def test_article_text_title_and_time() -> None:
    article = extract_article(_page("news/2026-11/20/c_1001.html"), "http://news.jz.cn/c_1001.html")
    gold = (PAGES / "news/2026-11/20/c_1001.gold.txt").read_text(encoding="utf-8").splitlines()
    assert article.title == "江州理工大学回应学生食堂涨价问题：将公示菜价并引入第三方检测"
    assert article.text.splitlines() == gold  # every paragraph, no menus, no related links
    assert article.published == datetime(2026, 11, 20, 2, 32, tzinfo=UTC)


def test_gbk_article_with_chinese_byline_date() -> None:
    article = extract_article(_page("news/2026-11/18/c_1002.html"))
    assert article.title == "江州理工大学举办2026年秋季校园招聘会 三百余家企业进校"
    assert article.published == datetime(2026, 11, 18, 1, 15, tzinfo=UTC)
    assert "体育馆举行" in article.text
    assert "热点排行" not in article.text and "闷得慌" not in article.text  # sidebar, comments


def test_meta_time_wins_and_fallback_takes_over_when_trafilatura_finds_nothing() -> None:
    html = (
        '<html><head><meta property="article:published_time" content="2026-11-20T09:00:00+08:00">'
        "<title>通知_江理</title></head><body><div><p>宿舍停水。</p><p>明天恢复。</p></div>"
        "</body></html>"
    )
    article = extract_article(html)
    assert article.published == datetime(2026, 11, 20, 1, 0, tzinfo=UTC)
    assert article.title == "通知"
    assert "宿舍停水。" in article.text and "明天恢复。" in article.text
    empty = extract_article("<html><body></body></html>")
    assert (empty.title, empty.text, empty.published) == ("", "", None)


@pytest.mark.parametrize(
    ("name", "version", "count"),
    [
        ("rss091.xml", "rss091n", 2),
        ("rss10.rdf", "rss10", 3),
        ("rss20.xml", "rss20", 3),
        ("rss20-gbk.xml", "rss20", 3),
        ("atom.xml", "atom10", 3),
    ],
)
def test_feed_variants(name: str, version: str, count: int) -> None:
    feed = parse_feed((PAGES / "feeds" / name).read_bytes(), "http://news.jzlg.edu.cn/rss")
    assert feed.version == version
    assert not feed.bozo
    assert len(feed.entries) == count
    first = feed.entries[0]
    assert first.title == "江州理工大学召开2026年秋季学期教学工作会议"
    assert first.url == "http://news.jzlg.edu.cn/info/1011/5001.htm"
    assert (
        first.text
        == "11月18日下午，学校在行政楼第一会议室召开秋季学期教学工作会议，部署期末考试安排。"
    )
    expected = None if version == "rss091n" else datetime(2026, 11, 19, 0, 30, tzinfo=UTC)
    assert first.published == expected


def test_bozo_feed_still_yields_entries_and_says_why() -> None:
    feed = parse_feed((PAGES / "feeds/bozo.xml").read_bytes())
    assert feed.bozo
    assert feed.bozo_reason and "not well-formed" in feed.bozo_reason
    assert feed.entries[0].title == "江州理工大学召开2026年秋季学期教学工作会议"
    assert feed.ttl_minutes == 60


def test_html_at_a_feed_url_is_not_a_feed() -> None:
    with pytest.raises(NotAFeed, match="an HTML page"):
        parse_feed((PAGES / "feeds/not-a-feed.html").read_bytes())


@pytest.mark.parametrize(
    ("rel", "kind"),
    [
        ("feeds/rss20.xml", PageKind.FEED),
        ("feeds/rss10.rdf", PageKind.FEED),
        ("feeds/atom.xml", PageKind.FEED),
        ("discuz_x/thread-101-1-1.html", PageKind.FORUM_THREAD),
        ("discuz_7/forumdisplay-fid5.html", PageKind.FORUM_LIST),
        ("tieba/p-401.html", PageKind.FORUM_THREAD),
        ("news/2026-11/20/c_1001.html", PageKind.ARTICLE),
        ("feeds/not-a-feed.html", PageKind.OTHER),
    ],
)
def test_detect(rel: str, kind: PageKind) -> None:
    body = (PAGES / rel).read_bytes()
    assert detect(body, decode_page(body)[0]).kind is kind


@pytest.mark.parametrize(
    ("shown", "expected"),
    [
        ("发表于 2026-11-18 12:05", datetime(2026, 11, 18, 4, 5, tzinfo=UTC)),
        ("2026年11月18日 09:15", datetime(2026, 11, 18, 1, 15, tzinfo=UTC)),
        ("2026/11/18", datetime(2026, 11, 17, 16, 0, tzinfo=UTC)),
        ("2026-11-20T10:00:00+08:00", datetime(2026, 11, 20, 2, 0, tzinfo=UTC)),
        ("2026-11-20T02:00:00Z", datetime(2026, 11, 20, 2, 0, tzinfo=UTC)),
        ("11-16", datetime(2026, 11, 15, 16, 0, tzinfo=UTC)),
        ("12-30 08:00", datetime(2025, 12, 30, 0, 0, tzinfo=UTC)),  # not next month: last year
        ("10:00", datetime(2026, 11, 21, 2, 0, tzinfo=UTC)),
        ("昨天 08:15", datetime(2026, 11, 20, 0, 15, tzinfo=UTC)),
        ("3 分钟前", datetime(2026, 11, 21, 3, 57, tzinfo=UTC)),
        ("半小时前", datetime(2026, 11, 21, 3, 30, tzinfo=UTC)),
        ("刚刚", NOW),
        (1795144800, datetime(2026, 11, 20, 3, 20, tzinfo=UTC)),
        (1795144800000, datetime(2026, 11, 20, 3, 20, tzinfo=UTC)),
        ("1795144800", datetime(2026, 11, 20, 3, 20, tzinfo=UTC)),
        ("2026-02-30", None),
        ("不详", None),
        (None, None),
        (True, None),
    ],
)
def test_times_as_sites_show_them(shown: object, expected: datetime | None) -> None:
    assert parse_time(shown, now=NOW) == expected


def _run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, dict[str, object], str]:
    status = main(["extract", *args])
    out, err = capsys.readouterr()
    return status, (json.loads(out) if out.strip() else {}), err


def test_extract_command_forum(capsys: pytest.CaptureFixture[str]) -> None:
    status, out, _ = _run(
        capsys,
        str(PAGES / "discuz_x/thread-101-2-1.html"),
        "--url",
        "http://bbs.jzlg.edu.cn/thread-101-2-1.html",
    )
    assert status == 0
    assert out["kind"] == "forum" and out["encoding"] == "gb18030"
    posts = out["posts"]
    assert isinstance(posts, list)
    assert [p["floor"] for p in posts] == [6, 7, 8, 9, 10]
    assert posts[1] == {
        "floor": 7,
        "author": "土木小张",
        "time": "2026-11-18T07:36:00+00:00",
        "text": "夹生饭我也遇到过两次，胃疼了一晚上。",
        "anchor": "1007",
        "reply_to": "1002",
    }
    assert out["next_url"] == "http://bbs.jzlg.edu.cn/thread-101-3-1.html"


def test_extract_command_feed_and_article(capsys: pytest.CaptureFixture[str]) -> None:
    status, out, _ = _run(capsys, str(PAGES / "feeds/atom.xml"))
    assert status == 0 and out["kind"] == "feed"
    entries = out["entries"]
    assert isinstance(entries, list) and len(entries) == 3
    assert set(entries[0]) >= {"title", "url", "published", "text"}
    status, out, _ = _run(capsys, str(PAGES / "news/2026-11/18/c_1002.html"), "--kind", "article")
    assert status == 0 and out["kind"] == "article"
    assert str(out["title"]).startswith("江州理工大学举办")
    assert len(out["comments"]) == 3  # type: ignore[arg-type]  # JSON list


def test_extract_command_errors_are_one_line(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    status, _, err = _run(capsys, str(tmp_path / "missing.html"))
    assert status == 2 and err.count("\n") == 1 and "cannot read" in err
    status, _, err = _run(capsys, str(tmp_path))
    assert status == 2 and "cannot read" in err
    status, _, err = _run(capsys, str(PAGES / "feeds/not-a-feed.html"), "--kind", "feed")
    assert status == 1 and err.count("\n") == 1 and "an HTML page" in err
    status, _, err = _run(capsys, str(PAGES / "feeds/not-a-feed.html"), "--kind", "forum")
    assert status == 1 and "not a page of a known forum" in err
    binary = tmp_path / "blob.bin"
    binary.write_bytes(bytes(range(256)) * 8)
    status, out, _ = _run(capsys, str(binary))
    assert status == 0 and out["text"] == ""


# The quality gate (pinned floors, as trafilatura's eval gate): every saved page with a gold
# text beside it; bench/extract_bench.py prints the same measure against trafilatura and bs4.
GOLD_URLS = {
    "discuz_x_utf8/viewthread-tid201-page1.html": "http://bbs.jzlg.edu.cn/forum.php?mod=viewthread&tid=201",
}


def _char_f1(extracted: str, gold: str) -> float:
    got = Counter(ch for ch in extracted if not ch.isspace())
    want = Counter(ch for ch in gold if not ch.isspace())
    shared = sum((got & want).values())
    if not shared:
        return 0.0
    precision, recall = shared / sum(got.values()), shared / sum(want.values())
    return 2 * precision * recall / (precision + recall)


def test_extraction_quality_floor_on_saved_pages(capsys: pytest.CaptureFixture[str]) -> None:
    scores = {}
    for gold in sorted(PAGES.rglob("*.gold.txt")):
        stem = gold.name.removesuffix(".gold.txt")
        [page] = [p for p in gold.parent.glob(stem + ".*") if p != gold]
        rel = str(page.relative_to(PAGES))
        status, out, _ = _run(
            capsys, str(page), *(["--url", GOLD_URLS[rel]] if rel in GOLD_URLS else [])
        )
        assert status == 0
        scores[rel] = _char_f1(str(out["text"]), gold.read_text(encoding="utf-8"))
    assert len(scores) >= 9
    assert min(scores.values()) >= 0.95, scores
    assert sum(scores.values()) / len(scores) >= 0.98, scores
