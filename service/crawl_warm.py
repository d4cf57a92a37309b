"""Imported by the crawl fork server only (service/crawl_worker.py): builds once what every crawl
would otherwise build again — the institution's analyzer (segmenter dictionaries, sentiment
model, watch rules, unit directory) in the pipelines' per-process cache — so each forked crawl
starts with it in memory, shared copy-on-write."""

from __future__ import annotations

import gc
import json
import logging
import os

from analysis.segment import default_segmenter
from core.settings import ConfigError
from pipelines.analysis import shared_analyzer
from service.crawl_worker import WARM_CONFIG, WARM_WORDS


def _warm() -> None:
    config = os.environ.get(WARM_CONFIG)
    if not config:
        default_segmenter()
        shared_analyzer(None)
        return
    words: list[str] = json.loads(os.environ.get(WARM_WORDS, "[]"))
    try:
        shared_analyzer(config, words)  # the same key the crawl's pipeline will ask for
    except (ConfigError, OSError, ValueError) as exc:  # the crawl will report it properly
        logging.getLogger("yuqing.crawl").warning("crawl worker not warmed: %s", exc)


# Deliberately at import: the fork server imports this module and forks every crawl from it.
_warm()
# The warm objects move to the collector's permanent generation: a child's collections then
# never walk (and so never copy-on-write) the hundreds of MB it shares with this server.
gc.freeze()
