"""Reindexing the Elasticsearch posts into the next schema version, then swapping the alias, so
a mapping or segmentation change never needs downtime."""

from __future__ import annotations

import time
from datetime import UTC, datetime
from typing import Any

from store.elasticsearch import (
    CHUNK,
    SETTLE_SECONDS,
    SOURCE_FIELDS,
    ElasticsearchIndex,
    latest_version,
    millis,
    version_of,
)


def reindex(index: ElasticsearchIndex) -> str:
    """Copy every post into ``<alias>-v<N+1>`` (re-segmented with today's segmenter, from the
    newest template file), swap the alias, then copy again what was written to the old index
    meanwhile. The old index is kept for the operator to delete. Returns the new index."""
    index.init()
    old = index.current_index()
    if old is None:  # pragma: no cover - init() has just made it
        raise RuntimeError("the posts alias points nowhere")
    version = version_of(old) + 1
    index.put_template(version, min(latest_version(index.template_dir), version))
    new = index.index_name(version)
    with index.errors("create the new index"):
        index.client.indices.create(index=new)
    started = millis(datetime.now(UTC)) - int(SETTLE_SECONDS * 1000)
    _copy(index, old, new, since=None)
    with index.errors("swap the alias"):
        index.client.indices.update_aliases(
            actions=[
                {"remove": {"index": old, "alias": index.alias}},
                {"add": {"index": new, "alias": index.alias, "is_write_index": True}},
            ]
        )
    time.sleep(1.0)  # writes that went to the old index before the swap become visible
    _copy(index, old, new, since=started)
    return new


def _copy(index: ElasticsearchIndex, old: str, new: str, since: int | None) -> None:
    query: dict[str, Any] = {"match_all": {}}
    if since is not None:
        query = {"range": {"indexed_at": {"gte": since, "format": "epoch_millis"}}}
    with index.errors("refresh"):
        index.client.indices.refresh(index=old)
    after: list[Any] | None = None
    while True:
        extra: dict[str, Any] = {"search_after": after} if after is not None else {}
        with index.errors("read posts to copy"):
            found = index.client.search(
                index=old, query=query, sort=[{"seq": "asc"}, {"id": "asc"}], size=CHUNK,
                source={"includes": [*SOURCE_FIELDS, "seq"]}, **extra,
            )  # fmt: skip
        hits = found["hits"]["hits"]
        if not hits:
            break
        ops: list[dict[str, Any]] = []
        for h in hits:
            # Keep the indexing order, so alert jobs reading changes do not see every post again.
            ops.append({"index": {"_id": h["_id"]}})
            ops.append(index.document(index.to_post(h["_source"]), int(h["_source"]["seq"])))
        index.send(ops, index=new)
        after = hits[-1]["sort"]
    with index.errors("refresh"):
        index.client.indices.refresh(index=new)
