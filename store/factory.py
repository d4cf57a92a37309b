"""The one place that picks the post store: Elasticsearch behind the durable spool when URLs are
given, else the embedded SQLite index in the data folder."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from analysis.segment import Segmenter
from store.base import PostIndex


def open_post_index(
    data_dir: Path, elasticsearch: Sequence[str], prefix: str, segmenter: Segmenter
) -> PostIndex:
    if elasticsearch:
        # Imported only here: the embedded store needs no Elasticsearch client at all.
        from store.elasticsearch import ElasticsearchIndex
        from store.spool import SpooledIndex

        inner = ElasticsearchIndex(list(elasticsearch), prefix=prefix, segmenter=segmenter)
        return SpooledIndex(inner, data_dir / "spool")
    from store.sqlite import SqliteIndex

    return SqliteIndex(data_dir, segmenter=segmenter)
