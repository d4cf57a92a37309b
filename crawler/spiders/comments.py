"""The news-comments spider: each source URL is an article; its main text is one Post and every
comment another, read from the JSON comment API the source's ``comments:`` config describes
and/or from the article's own HTML. Only comments not seen before are yielded."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from typing import Any

from scrapy.http import Response, TextResponse

from core.post import SourceKind
from core.settings import Source
from core.urls import canonical_url, post_id
from crawler.extract.article import extract_article
from crawler.extract.comments import (
    Comment,
    CommentConfig,
    first_api_url,
    parse_comment_json,
    parse_embedded_comments,
)
from crawler.spiders.base import SourceSpider

# Pages of one article's comment API per patrol: an API whose "next" never ends is a trap.
MAX_COMMENT_PAGES = 50
_HTML_KEYS = ("html_item", "html_text", "html_author", "html_time", "html_id")


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
