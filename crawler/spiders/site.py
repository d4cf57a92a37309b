"""The site spider (on-demand crawl of a named site): same-site links and sitemaps within depth
and page caps; each page is recognised as feed, forum thread, forum list or article and read by
the matching extractor."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator, Iterator
from typing import Any
from urllib.parse import urlsplit

from scrapy.http import Response, TextResponse

from core.post import SourceKind
from core.urls import post_id, site_of
from crawler.extract.article import extract_article
from crawler.extract.detect import PageKind, detect
from crawler.extract.forum import parse_list, parse_thread, thread_url
from crawler.spiders.feed import FeedSpider

# Links to these are never pages with posts: not worth a request.
_SKIP = re.compile(
    r"\.(jpe?g|png|gif|webp|bmp|ico|svg|css|js|pdf|docx?|xlsx?|pptx?|zip|rar|7z|gz|tar|"
    r"mp3|mp4|avi|mov|flv|wmv|apk|exe|dmg|iso|woff2?|ttf)$",
    re.I,
)
_LOC = re.compile(rb"<loc>\s*(.*?)\s*</loc>", re.S | re.I)
MIN_ARTICLE_CHARS = 50


class SiteSpider(FeedSpider):
    kind = SourceKind.SITE
    conditional = False  # an on-demand crawl wants the pages now, not "not modified"
    custom_settings: dict[str, Any] = {}  # noqa: RUF012  # robots.txt as configured, unlike feeds

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.sites = {site_of(url) for url in self.source.urls}

    async def start(self) -> AsyncIterator[Any]:
        async for request in super().start():
            yield request
        if self.skipped_reason is None:
            for root in dict.fromkeys(_root(url) for url in self.source.urls):
                yield self.request(
                    root + "/sitemap.xml",
                    self.parse_sitemap,
                    depth=1,
                    handle_httpstatus_list=[404, 410],
                    errback=self._quiet,
                )

    def same_site(self, url: str) -> bool:
        site = site_of(url)
        return urlsplit(url).scheme in ("http", "https") and any(
            site == s or site.endswith("." + s) for s in self.sites
        )

    def parse_start(self, response: Response) -> Iterator[Any]:
        if response.status == 304:
            return  # not modified since the last crawl: nothing new on this page
        yield from self.parse_page(response)

    def parse_page(self, response: Response) -> Iterator[Any]:
        if not isinstance(response, TextResponse):
            return  # an image or a download that slipped through: no posts in it
        ctype = (response.headers.get("Content-Type") or b"").decode("latin-1") or None
        # Parsed once (Scrapy keeps response.selector): recognition, extraction and links share it.
        page = response.selector
        found = detect(response.body, response.text, response.url, content_type=ctype, page=page)
        if found.kind is PageKind.FEED:
            yield from self.parse_feed(response)
            return
        if found.kind is PageKind.FORUM_THREAD and found.profile is not None:
            yield from self._thread(response, found.profile)
        elif found.kind is PageKind.FORUM_LIST and found.profile is not None:
            listed = parse_list(response.text, response.url, found.profile)
            for ref in listed.threads:
                if self.same_site(ref.url):
                    yield self.request(ref.url, self.parse_page)
        elif found.kind is PageKind.ARTICLE and self.settings.getbool("YUQING_EXTRACT_IN_WORKER"):
            # Read by the analysis worker on the other core (it drops a page with too little
            # text, as below): the reactor goes on fetching meanwhile.
            item = self.post_item(response, url=response.url)
            item.extract = response.text
            yield item
        elif found.kind is PageKind.ARTICLE:
            article = extract_article(response.text, response.url, page=page)
            if len(article.text) >= MIN_ARTICLE_CHARS:
                yield self.post_item(
                    response,
                    url=response.url,
                    title=article.title,
                    text=article.text,
                    published=article.published,
                )
        yield from self._links(response)

    def _thread(self, response: TextResponse, profile: Any) -> Iterator[Any]:
        page = parse_thread(response.text, response.url, profile)
        thread = page.thread_url or thread_url(response.url)
        for reply in page.replies:
            if not reply.text:
                continue
            yield self.post_item(
                response,
                url=thread,
                anchor=reply.anchor or reply.floor,
                thread=thread,
                floor=reply.floor,
                author=reply.author,
                published=reply.time,
                title=page.title,
                text=reply.text,
                parent=post_id(thread, reply.reply_to) if reply.reply_to else None,
            )
        if page.next_url and self.same_site(page.next_url):
            yield self.request(page.next_url, self.parse_page)

    def _links(self, response: TextResponse) -> Iterator[Any]:
        for href in response.css("a::attr(href)").getall():
            url = response.urljoin(href.strip())
            path = urlsplit(url).path
            if self.same_site(url) and not _SKIP.search(path):
                yield self.request(url.split("#")[0], self.parse_page)

    def parse_sitemap(self, response: Response) -> Iterator[Any]:
        if response.status != 200:
            return
        index = b"<sitemapindex" in response.body[:1024]
        for raw in _LOC.findall(response.body):
            url = raw.decode("utf-8", "replace").strip()
            if not self.same_site(url):
                continue
            if index:
                yield self.request(url, self.parse_sitemap, errback=self._quiet)
            else:
                yield self.request(url, self.parse_page)

    def _quiet(self, failure: Any) -> None:
        """A missing or broken sitemap is normal: it never counts as a crawl error."""


def _root(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}"
