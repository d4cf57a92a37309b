"""Item pipeline writing posts to the PostIndex in batches, counting posts and new posts, and
(for ``yuqing crawl --out``) appending them to a JSON-lines file."""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import IO, Any

from scrapy.crawler import Crawler
from scrapy.settings import BaseSettings

from core.post import Post
from crawler.items import PostItem
from crawler.middlewares import load_object_path
from pipelines.analysis import index_words, shared_segmenter
from store.base import IndexUnavailable, PostIndex
from store.crawl_state import CrawlState
from store.factory import open_post_index
from store.sqlite import IndexTokens, SqliteIndex

logger = logging.getLogger(__name__)


def open_configured_index(settings: BaseSettings) -> PostIndex:
    """The store the crawl's settings name (see store/factory.py)."""
    return open_post_index(
        Path(settings.get("YUQING_DATA_DIR")),
        settings.getlist("YUQING_ELASTICSEARCH"),
        settings.get("YUQING_INDEX_PREFIX"),
        shared_segmenter(tuple(settings.getlist("YUQING_DICTIONARY_WORDS"))),
    )


class IndexPipeline:
    def __init__(
        self, crawler: Crawler, index: PostIndex, state: CrawlState, batch: int, out: IO[str] | None
    ) -> None:
        self.crawler = crawler
        self.index = index
        self.state = state
        self.batch_size = max(1, batch)
        self.out = out
        self.buffer: list[Post] = []
        self.tokens: list[IndexTokens | None] = []
        # The full-text tokens the analysis worker cut are used only by the index they were
        # cut for: the SQLite index whose segmenter is the process's one for those words (the
        # worker's is its forked copy).
        words = index_words(crawler.settings)
        self.takes_tokens = (
            words is not None
            and isinstance(index, SqliteIndex)
            and index.segmenter is shared_segmenter(words)
        )

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> IndexPipeline:
        settings = crawler.settings
        index: PostIndex = load_object_path(settings.get("YUQING_POST_INDEX"))(settings)
        index.init()
        out_path = settings.get("YUQING_OUT")
        # Held open for the crawl and closed in close_spider: no context manager spans that.
        out = Path(out_path).open("a", encoding="utf-8") if out_path else None  # noqa: SIM115
        state = CrawlState(Path(settings.get("YUQING_DATA_DIR")))
        return cls(crawler, index, state, settings.getint("YUQING_INDEX_BATCH"), out)

    def process_item(self, item: PostItem) -> PostItem:
        self.buffer.append(item.post)
        self.tokens.append(item.index_tokens)
        item.index_tokens = None  # written: the item goes on without them
        if len(self.buffer) >= self.batch_size:
            self.flush()
        return item

    def flush(self) -> None:
        if not self.buffer:
            return
        posts, self.buffer = self.buffer, []
        tokens, self.tokens = self.tokens, []
        stats = self.crawler.stats
        assert stats is not None
        try:
            if self.takes_tokens and any(t is not None for t in tokens):
                assert isinstance(self.index, SqliteIndex)
                self.index.upsert(posts, tokens)
            else:
                self.index.upsert(posts)
        except IndexUnavailable as exc:
            # Not marked seen: the next patrol finds them new again and retries the write.
            stats.inc_value("yuqing/errors/index_unavailable")
            logger.error("index unavailable, %d posts not written: %s", len(posts), exc)
            return
        by_source: dict[str, list[str]] = {}
        for post in posts:
            by_source.setdefault(post.source, []).append(post.id)
        fresh: set[str] = set()
        for source, ids in by_source.items():
            fresh |= self.state.new_posts(source, ids)
        stats.inc_value("yuqing/posts", len(posts))
        stats.inc_value("yuqing/new_posts", len(fresh))
        if self.out is not None:
            for post in posts:
                self.out.write(_json_line(post, new=post.id in fresh))
            self.out.flush()

    def close_spider(self) -> None:
        try:
            self.flush()
        finally:
            self.index.close()
            self.state.close()
            if self.out is not None:
                self.out.close()


def _json_line(post: Post, *, new: bool) -> str:
    data: dict[str, Any] = post.model_dump(mode="json", exclude_none=True)
    data["new"] = new
    return json.dumps(data, ensure_ascii=False) + "\n"
