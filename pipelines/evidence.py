"""Item pipeline keeping the raw page behind every post as evidence and linking the post to it."""

from __future__ import annotations

from pathlib import Path

from scrapy.crawler import Crawler

from crawler.items import Page, PostItem
from store.evidence import EvidenceStore


class EvidencePipeline:
    def __init__(self, store: EvidenceStore) -> None:
        self.store = store
        self._last: tuple[Page, str] | None = None  # posts of one page come together

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> EvidencePipeline:
        settings = crawler.settings
        return cls(
            EvidenceStore(
                Path(settings.get("YUQING_DATA_DIR")),
                retention_days=settings.getint("YUQING_EVIDENCE_DAYS"),
            )
        )

    def process_item(self, item: PostItem) -> PostItem:
        page = item.page
        if page is None:
            return item
        if self._last is not None and self._last[0] is page:
            sha = self._last[1]
        else:
            sha = self.store.put(
                page.url, page.body, status=page.status, headers=page.headers, fetched=page.fetched
            )
            self._last = (page, sha)
        item.post.evidence = sha
        return item

    def close_spider(self) -> None:
        self.store.close()
