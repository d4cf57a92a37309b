"""Each crawl in its own process (Scrapy's reactor cannot restart in one), forked from a server
that has already imported Scrapy, the crawler and the analysis and loaded the base dictionary,
so a crawl starts in a fraction of a second instead of paying seconds of CPU each time. A crawl
that overruns its time limit is killed; the next one forks afresh from the server."""

from __future__ import annotations

import json
import logging
import multiprocessing
import os
import threading
from datetime import timedelta
from multiprocessing.connection import Connection
from typing import Any

from core.post import utcnow
from core.settings import Source
from crawler.runner import CrawlJob, SourceSummary

logger = logging.getLogger("yuqing.crawl")

# Imported once in the fork server (service.crawl_warm also builds what every crawl rebuilds;
# the site spider brings trafilatura, which each crawl's analysis worker reads pages with).
PRELOAD = [
    "crawler.runner",
    "crawler.spiders.site",
    "pipelines.analysis",
    "pipelines.index",
    "service.crawl_warm",
]

# Read by service.crawl_warm in the fork server: which analyzer to build before the first fork.
WARM_CONFIG = "YUQING_WARM_CONFIG"
WARM_WORDS = "YUQING_WARM_WORDS"

RUN_ERROR = "run"  # the error key of a run that died or was killed before it could report

_context: Any = None
_lock = threading.Lock()


def warm(config: str, words: list[str]) -> None:
    """Have the fork server build the analyzer for ``config`` (with the dictionary ``words``, as
    the crawl jobs will name them) before its first fork; no effect once it is running."""
    os.environ[WARM_CONFIG] = config
    os.environ[WARM_WORDS] = json.dumps(words, ensure_ascii=False)


def _forkserver() -> Any:
    global _context
    with _lock:
        if _context is None:
            context = multiprocessing.get_context("forkserver")
            context.set_forkserver_preload(PRELOAD)
            _context = context
    return _context


def _child(job_json: str, conn: Connection) -> None:
    """In the forked child: run the crawl and send the summaries back as JSON."""
    from crawler.runner import run

    try:
        summaries = run(CrawlJob.model_validate_json(job_json))
        conn.send(json.dumps([s.model_dump(mode="json") for s in summaries]))
    except BaseException as exc:  # reported to the daemon as the run's failure, never lost
        conn.send(json.dumps({"error": f"{type(exc).__name__}: {exc}"}))
        raise
    finally:
        conn.close()


# A closing crawl's last work after its downloads end: the last batch analysed and indexed.
CLOSING = timedelta(seconds=20)


def kill_after(job: CrawlJob, timeout: timedelta) -> timedelta:
    """When a crawl child is killed. Each source closes itself at ``timeout``
    (crawler/time_limit.py) and keeps what it fetched, but closing waits for the downloads under
    way, each at most its DOWNLOAD_TIMEOUT; a child still running after that is stuck."""
    downloads = [float(s.get("DOWNLOAD_TIMEOUT", 30)) for s in job.source_settings.values()]
    return timeout + timedelta(seconds=max(downloads, default=30)) + CLOSING


def crawl_in_child(job: CrawlJob, timeout: timedelta) -> list[SourceSummary]:
    """Run ``job`` in a process forked from the warm server. Each source stops itself at its
    time limit ``timeout``; a child still running a while after that is killed and its sources
    reported as failed, as is one that dies without an answer."""
    limit = kill_after(job, timeout)
    context = _forkserver()
    receive, send = context.Pipe(duplex=False)
    process = context.Process(
        target=_child, args=(job.model_dump_json(), send), name="yuqing-crawl", daemon=False
    )
    process.start()
    send.close()  # ours: only the child writes; EOF tells us it died
    answer: str | None = None
    try:
        ready = receive.poll(limit.total_seconds())
        if ready:
            try:
                answer = receive.recv()
            except EOFError:  # the child died without a word
                answer = None
    finally:
        receive.close()
    process.join(timeout=10 if ready else 0)  # a child that answered is closing down
    if process.is_alive():
        process.kill()
        process.join()
    if answer is None:
        if not ready:
            detail = f"killed: still running {limit - timeout} after its time limit of {timeout}"
            return [failed(s, detail) for s in job.sources]
        detail = f"the crawl process ended with {process.exitcode} and no summary"
        return [failed(s, detail) for s in job.sources]
    data = json.loads(answer)
    if isinstance(data, dict):
        return [failed(s, f"the crawl raised {data.get('error')}") for s in job.sources]
    return [SourceSummary.model_validate(s) for s in data]


def failed(source: Source, detail: str) -> SourceSummary:
    now = utcnow()
    return SourceSummary(
        source=source.id,
        kind=source.kind.value,
        outcome="failed",
        started=now,
        ended=now,
        errors={RUN_ERROR: 1},
        detail=detail,
    )
