"""Scrapy's downloader with the per-domain concurrency cap made to hold under any load, and a
way to drop what waits in its queues when a crawl must stop (its time limit).

Scrapy 2.19 counts a request against its slot's cap (``slot.transferring``) only when the task
that downloads it first runs, a loop iteration after the request left the slot's queue. Until
then the slot still looks free, so more requests leave the queue: all at once with no download
delay, and with a small delay whenever the reactor thread is held up for longer than the delay
(a loaded machine) — a cap of 2 was seen letting 3 and, with a 3 ms stall, 8 requests through.
Here a request counts against the cap from the moment it leaves the queue.
"""

from __future__ import annotations

from collections import deque
from typing import Any

from scrapy import Request, Spider
from scrapy.core.downloader import Downloader, Slot
from scrapy.exceptions import IgnoreRequest


class _ReservingQueue(deque[tuple[Request, Any]]):
    """A slot's queue whose ``popleft`` books the request in the slot's ``transferring`` set
    (the downloader adds it there again when the download starts, a no-op, and removes it
    when the download ends, as before)."""

    def __init__(self, slot: Slot, queued: deque[tuple[Request, Any]]) -> None:
        super().__init__(queued)
        self.slot = slot

    def popleft(self) -> tuple[Request, Any]:
        request, deferred = super().popleft()
        self.slot.transferring.add(request)
        return request, deferred


class CappedDownloader(Downloader):
    """The DOWNLOADER of every crawl (crawler/settings.py)."""

    def _get_slot(self, request: Request, spider: Spider | None = None) -> tuple[str, Slot]:
        key, slot = super()._get_slot(request)
        if not isinstance(slot.queue, _ReservingQueue):
            slot.queue = _ReservingQueue(slot, slot.queue)
        return key, slot

    def drop_queued(self, reason: IgnoreRequest) -> None:
        """Fail every request still waiting in a slot's queue (not yet downloading) with
        ``reason``. Scrapy's close would download them all first, one delay apart: a source
        stopped at its time limit must stop now."""
        for slot in self.slots.values():
            while slot.queue:
                _request, deferred = deque.popleft(slot.queue)  # not booked: it never starts
                deferred.errback(reason)
