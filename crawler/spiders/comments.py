"""The news-comments spider: each source URL is an article, or a channel page whose article
links are followed; an article's main text is one Post and every comment another, read from
the JSON comment API the source's ``comments:`` config describes and/or from the article's own
HTML. Only posts not seen before are yielded."""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterator
from typing import Any
from urllib.parse import urlsplit

from scrapy.http import Response, TextResponse

from core.post import SourceKind
from core.settings import Source
from core.urls import canonical_url, post_id, site_of
from crawler.extract.article import extract_article
from crawler.extract.comments import (
    Comment,
    CommentConfig,
    first_api_url,
    parse_comment_json,
    parse_embedded_comments,
)
from crawler.extract.detect import PageKind, detect
from crawler.spiders.base import SourceSpider

# Pages of one article's comment API per patrol: an API whose "next" never ends is a trap.
MAX_COMMENT_PAGES = 50
_HTML_KEYS = ("html_item", "html_text", "html_author", "html_time", "html_id")
# On a channel page, article links carry an id or a date (/2026-11/20/c_1001.html,
# /info/1012/5003.htm); menus and section links (/jiaoyu/) do not.
_ARTICLE_LINK = re.compile(r"\d{3,}")


class CommentsSpider(SourceSpider):
    kind = SourceKind.COMMENTS

    def __init__(self, source: Source, **kwargs: Any) -> None:
        super().__init__(source, **kwargs)
        self.config = CommentConfig.from_mapping(source.id, source.comments)
        self.emitted: set[str] = set()

    def parse_start(self, response: Response) -> Iterator[Any]:
        if response.status == 304:
            return
        if not isinstance(response, TextResponse):
            self.record_error("not_an_article", response.url, "not an HTML page")
            return
        if detect(response.body, response.text, response.url).kind is PageKind.ARTICLE:
            yield from self.parse_article(response)
            return
        # A channel page: its article links, once each, on this site (the page cap holds).
        site = site_of(response.url)
        links = 0
        for href in dict.fromkeys(response.css("a::attr(href)").getall()):
            url = response.urljoin(href.strip()).split("#")[0]
            if (
                urlsplit(url).scheme in ("http", "https")
                and site_of(url) == site
                and _ARTICLE_LINK.search(urlsplit(url).path)
            ):
                links += 1
                yield self.request(url, self.parse_linked)
        if not links:
            self.record_error(
                "no_articles", response.url, "neither an article nor a page linking to articles"
            )

    def parse_linked(self, response: Response) -> Iterator[Any]:
        """A page linked from a channel page: read it only if it is an article."""
        if (
            isinstance(response, TextResponse)
            and detect(response.body, response.text, response.url).kind is PageKind.ARTICLE
        ):
            yield from self.parse_article(response)

    def parse_article(self, response: TextResponse) -> Iterator[Any]:
        article_url = canonical_url(response.url)
        article = extract_article(response.text, response.url)
        if not article.text:
            self.record_error("no_article_text", response.url, "no main text found on the page")
        else:
            yield from self._fresh(
                response,
                [
                    self.post_item(
                        response,
                        url=article_url,
                        title=article.title,
                        text=article.text,
                        published=article.published,
                        thread=article_url,
                    )
                ],
            )
        configured = any(getattr(self.config, key) for key in _HTML_KEYS)
        embedded = parse_embedded_comments(response.text, self.config if configured else None)
        yield from self._comments(response, article_url, article.title, embedded)
        api = first_api_url(self.config, response.url)
        if self.config.api and api is None:
            self.record_error(
                "no_comment_api",
                response.url,
                f"article_id {self.config.article_id!r} does not match this URL",
            )
        if api:
            yield self.request(
                api, self.parse_api, article=article_url, title=article.title, comment_page=1
            )

    def parse_api(self, response: Response) -> Iterator[Any]:
        meta = response.meta
        try:
            page = parse_comment_json(
                response.body, self.config, response.url, page=meta["comment_page"]
            )
        except ValueError as exc:  # json.JSONDecodeError is one
            self.record_error(
                "bad_comment_api", response.url, f"comment API answer: {exc}", event=True
            )
            return
        yield from self._comments(response, meta["article"], meta["title"], page.comments)
        if page.next_url and page.comments and meta["comment_page"] < MAX_COMMENT_PAGES:
            yield self.request(
                page.next_url,
                self.parse_api,
                article=meta["article"],
                title=meta["title"],
                comment_page=meta["comment_page"] + 1,
            )

    def _comments(
        self, response: Response, article: str, title: str, comments: list[Comment]
    ) -> Iterator[Any]:
        items = []
        for comment in comments:
            parent = post_id(article, _anchor(comment.reply_to)) if comment.reply_to else None
            items.append(
                self.post_item(
                    response,
                    url=article,
                    anchor=_anchor(comment.id, comment.author, comment.text),
                    thread=article,
                    parent=parent or post_id(article),
                    author=comment.author,
                    published=comment.time,
                    title=title,
                    text=comment.text,
                )
            )
        yield from self._fresh(response, items)

    def _fresh(self, response: Response, items: list[Any]) -> Iterator[Any]:
        """Items whose post was neither seen on an earlier patrol nor yielded in this one."""
        ids = [item.post.id for item in items]
        seen = self.state.seen(self.source.id, ids) | self.emitted
        for item in items:
            if item.post.id not in seen:
                self.emitted.add(item.post.id)
                seen.add(item.post.id)
                yield item


def _anchor(comment_id: str | None, author: str | None = None, text: str = "") -> str:
    """A comment's anchor: its id from the site, else a digest of who said what."""
    if comment_id:
        return f"comment-{comment_id}"
    return "comment-h" + hashlib.sha1(f"{author}\n{text}".encode()).hexdigest()[:12]
