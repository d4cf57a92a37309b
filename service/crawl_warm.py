"""Imported by the crawl fork server only (service/crawl_worker.py): loads once what every crawl
would otherwise load again — jieba's base dictionary in both engines and the sentiment model's
module — so each forked crawl starts with them in memory, shared copy-on-write."""

from __future__ import annotations

from analysis.segment import default_segmenter
from analysis.sentiment import SentimentModel

# Deliberately at import: the fork server imports this module and forks every crawl from it.
default_segmenter()
SentimentModel.load()
