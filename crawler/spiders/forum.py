"""The forum spider: list pages → threads → every page of replies, each reply a Post.

Incremental: a thread is fetched again only when the list shows a new reply count or last-reply
time; then its first page tells how many floors a page holds and the spider jumps to the page
of the last floor seen, and only replies not seen before are yielded.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from typing import Any

from scrapy.http import Response, TextResponse

from core.post import SourceKind
from core.settings import Source
from core.urls import post_id
from crawler.extract.forum import (
    ThreadPage,
    ThreadRef,
    page_url,
    parse_list,
    parse_thread,
    profile_named,
    recognise,
)
from crawler.extract.profiles import ForumProfile
from crawler.extract.text import select
from crawler.spiders.base import SourceSpider
from store.crawl_state import ThreadState

# A board's newest activity is on its first list pages; a patrol never needs hundreds.
MAX_LIST_PAGES = 20
# Pages of one thread fetched per patrol: a thread whose "next" never ends is a trap.
MAX_THREAD_PAGES = 100


def configured_profile(source: Source) -> ForumProfile | None:
    """The source's profile from config: built-in by name, or its own selectors; None to
    recognise each page. Raises ProfileError or KeyError with a message naming the fix."""
    if source.selectors:
        return ForumProfile.from_selectors(source.id, source.selectors)
    if source.profile:
        return profile_named(source.profile)
    return None


class ForumSpider(SourceSpider):
    kind = SourceKind.FORUM
    # Every thread page of a board has the same URL shape and the depth of a reply page says
    # nothing about a trap here: this spider bounds lists and threads itself (above), and the
    # source's page cap still holds.
    custom_settings = {"YUQING_SAME_SHAPE_LIMIT": 1_000_000, "DEPTH_LIMIT": 0}  # noqa: RUF012  # Scrapy declares it so

    def __init__(self, source: Source, **kwargs: Any) -> None:
        super().__init__(source, **kwargs)
        self.profile = configured_profile(source)
        # Thread progress is written when the crawl closes, after the index pipeline's last
        # write: a thread whose replies could not be indexed must be fetched again next time.
        self.thread_states: dict[str, ThreadState] = {}

    # -- which page is this ---------------------------------------------------------------------
    def _read(self, response: Response) -> tuple[ForumProfile, str] | None:
        if not isinstance(response, TextResponse):
            self.record_error("not_a_forum", response.url, "not an HTML page")
            return None
        if self.profile is not None:
            is_thread = bool(self.profile.post_item) and bool(
                select(response.selector, self.profile.post_item)
            )
            return self.profile, "thread" if is_thread else "list"
        found = recognise(response.text, response.url)
        if found is None:
            self.record_error(
                "not_a_forum",
                response.url,
                f"source {self.source.id!r}: no forum profile recognises this page; set `profile:`"
                " (discuz_x, discuz_7, tieba) or `selectors:` for it in the sources config",
                event=True,
            )
        return found

    def parse_start(self, response: Response) -> Iterator[Any]:
        if response.status == 304:
            return
        found = self._read(response)
        if found is None:
            return
        profile, what = found
        if what == "list":
            yield from self._list(response, profile, 1)
        else:
            thread = parse_thread(response.text, response.url, profile)
            previous = self.state.thread(self.source.id, thread.thread_url)
            yield from self._thread(response, profile, thread, None, previous, 1, 0)

    # -- list pages -----------------------------------------------------------------------------
    def parse_list_page(self, response: Response) -> Iterator[Any]:
        yield from self._list(response, response.meta["profile"], response.meta["list_page"])

    def _list(self, response: Response, profile: ForumProfile, number: int) -> Iterator[Any]:
        assert isinstance(response, TextResponse)
        page = parse_list(response.text, response.url, profile)
        if not page.threads:
            self.record_error("no_threads", response.url, "a list page with no threads on it")
        changed = False
        for ref in page.threads:
            previous = self.state.thread(self.source.id, ref.url)
            if (
                previous is not None
                and not self.force
                and not previous.changed(ref.reply_count, ref.last_reply)
            ):
                self._count("unchanged_threads")
                continue
            changed = True
            yield self.request(
                ref.url,
                self.parse_thread_page,
                profile=profile,
                ref=ref,
                previous=previous,
                thread_page=1,
                top_floor=0,
            )
        # Threads are listed by last reply: a page with nothing new means the rest is old too.
        if page.next_url and (changed or self.force) and number < MAX_LIST_PAGES:
            yield self.request(
                page.next_url, self.parse_list_page, profile=profile, list_page=number + 1
            )

    # -- thread pages ---------------------------------------------------------------------------
    def parse_thread_page(self, response: Response) -> Iterator[Any]:
        assert isinstance(response, TextResponse)
        meta = response.meta
        thread = parse_thread(response.text, response.url, meta["profile"])
        yield from self._thread(
            response,
            meta["profile"],
            thread,
            meta["ref"],
            meta["previous"],
            meta["thread_page"],
            meta["top_floor"],
        )

    def _thread(
        self,
        response: Response,
        profile: ForumProfile,
        thread: ThreadPage,
        ref: ThreadRef | None,
        previous: ThreadState | None,
        number: int,
        top_floor: int,
    ) -> Iterator[Any]:
        if not thread.replies:
            self.record_error(
                "no_replies",
                response.url,
                "a thread page with no replies (deleted, hidden or a new layout)",
            )
        floors = [r.floor for r in thread.replies if r.floor is not None]
        top_floor = max([top_floor, *floors])
        yield from self._new_replies(response, thread, ref)
        follow: dict[str, Any] = {
            "profile": profile,
            "ref": ref,
            "previous": previous,
            "top_floor": top_floor,
        }
        jump = self._jump_to(thread, previous, number, len(floors))
        if jump is not None:
            self._count("thread_pages_skipped", jump - number - 1)
            yield self.request(
                page_url(thread.thread_url, jump, profile),
                self.parse_thread_page,
                thread_page=jump,
                **follow,
            )
        elif thread.next_url and number < MAX_THREAD_PAGES:
            yield self.request(
                thread.next_url, self.parse_thread_page, thread_page=number + 1, **follow
            )
        else:
            if thread.next_url:
                self._count("thread_page_cap")
            floor = max(top_floor, (previous.max_floor or 0) if previous else 0) or None
            self.thread_states[thread.thread_url] = ThreadState(
                ref.reply_count if ref else None, ref.last_reply if ref else None, floor
            )

    def _jump_to(
        self, thread: ThreadPage, previous: ThreadState | None, number: int, per_page: int
    ) -> int | None:
        """On a known thread's first page, the page holding the last floor seen (pages before
        it hold only replies seen already), if that is beyond the next page."""
        if number != 1 or self.force or not thread.next_url or per_page == 0:
            return None
        if previous is None or not previous.max_floor:
            return None
        target = (previous.max_floor - 1) // per_page + 1
        return target if target > 2 else None

    def _new_replies(
        self, response: Response, thread: ThreadPage, ref: ThreadRef | None
    ) -> Iterator[Any]:
        keyed = [
            (self._anchor(r.anchor, r.floor, r.author, r.text), r) for r in thread.replies if r.text
        ]
        seen = self.state.seen(self.source.id, [post_id(thread.thread_url, a) for a, _ in keyed])
        for anchor, reply in keyed:
            if post_id(thread.thread_url, anchor) in seen:
                continue
            yield self.post_item(
                response,
                url=thread.thread_url,
                anchor=anchor,
                thread=thread.thread_url,
                floor=reply.floor,
                author=reply.author,
                published=reply.time,
                title=thread.title,
                text=reply.text,
                parent=post_id(thread.thread_url, reply.reply_to) if reply.reply_to else None,
                reply_count=ref.reply_count if ref and reply.floor == 1 else None,
            )

    @staticmethod
    def _anchor(anchor: str | None, floor: int | None, author: str | None, text: str) -> str:
        """The reply's own id where shown, else its floor (as the site spider does), else a
        digest of what it says (a reply with neither is still one post, not the thread)."""
        if anchor:
            return anchor
        if floor is not None:
            return str(floor)
        return "h" + hashlib.sha1(f"{author}\n{text}".encode()).hexdigest()[:12]

    def closed(self, reason: str) -> None:
        stats = self.crawler.stats.get_stats() if self.crawler.stats else {}
        if stats.get("yuqing/errors/index_unavailable"):
            self.logger.warning(
                "index unavailable: %d threads will be fetched again", len(self.thread_states)
            )
        else:
            for thread, state in self.thread_states.items():
                self.state.save_thread(self.source.id, thread, state)
        super().closed(reason)

    def _count(self, what: str, n: int = 1) -> None:
        if n > 0 and self.crawler.stats is not None:
            self.crawler.stats.inc_value(f"yuqing/forum/{what}", n)
