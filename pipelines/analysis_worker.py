"""The crawl's analysis in a process of its own, so it runs on the second core beside Scrapy's
reactor: one worker per crawl, forked from the warm crawl process, owns the analyzer and its
learned state; batches go to it over a socket and come back analysed, in order. If the worker
dies, the crawl process says so and analyses whatever is left itself: no post is dropped."""

from __future__ import annotations

import asyncio
import gc
import logging
import multiprocessing
import os
import pickle
import signal
import socket
import struct
from collections import deque
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Literal

from analysis.analyzer import Analysis, Analyzer, Item
from core.post import Category
from pipelines.analysis_state import AnalysisState
from store.sqlite import index_tokens

logger = logging.getLogger(__name__)

# A post's analysis fields (see post_fields), or why its analysis failed.
Outcome = dict[str, Any] | Exception
Kind = Literal["analyse", "load", "save", "stop"]

_HEADER = struct.Struct("!I")  # each message: its length, then the pickle
_CHUNK = 1 << 20


def post_fields(result: Analysis) -> dict[str, Any]:
    """The Post fields an analysis fills (``cluster`` None: the post keeps its own)."""
    return {
        "keywords": [k.word for k in result.keywords],
        "sentiment": result.sentiment.label,
        "sentiment_score": round(result.sentiment.score, 4),
        "category": Category(result.category.category),
        "severity": result.severity.tier,
        "severity_reasons": list(result.severity.reasons),
        "units": [r.unit_id for r in result.units],
        "watch_rules": [m.rule_id for m in result.watch_rules],
        "cluster": result.cluster.id if result.cluster else None,
    }


class ShortArticle(Exception):
    """An article page read in the worker had too little text to be a post."""


# One post to analyse: its Item, and for a page still to be read its HTML and URL.
Entry = tuple[Item, str | None, str]


@dataclass(frozen=True)
class Batch:
    """One request to analyse: the posts, and the dictionary words of the index's segmenter
    when the index takes its full-text tokens cut here (None: it cuts them itself)."""

    entries: list[Entry]
    index_words: tuple[str, ...] | None = None


def read_and_analyse(
    analyzer: Analyzer, entries: list[Entry], index_words: tuple[str, ...] | None = None
) -> list[Outcome]:
    """Read the article pages among ``entries`` (title, text, time: as the site spider does in
    process), then analyse the batch; a page with too little text is a ShortArticle. With
    ``index_words``, each post's outcome also carries its full-text tokens (``index_tokens``)
    cut by the index's own segmenter for that dictionary, exactly as the index would."""
    from crawler.extract.article import extract_article
    from crawler.spiders.site import MIN_ARTICLE_CHARS

    read: list[dict[str, Any] | ShortArticle | None] = []
    items: list[Item] = []
    for item, html, url in entries:
        if html is None:
            read.append(None)
            items.append(item)
            continue
        try:
            article = extract_article(html, url)
        except Exception as exc:  # a parser bug: this page fails alone, as in the spider
            read.append(ShortArticle(f"{url}: {type(exc).__name__}: {exc}"))
            continue
        if len(article.text) < MIN_ARTICLE_CHARS:
            read.append(ShortArticle(f"{url}: no article text"))
            continue
        fields = {"title": article.title, "text": article.text, "published": article.published}
        read.append(fields)
        time = article.published or item.time
        items.append(replace(item, text=article.text, title=article.title, time=time))
    results = analyse(analyzer, items)
    if index_words is not None:
        from pipelines.analysis import shared_segmenter  # it imports this module

        # Not the analysis's own tokens: its cut has a dictionary of its own (cue words added).
        segmenter = shared_segmenter(index_words)
        for item, outcome in zip(items, results, strict=True):
            if isinstance(outcome, dict):
                try:
                    outcome["index_tokens"] = index_tokens(segmenter, item.title, item.text)
                except Exception:  # never the batch's failure: the index cuts this one itself
                    logger.exception("full-text tokens not cut for %s", item.id)
    analysed = iter(results)
    outcomes: list[Outcome] = []
    for page in read:
        if isinstance(page, ShortArticle):
            outcomes.append(page)
            continue
        outcome = next(analysed)
        outcomes.append({**page, **outcome} if page and isinstance(outcome, dict) else outcome)
    return outcomes


def analyse(analyzer: Analyzer, items: list[Item]) -> list[Outcome]:
    """The batch analysed in order; if it fails, each post alone, so a bad post fails alone."""
    try:
        return [post_fields(r) for r in analyzer.analyze(items)]
    except Exception:
        outcomes: list[Outcome] = []
        for item in items:
            try:
                outcomes.append(post_fields(analyzer.analyze([item])[0]))
            except Exception as exc:
                outcomes.append(exc)
        return outcomes


def cores() -> int:
    """The cores this process may run on."""
    return len(os.sched_getaffinity(0))


@dataclass
class _Request:
    kind: Kind
    payload: Any
    future: asyncio.Future[Any] | None


class AnalysisWorker:
    """The crawl process's side of the worker. ``analyse``, ``load`` and ``save`` return futures
    resolved in the order asked (the worker does one thing at a time, in order). ``dead`` says
    why the worker is gone; from then on the same requests are served here, in process, by
    ``analyzer`` (the crawl process's own copy, which first reloads the state the worker last
    saved)."""

    def __init__(self, analyzer: Analyzer) -> None:
        self.analyzer = analyzer
        self.process: multiprocessing.process.BaseProcess | None = None
        self.sock: socket.socket | None = None
        self.dead: str | None = None
        self.pending: deque[_Request] = deque()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._out = bytearray()
        self._in = bytearray()
        self._writing = False
        self._state_dir: Path | None = None  # the data folder the worker loaded its state from

    # -- life ---------------------------------------------------------------------------------
    def start(self) -> AnalysisWorker:
        """Fork the worker: it starts with this process's analyzer, already built and warm."""
        # Everything built so far (the analyzer above all) to the collector's permanent
        # generation: collections in either process then never walk, and so never copy on
        # write, the hundreds of MB the two share after the fork.
        # The site spider's pages are read in the worker (trafilatura: 0.4 s of imports and
        # regex compiling): imported now, once, not on the worker's first batch with the
        # crawl's first posts waiting for it.
        import crawler.spiders.site  # noqa: F401

        gc.freeze()
        mine, theirs = socket.socketpair()
        context = multiprocessing.get_context("fork")
        self.process = context.Process(
            target=_serve, args=(self.analyzer, theirs, mine), name="yuqing-analysis", daemon=True
        )
        self.process.start()
        theirs.close()  # only the worker holds its end: its death is EOF here
        mine.setblocking(False)
        self.sock = mine
        return self

    def stop(self) -> None:
        """Tell the worker to exit (everything asked has been answered) and wait for it."""
        if self.sock is not None and self.dead is None:
            self._detach()
            try:
                self.sock.setblocking(True)
                self.sock.sendall(bytes(self._out) + _frame(("stop", None)))
            except OSError:
                pass  # already gone: nothing was left to do
            self._out.clear()
        if self.sock is not None:
            self.sock.close()
            self.sock = None
        if self.process is not None:
            self.process.join(timeout=10)
            if self.process.is_alive():
                self.process.kill()
                self.process.join()

    # -- requests -----------------------------------------------------------------------------
    def analyse(self, batch: Batch) -> asyncio.Future[list[Outcome]]:
        return self._ask("analyse", batch)

    def load(self, data_dir: Path) -> asyncio.Future[None]:
        self._state_dir = data_dir
        return self._ask("load", data_dir)

    def save(self, data_dir: Path) -> asyncio.Future[None]:
        return self._ask("save", data_dir)

    def _ask(self, kind: Kind, payload: Any) -> asyncio.Future[Any]:
        loop = asyncio.get_running_loop()
        request = _Request(kind, payload, loop.create_future())
        if self.dead is not None or self.sock is None:
            self._here(request)
        else:
            if self._loop is None:
                self._loop = loop
                loop.add_reader(self.sock, self._readable)
            self.pending.append(request)
            self._out += _frame((kind, payload))
            self._write()
        assert request.future is not None
        return request.future

    # -- the socket ---------------------------------------------------------------------------
    def _write(self) -> None:
        """Send what fits now; the rest when the socket drains (the reactor never blocks)."""
        assert self.sock is not None and self._loop is not None
        try:
            while self._out:
                sent = self.sock.send(self._out)
                del self._out[:sent]
        except BlockingIOError:
            pass
        except OSError as exc:
            self._died(f"the connection to it broke ({exc})")
            return
        if self._out and not self._writing:
            self._loop.add_writer(self.sock, self._write)
            self._writing = True
        elif not self._out and self._writing:
            self._loop.remove_writer(self.sock)
            self._writing = False

    def _readable(self) -> None:
        assert self.sock is not None
        try:
            data = self.sock.recv(_CHUNK)
        except BlockingIOError:
            return
        except OSError as exc:
            self._died(f"the connection to it broke ({exc})")
            return
        if not data:
            self._died("it closed the connection")
            return
        self._in += data
        while len(self._in) >= _HEADER.size:
            (size,) = _HEADER.unpack_from(self._in)
            if len(self._in) < _HEADER.size + size:
                break
            status, value = pickle.loads(self._in[_HEADER.size : _HEADER.size + size])
            del self._in[: _HEADER.size + size]
            request = self.pending.popleft()
            _resolve(request, value if status == "ok" else RuntimeError(value))

    def _detach(self) -> None:
        if self._loop is not None and self.sock is not None and not self._loop.is_closed():
            self._loop.remove_reader(self.sock)
            if self._writing:
                self._loop.remove_writer(self.sock)
        self._loop, self._writing = None, False

    def _died(self, how: str) -> None:
        """Say so, loudly, and serve what was asked of the worker here, in order."""
        self._detach()
        code = None
        if self.process is not None:
            self.process.join(timeout=1)
            code = self.process.exitcode
        self.dead = (
            f"the analysis worker (pid {self.process.pid if self.process else '?'}) stopped "
            f"(exit code {code}): {how}; the crawl process analyses the remaining posts; what "
            "the worker learned since it last saved the repost clusters and IDF is lost"
        )
        logger.error("%s", self.dead)
        if self._state_dir is not None:
            # The state as the worker last saved it (or as it was when the crawl started).
            AnalysisState(self._state_dir).load(self.analyzer)
        pending, self.pending = self.pending, deque()
        for request in pending:
            self._here(request)

    def _here(self, request: _Request) -> None:
        """A request served in this process (the worker is gone or was never started)."""
        try:
            value: Any = _perform(self.analyzer, request.kind, request.payload)
        except Exception as exc:
            value = exc
        _resolve(request, value)


def _perform(analyzer: Analyzer, kind: Kind, payload: Any) -> Any:
    """One request, served by ``analyzer`` (in the worker, or here once the worker is gone)."""
    if kind == "analyse":
        return read_and_analyse(analyzer, payload.entries, payload.index_words)
    if kind == "load":
        AnalysisState(payload).load(analyzer)
    elif kind == "save":
        AnalysisState(payload).save(analyzer)
    return None


def _resolve(request: _Request, value: Any) -> None:
    future = request.future
    if future is None or future.done():  # a waiter cancelled (the crawl was stopped)
        return
    if isinstance(value, Exception):  # a batch's posts that failed are in its list, not here
        future.set_exception(value)
    else:
        future.set_result(value)


def _frame(message: tuple[str, Any]) -> bytes:
    data = pickle.dumps(message, protocol=pickle.HIGHEST_PROTOCOL)
    return _HEADER.pack(len(data)) + data


def _serve(analyzer: Analyzer, sock: socket.socket, crawl_end: socket.socket) -> None:
    """The worker: answer each request in order until told to stop or the crawl process is
    gone (EOF: it was killed; nothing is saved, as the crawl process would not have either)."""
    crawl_end.close()  # the fork's copy of the crawl process's end: kept, it would hide the EOF
    # Ctrl-C and a SIGTERM to the process group are for the crawl process: it shuts down
    # gracefully, with this worker still answering, then tells it to stop.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    sock.setblocking(True)
    stream = sock.makefile("rb")
    while True:
        head = stream.read(_HEADER.size)
        if len(head) < _HEADER.size:
            return
        kind, payload = pickle.loads(stream.read(_HEADER.unpack(head)[0]))
        if kind == "stop":
            return
        try:
            reply = ("ok", _perform(analyzer, kind, payload))
        except Exception as exc:
            reply = ("error", f"{type(exc).__name__}: {exc}")
        try:
            data = _frame(reply)
        except (pickle.PicklingError, TypeError, AttributeError):
            # A post's exception that does not pickle: its message goes instead.
            data = _frame(("ok", [_plain(o) for o in reply[1]]))
        sock.sendall(data)


def _plain(outcome: Outcome) -> Outcome:
    if isinstance(outcome, Exception):
        return RuntimeError(f"{type(outcome).__name__}: {outcome}")
    return outcome
