"""The demo's loopback sites: a Discuz! X forum (GBK), a Tieba-style board, a news site with a
JSON comment API, an RSS feed, a message board and an education bureau site, all rendered from
one `World` that the demo's timeline adds posts to while they are being crawled."""

from __future__ import annotations

import json
import threading
from dataclasses import dataclass, field
from datetime import datetime
from email.utils import format_datetime
from html import escape
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit
from zoneinfo import ZoneInfo

from service.demo_story import Event

ZONE = ZoneInfo("Asia/Shanghai")


@dataclass
class Entry:
    """A reply, a comment or an opening post."""

    number: int
    author: str
    at: datetime
    text: str


@dataclass
class Topic:
    """A forum thread, a board thread, a news article, a feed item or a message."""

    number: int
    title: str
    author: str
    at: datetime
    entries: list[Entry] = field(default_factory=list)

    @property
    def last(self) -> datetime:
        return self.entries[-1].at if self.entries else self.at


class World:
    """Everything the sites show; the timeline publishes into it from another thread."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.topics: dict[str, dict[str, Topic]] = {
            s: {} for s in ("forum", "tieba", "news", "feed", "liuyan")
        }
        self._numbers = {"forum": 1000, "tieba": 8000, "news": 1000, "feed": 500, "liuyan": 300}
        self._entry = 20000

    def publish(self, event: Event, at: datetime) -> None:
        with self.lock:
            topics = self.topics[event.site]
            if event.action in ("thread", "article", "item") or event.key not in topics:
                self._numbers[event.site] += 1
                topic = Topic(self._numbers[event.site], event.title, event.author, at)
                # a repost on the same site is a new thread, so a fresh key keeps the old one
                key = event.key if event.key not in topics else f"{event.key}-{topic.number}"
                topics[key] = topic
                if event.action in ("article", "item"):
                    topic.entries.append(Entry(0, event.author, at, event.text))
                    return
            else:
                topic = topics[event.key]
            self._entry += 1
            topic.entries.append(Entry(self._entry, event.author, at, event.text))

    def counts(self) -> dict[str, int]:
        with self.lock:
            return {
                site: sum(max(1, len(t.entries)) for t in topics.values())
                for site, topics in self.topics.items()
            }

    def listed(self, site: str) -> list[Topic]:
        """Topics newest activity first, as boards list them."""
        with self.lock:
            return sorted(self.topics[site].values(), key=lambda t: t.last, reverse=True)

    def find(self, site: str, number: int) -> Topic | None:
        with self.lock:
            return next((t for t in self.topics[site].values() if t.number == number), None)


def _t(at: datetime) -> str:
    return at.astimezone(ZONE).strftime("%Y-%m-%d %H:%M")


def _paras(text: str) -> str:
    return "".join(f'<p style="text-indent:2em;">{escape(p)}</p>' for p in text.split("\n"))


# ---------------------------------------------------------------- Discuz! X (GBK)

_DZ_HEAD = (
    '<!DOCTYPE html PUBLIC "-//W3C//DTD XHTML 1.0 Transitional//EN" '
    '"http://www.w3.org/TR/xhtml1/DTD/xhtml1-transitional.dtd">\n'
    '<html xmlns="http://www.w3.org/1999/xhtml"><head>\n'
    '<meta http-equiv="Content-Type" content="text/html; charset=gbk" />\n'
    "<title>{title} - 江理生活 -  江州论坛·校园版 -  Powered by Discuz!</title>\n"
    '<meta name="generator" content="Discuz! X3.4" />\n</head>\n'
    '<body id="nv_forum" class="{cls}"><div id="wp" class="wp">\n'
    '<div id="pt" class="bm cl"><div class="z"><a href="./" class="nvhm">江州论坛</a>'
    "<em>&raquo;</em>"
    '<a href="forum.php?mod=forumdisplay&amp;fid=2">江理生活</a></div></div>\n'
)
_DZ_FOOT = (
    '<div id="ft" class="wp cl"><p>Powered by <strong><a href="http://www.discuz.net">Discuz!</a>'
    "</strong> <em>X3.4</em></p></div></div></body></html>\n"
)


def forum_list(world: World) -> str:
    rows = []
    for t in world.listed("forum"):
        first = t.entries[0].at if t.entries else t.at
        rows.append(
            f'<tbody id="normalthread_{t.number}"><tr>'
            f'<th class="new"><a href="forum.php?mod=viewthread&amp;tid={t.number}" '
            f'onclick="atarget(this)" class="s xst">{escape(t.title)}</a></th>'
            f'<td class="by"><cite><a href="home.php?mod=space&amp;username={escape(t.author)}">'
            f"{escape(t.author)}</a></cite><em><span>{first.astimezone(ZONE):%Y-%m-%d}</span></em></td>"
            f'<td class="num"><a href="forum.php?mod=viewthread&amp;tid={t.number}" class="xi2">'
            f"{max(0, len(t.entries) - 1)}</a><em>{37 * len(t.entries) + 11}</em></td>"
            f'<td class="by"><cite><a href="#">{escape(t.entries[-1].author)}</a></cite>'
            f'<em><a href="forum.php?mod=redirect&amp;tid={t.number}&amp;goto=lastpost">'
            f"{_t(t.last)}</a></em></td></tr></tbody>\n"
        )
    return (
        _DZ_HEAD.format(title="江理生活", cls="pg_forumdisplay")
        + '<div id="threadlist" class="tl bm bmw"><table summary="forum_2" cellspacing="0" '
        'cellpadding="0" id="threadlisttableid">\n' + "".join(rows) + "</table></div>\n" + _DZ_FOOT
    )


def forum_thread(topic: Topic) -> str:
    posts = []
    for floor, e in enumerate(topic.entries, start=1):
        label = "楼主" if floor == 1 else ("沙发" if floor == 2 else f"{floor}<sup>#</sup>")
        posts.append(
            f'<div id="post_{e.number}"><table id="pid{e.number}" class="plhin"><tr>'
            f'<td class="pls"><div class="pi"><div class="authi">'
            f'<a href="home.php?mod=space&amp;uid={e.number}" class="xw1">{escape(e.author)}</a>'
            f'</div></div></td><td class="plc"><div class="pi"><strong><a href="forum.php?mod='
            f'redirect&amp;goto=findpost&amp;ptid={topic.number}&amp;pid={e.number}" '
            f'id="postnum{e.number}">{label}</a></strong><div class="pti"><div class="authi">'
            f'<em id="authorposton{e.number}">发表于 {_t(e.at)}</em></div></div></div>'
            f'<div class="pct"><div class="pcb"><div class="t_fsz"><table><tr>'
            f'<td class="t_f" id="postmessage_{e.number}">\n{escape(e.text)}</td></tr></table>'
            f"</div></div></div></td></tr></table></div>\n"
        )
    return (
        _DZ_HEAD.format(title=escape(topic.title), cls="pg_viewthread")
        + f'<h1 class="ts"><span id="thread_subject">{escape(topic.title)}</span></h1>\n'
        + '<div id="postlist" class="pl bm">\n'
        + "".join(posts)
        + "</div>\n"
        + _DZ_FOOT
    )


# ---------------------------------------------------------------- Tieba-style board

_TB_HEAD = (
    '<!DOCTYPE html><!--STATUS OK--><html><head><meta charset="UTF-8">'
    "<title>{title}_江州理工大学吧_百度贴吧</title></head><body>"
    '<div class="card_title"><a class="card_title_fname" href="/tieba/f?kw=江州理工大学">'
    "江州理工大学吧</a></div>\n"
)


def tieba_list(world: World) -> str:
    items = []
    for t in world.listed("tieba"):
        items.append(
            f'<li class=" j_thread_list clearfix" data-field=\'{{"id": {t.number}}}\'>'
            '<span class="threadlist_rep_num center_text" title="回复">'
            f"{max(0, len(t.entries) - 1)}</span>"
            '<div class="threadlist_title pull_left j_th_tit ">'
            f'<a href="/tieba/p/{t.number}" title="{escape(t.title)}" class="j_th_tit ">'
            f"{escape(t.title)}</a></div>"
            f'<span class="frs-author-name-wrap"><a class="frs-author-name">{escape(t.author)}'
            '</a></span><span class="threadlist_reply_date pull_right j_reply_data" '
            'title="最后回复时间">'
            f"{t.last.astimezone(ZONE):%H:%M}</span></li>\n"
        )
    return (
        _TB_HEAD.format(title="江州理工大学吧")
        + '<ul id="thread_list" class="threadlist_bright">\n'
        + "".join(items)
        + '</ul><div id="frs_list_pager"><span class="pagination-current">1</span></div>'
        + "</body></html>\n"
    )


def tieba_thread(topic: Topic) -> str:
    posts = []
    for floor, e in enumerate(topic.entries, start=1):
        posts.append(
            f'<div class="l_post l_post_bright j_l_post clearfix"><div class="d_author"><ul '
            f'class="p_author"><li class="d_name"><a class="p_author_name j_user_card" '
            f'href="/home/main?un=x">{escape(e.author)}</a></li></ul></div>'
            f'<div class="d_post_content_main"><cc><div id="post_content_{e.number}" '
            f'class="d_post_content j_d_post_content ">            {escape(e.text)}</div></cc>'
            f'<div class="post-tail-wrap"><span class="tail-info">来自Android客户端</span>'
            f'<span class="tail-info">{floor}楼</span><span class="tail-info">{_t(e.at)}</span>'
            f"</div></div></div>\n"
        )
    return (
        _TB_HEAD.format(title=escape(topic.title))
        + f'<h3 class="core_title_txt pull-left text-overflow " title="{escape(topic.title)}">'
        + f'{escape(topic.title)}</h3>\n<div class="p_postlist" id="j_p_postlist">\n'
        + "".join(posts)
        + "</div></body></html>\n"
    )


# ---------------------------------------------------------------- news site with comments


def _article_path(topic: Topic, prefix: str, stem: str) -> str:
    return f"{prefix}/{topic.at.astimezone(ZONE):%Y-%m/%d}/{stem}_{topic.number}.html"


def news_index(world: World) -> str:
    links = "".join(
        f'<li><a href="{_article_path(t, "/news", "c")}">{escape(t.title)}</a>'
        f"<span>{t.at.astimezone(ZONE):%Y-%m-%d}</span></li>\n"
        for t in world.listed("news")
    )
    return (
        '<!DOCTYPE html>\n<html lang="zh-CN"><head><meta charset="utf-8">'
        "<title>教育频道_江州新闻网</title></head><body>\n"
        '<div class="top-bar"><a href="/news/">江州新闻网首页</a></div>\n'
        f'<div class="main"><h2>教育新闻</h2><ul class="news-list">\n{links}</ul></div>\n'
        '<div class="footer">江州新闻网 版权所有</div></body></html>\n'
    )


def article_page(topic: Topic, site: str, source: str) -> str:
    body = topic.entries[0].text if topic.entries else ""
    return (
        '<!DOCTYPE html>\n<html lang="zh-CN"><head><meta charset="utf-8">'
        f"<title>{escape(topic.title)}_{site}</title>"
        f'<meta name="description" content="{escape(body[:80])}"></head><body>\n'
        f'<div class="crumb">当前位置：<a href="/news/">首页</a> &gt; 教育 &gt; 正文</div>\n'
        '<div class="main"><div class="article">'
        f'<h1 class="article-title">{escape(topic.title)}</h1>\n'
        f'<div class="article-info"><span class="time">{_t(topic.at)}</span> '
        f'<span class="source">来源：{source}</span></div>\n'
        f'<div class="article-content" id="articleContent">\n{_paras(body)}\n</div></div>\n'
        f'<div class="comments" id="comments"><h3>网友评论</h3>'
        f'<div id="commentList" data-newsid="{topic.number}">评论加载中…</div></div></div>\n'
        '<div class="footer">未经授权禁止转载</div></body></html>\n'
    )


def comments_json(topic: Topic | None, page: int) -> str:
    comments = topic.entries[1:] if topic else []
    per_page = 20
    chunk = comments[(page - 1) * per_page : page * per_page]
    more = page * per_page < len(comments)
    data = {
        "code": 0,
        "msg": "ok",
        "data": {
            "total": len(comments),
            "page": page,
            "next_page": page + 1 if more else None,
            "comments": [
                {
                    "id": c.number,
                    "content": c.text,
                    "created_at": _t(c.at),
                    "user": {"nickname": c.author, "area": "江苏江州"},
                }
                for c in chunk
            ],
        },
    }
    return json.dumps(data, ensure_ascii=False)


# ---------------------------------------------------------------- RSS feed of 江州日报


def feed_xml(world: World, base: str) -> str:
    items = "".join(
        f"<item><title>{escape(t.title)}</title>"
        f"<link>{base}{_article_path(t, '/rb', 'content')}</link>"
        f'<guid isPermaLink="false">jzrb-{t.number}</guid>'
        f"<pubDate>{format_datetime(t.at.astimezone(ZONE))}</pubDate>"
        f"<description>{escape(t.entries[0].text if t.entries else '')}</description></item>\n"
        for t in world.listed("feed")
    )
    return (
        '<?xml version="1.0" encoding="utf-8"?>\n<rss version="2.0"><channel>'
        f"<title>江州日报</title><link>{base}/rb/</link><description>江州日报要闻</description>"
        f"<language>zh-cn</language>\n{items}</channel></rss>\n"
    )


# ---------------------------------------------------------------- message board (留言板)


def liuyan_list(world: World) -> str:
    items = "".join(
        f'<li><a class="title" href="/liuyan/msg/{t.number}.html">{escape(t.title)}</a>'
        f'<span class="replies">{max(0, len(t.entries) - 1)}</span>'
        f'<span class="date">{_t(t.last)}</span></li>\n'
        for t in world.listed("liuyan")
    )
    return (
        '<!DOCTYPE html><html lang="zh-CN"><head><meta charset="utf-8">'
        "<title>江州市民留言板</title></head><body><h2>市民留言</h2>\n"
        f'<ul class="messages">\n{items}</ul></body></html>\n'
    )


def liuyan_thread(topic: Topic) -> str:
    replies = "".join(
        f'<div class="reply"><span class="author">{escape(e.author)}</span>'
        f'<span class="time">{_t(e.at)}</span><div class="content">{escape(e.text)}</div></div>\n'
        for e in topic.entries
    )
    return (
        '<!DOCTYPE html><html lang="zh-CN"><head><meta charset="utf-8">'
        f"<title>{escape(topic.title)}_江州市民留言板</title></head><body>"
        f'<h1 class="title">{escape(topic.title)}</h1>\n{replies}</body></html>\n'
    )


# ---------------------------------------------------------------- 江州市教育局 (static)

EDU_NEWS = {
    "1": (
        "市教育局召开高校食品安全工作会议",
        "11月18日，江州市教育局召开全市高校食品安全工作会议，要求各高校落实食堂"
        "食品安全主体责任，开展专项检查。江州理工大学等十所高校后勤负责人参加会议。"
        "会议要求各校建立食材采购台账和留样制度，每月开展一次食堂自查，发现问题立即整改；"
        "对承包经营的食堂，学校要履行监管责任，定期公开检查结果，接受师生和家长监督。"
        "市教育局将会同市场监管部门开展联合督查。",
    ),
    "2": (
        "江州市2026年高校毕业生就业服务月启动",
        "江州市教育局联合人社部门启动高校毕业生就业服务月活动，江州理工大学等高校将举办专场招聘会。"
        "活动期间，全市将举办线上线下招聘会二十余场，提供岗位三万余个，并为困难毕业生"
        "提供一对一就业指导和求职补贴。各高校要建立未就业毕业生台账，做好离校前后的"
        "就业服务衔接，确保有就业意愿的毕业生都能得到帮助。",
    ),
}


def edu_index() -> str:
    links = "".join(
        f'<li><a href="/site/news/{n}.html">{escape(title)}</a></li>'
        for n, (title, _) in EDU_NEWS.items()
    )
    return (
        '<!DOCTYPE html><html lang="zh-CN"><head><meta charset="utf-8"><title>江州市教育局</title>'
        f"</head><body><h1>江州市教育局</h1><ul>{links}</ul></body></html>\n"
    )


def edu_page(number: str) -> str | None:
    if number not in EDU_NEWS:
        return None
    title, text = EDU_NEWS[number]
    return (
        '<!DOCTYPE html><html lang="zh-CN"><head><meta charset="utf-8">'
        f'<title>{escape(title)}_江州市教育局</title></head><body><div class="article">'
        f'<h1>{escape(title)}</h1><div class="info">发布时间：2026-11-18 09:00</div>'
        f'<div class="content">{_paras(text)}</div></div></body></html>\n'
    )


# ---------------------------------------------------------------- serving

Answer = tuple[int, str, bytes]  # status, content type, body


def answer(world: World, host: str, target: str) -> Answer:
    """The page at ``target`` (path and query) on the site at ``host`` (for absolute links)."""
    parts = urlsplit(target)
    path, query = parts.path, parse_qs(parts.query)
    html, utf8 = "text/html; charset=utf-8", "utf-8"

    def page(text: str | None, ctype: str = html, encoding: str = utf8) -> Answer:
        if text is None:
            return 404, "text/plain; charset=utf-8", "页面不存在".encode()
        # GBK pages carry characters GBK lacks as entities, as Discuz! does
        return 200, ctype, text.encode(encoding, errors="xmlcharrefreplace")

    def number(value: str) -> int:
        digits = "".join(ch for ch in value if ch.isdigit())
        return int(digits) if digits else -1

    if path == "/robots.txt":
        return page("User-agent: *\nAllow: /\n", "text/plain; charset=utf-8")
    if path == "/forum/forum.php":
        gbk = "text/html; charset=gbk"
        if query.get("mod") == ["viewthread"]:
            topic = world.find("forum", number(query.get("tid", [""])[0]))
            return page(forum_thread(topic) if topic else None, gbk, "gbk")
        return page(forum_list(world), gbk, "gbk")
    if path == "/tieba/f":
        return page(tieba_list(world))
    if path.startswith("/tieba/p/"):
        topic = world.find("tieba", number(path.rsplit("/", 1)[1]))
        return page(tieba_thread(topic) if topic else None)
    if path in ("/news/", "/news"):
        return page(news_index(world))
    if path == "/news/api/comments":
        topic = world.find("news", number(query.get("article", [""])[0]))
        return page(
            comments_json(topic, max(1, number(query.get("page", ["1"])[0]))),
            "application/json; charset=utf-8",
        )
    if path.startswith("/news/") and path.endswith(".html"):
        topic = world.find("news", number(path.rsplit("_", 1)[-1]))
        return page(article_page(topic, "江州新闻网", "江州新闻网") if topic else None)
    if path == "/feed.xml":
        return page(feed_xml(world, f"http://{host}"), "application/rss+xml; charset=utf-8")
    if path.startswith("/rb/") and path.endswith(".html"):
        topic = world.find("feed", number(path.rsplit("_", 1)[-1]))
        return page(article_page(topic, "江州日报", "江州日报") if topic else None)
    if path in ("/liuyan/", "/liuyan"):
        return page(liuyan_list(world))
    if path.startswith("/liuyan/msg/"):
        topic = world.find("liuyan", number(path.rsplit("/", 1)[1]))
        return page(liuyan_thread(topic) if topic else None)
    if path in ("/site/", "/site"):
        return page(edu_index())
    if path.startswith("/site/news/"):
        return page(edu_page(path.rsplit("/", 1)[1].removesuffix(".html")))
    return page(None)


class SitesServer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, address: tuple[str, int], world: World) -> None:
        self.world = world
        super().__init__(address, _SiteHandler)


class _SiteHandler(BaseHTTPRequestHandler):
    server: SitesServer
    protocol_version = "HTTP/1.1"

    def do_GET(self) -> None:
        host = (
            self.headers.get("Host")
            or f"{self.server.server_address[0]!s}:{self.server.server_address[1]}"
        )
        status, ctype, body = answer(self.server.world, host, self.path)
        try:
            self.send_response(status)
            self.send_header("Content-Type", ctype)
            self.send_header("Content-Length", str(len(body)))
            self.send_header("Cache-Control", "no-cache")
            self.end_headers()
            self.wfile.write(body)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the crawler gave up on this page: nothing to tidy

    def log_message(self, format: str, *args: object) -> None:
        """Quiet: the demo prints what happens, not every request."""
