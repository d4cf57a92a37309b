"""`yuqing crawl URL`: same-site links, robots.txt, sitemaps, page kinds recognised, summary."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.crawler.conftest import ROOT
from tests.crawler.server import Reply, TestServer

ROBOTS = "User-agent: *\nDisallow: /site/private/\n"


def config(tmp_path: Path, *, allow_private: bool = True) -> Path:
    path = tmp_path / "yuqing.yaml"
    path.write_text(
        "version: 1\ninstitution:\n  name: 江州理工大学\n"
        f"storage:\n  data_dir: {tmp_path / 'data'}\n"
        f"allow_private_addresses: {'true' if allow_private else 'false'}\n"
        "crawl:\n  delay: 0.01s\n",
        encoding="utf-8",
    )
    return path


def yuqing(*args: str | Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [
            sys.executable,
            "-c",
            "import sys; from service.cli import main; sys.exit(main())",
            *map(str, args),
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )


@pytest.fixture
def site(server: TestServer) -> TestServer:
    server.route("/robots.txt", Reply(body=ROBOTS, headers={"Content-Type": "text/plain"}))
    server.route(
        "/sitemap.xml",
        Reply(
            body=f'<?xml version="1.0"?><urlset><url><loc>{server.url("/site/news/orphan.html")}'
            "</loc></url><url><loc>http://elsewhere.example.com/x.html</loc></url></urlset>",
            headers={"Content-Type": "application/xml"},
        ),
    )
    return server


def test_site_crawl_reads_every_kind_of_page_and_stays_on_site(
    site: TestServer, tmp_path: Path
) -> None:
    out = tmp_path / "posts.jsonl"
    done = yuqing(
        "--config",
        config(tmp_path),
        "crawl",
        site.url("/site/index.html"),
        "--out",
        out,
        "--max-pages",
        "60",
        "--depth",
        "3",
    )
    assert done.returncode == 0, done.stderr
    posts = [json.loads(line) for line in out.read_text(encoding="utf-8").splitlines()]
    titles = {p["title"] for p in posts}
    # Articles (one only reachable from the sitemap), feed entries, forum replies.
    assert {
        "江州理工大学召开2026年安全工作会议",
        "学生食堂价格调整听证会举行",
        "图书馆期末延长开放时间",
        "关于食堂价格调整的说明",
    } <= titles
    meeting = next(p for p in posts if p["title"] == "江州理工大学召开2026年安全工作会议")
    assert "实验室安全" in meeting["text"] and "版权所有" not in meeting["text"]
    forum = [p for p in posts if p.get("floor") is not None]
    assert forum and all(p["url"].startswith(site.url("/discuz_x/thread-")) for p in forum)
    assert all(p["evidence"] for p in posts)
    assert all(p["new"] for p in posts)

    paths = [r.path for r in site.received()]
    assert not any(p.startswith("/site/private/") for p in paths)  # robots.txt
    assert len([p for p in paths if p.startswith("/site/list.html")]) == 1  # query order
    assert not any(p.endswith(".png") for p in paths)
    assert len(paths) == len(set(paths))  # nothing fetched twice

    # The summary: pages, posts, new posts, errors by kind.
    assert f"new posts {len(posts)}" in done.stdout
    assert "pages " in done.stdout


def test_second_crawl_counts_nothing_new(site: TestServer, tmp_path: Path) -> None:
    cfg = config(tmp_path)
    url = site.url("/site/news/1.html")
    first = yuqing("--config", cfg, "crawl", url, "--depth", "0")
    second = yuqing("--config", cfg, "crawl", url, "--depth", "0")
    assert "posts 1, new posts 1" in first.stdout, first.stderr
    assert "posts 1, new posts 0" in second.stdout, second.stderr


@pytest.mark.parametrize(
    "target, message",
    [
        ("ftp://example.com/", "neither an http(s) URL nor a configured source id"),
        ("no-such-source", "neither an http(s) URL nor a configured source id"),
    ],
)
def test_bad_targets_get_one_clear_line(tmp_path: Path, target: str, message: str) -> None:
    done = yuqing("--config", config(tmp_path), "crawl", target)
    assert done.returncode == 2 and message in done.stderr
    assert "Traceback" not in done.stderr


def test_loopback_refused_unless_allowed(site: TestServer, tmp_path: Path) -> None:
    done = yuqing(
        "--config", config(tmp_path, allow_private=False), "crawl", site.url("/site/index.html")
    )
    assert done.returncode == 2 and "private or loopback" in done.stderr
    assert site.received() == []


def test_a_wechat_article_without_paragraph_tags_becomes_a_post(
    site: TestServer, tmp_path: Path
) -> None:
    # WeChat writes paragraphs as <section>: the page was taken for "other" and made no post.
    out = tmp_path / "posts.jsonl"
    url = site.url("/real/wechat-s-Jz7kQ2mXbP.html")
    done = yuqing("--config", config(tmp_path), "crawl", url, "--depth", "0", "--out", out)
    assert done.returncode == 0, done.stderr
    [post] = [json.loads(line) for line in out.read_text(encoding="utf-8").splitlines()]
    gold = (ROOT / "tests/crawler/pages/real/wechat-s-Jz7kQ2mXbP.gold.txt").read_text("utf-8")
    assert post["title"] == "重要通知｜食堂菜品价格公示来了！"
    assert post["text"].splitlines() == gold.splitlines()
    assert post["sentiment"] and post["evidence"]  # analysed, evidence kept
