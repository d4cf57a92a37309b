"""Indexing speed: posts/s through ElasticsearchIndex.upsert against the official client's own
elasticsearch.helpers.bulk on the same posts, in the same run, against the same server.

    scripts/elasticsearch start
    uv run --frozen python bench/index_bench.py [--url URL] [--posts N]

helpers.bulk needs Elasticsearch documents, so the baseline is given the same documents our
upsert builds (segmented by the same Segmenter): once with that building timed (the fair
end-to-end comparison, goal >= 0.8x) and once with the documents prepared beforehand (the
transport alone, to show what segmentation costs).
"""

from __future__ import annotations

import argparse
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from elasticsearch import helpers  # noqa: E402

from bench.corpus import posts as make_posts  # noqa: E402
from core.post import Post  # noqa: E402
from store.elasticsearch import CHUNK, ElasticsearchIndex  # noqa: E402


def fresh_index(url: str) -> ElasticsearchIndex:
    index = ElasticsearchIndex([url], prefix=f"bench-{uuid.uuid4().hex[:8]}")
    index.init()
    return index


def actions(index: ElasticsearchIndex, posts: list[Post]) -> Iterator[dict[str, Any]]:
    for post in posts:
        doc = index.document(post, index.next_seq())
        yield {"_index": index.alias, "_id": post.id, "_source": doc}


def finish(index: ElasticsearchIndex, expected: int, started: float) -> float:
    """Seconds from ``started`` until the posts were taken; checks that all of them arrived."""
    elapsed = time.perf_counter() - started
    index.client.indices.refresh(index=index.alias)
    count = int(index.client.count(index=index.alias)["count"])
    if count != expected:
        raise SystemExit(f"{index.alias}: {count} posts indexed, expected {expected}")
    index.delete_all()
    index.close()
    return elapsed


def run_ours(url: str, posts: list[Post]) -> float:
    index = fresh_index(url)
    started = time.perf_counter()
    index.upsert(posts)
    return finish(index, len(posts), started)


def run_helpers(url: str, posts: list[Post], *, prepared: bool) -> float:
    index = fresh_index(url)
    docs: Any = list(actions(index, posts)) if prepared else None
    started = time.perf_counter()
    if docs is None:
        docs = actions(index, posts)
    helpers.bulk(index.client, docs, chunk_size=CHUNK)
    return finish(index, len(posts), started)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--url", default="http://127.0.0.1:9250")
    parser.add_argument("--posts", type=int, default=20_000)
    parser.add_argument("--rounds", type=int, default=2, help="best of this many (default 2)")
    args = parser.parse_args()
    posts = list(make_posts(args.posts))
    run_ours(args.url, posts[:1000])  # warm up the server and the segmenter dictionary
    runs: dict[str, Callable[[], float]] = {
        "helpers.bulk, building documents": lambda: run_helpers(args.url, posts, prepared=False),
        "helpers.bulk, documents prepared": lambda: run_helpers(args.url, posts, prepared=True),
        "ElasticsearchIndex.upsert": lambda: run_ours(args.url, posts),
    }
    best: dict[str, float] = {}
    for _ in range(args.rounds):  # interleaved, so load from elsewhere hits every contender
        for name, run in runs.items():
            best[name] = min(best.get(name, float("inf")), run())
    print(f"{args.posts} posts, best of {args.rounds} rounds")
    for name, seconds in best.items():
        print(f"  {name:36s} {args.posts / seconds:8.0f} posts/s")
    ours = best["ElasticsearchIndex.upsert"]
    end_to_end = best["helpers.bulk, building documents"] / ours
    transport = best["helpers.bulk, documents prepared"] / ours
    print(f"ratio upsert / helpers.bulk, end to end:        {end_to_end:.2f}x  (goal >= 0.8x)")
    print(f"ratio upsert / helpers.bulk, documents prepared: {transport:.2f}x")


if __name__ == "__main__":
    main()
