"""What spiders yield: a Post with the page it came from, so the evidence pipeline can keep it."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from scrapy.http import Response

from core.post import Post

if TYPE_CHECKING:  # only named here: importing the store would load the segmenter's stack
    from store.sqlite import IndexTokens


def header_dict(response: Response) -> dict[str, str]:
    """Response headers as text, repeated headers joined as HTTP allows."""
    return {
        key.decode("latin-1"): ", ".join(v.decode("latin-1") for v in values)
        for key, values in response.headers.items()
    }


@dataclass
class Page:
    """A fetched page as it came off the wire (the evidence of what was published)."""

    url: str
    status: int
    headers: dict[str, str]
    body: bytes
    fetched: datetime = field(default_factory=lambda: datetime.now(UTC))


@dataclass
class PostItem:
    """The item every spider yields; pipelines fill ``post.evidence`` and write ``post``."""

    post: Post
    page: Page | None = None
    # An article page's HTML not read yet: the analysis worker reads it (title, text, time)
    # beside the reactor, then analyses the post (see pipelines/analysis_worker.py).
    extract: str | None = None
    # The post's full-text tokens, cut by the analysis worker with the index's segmenter; the
    # index pipeline hands them to the index, which then does not cut the post again.
    index_tokens: IndexTokens | None = None
