"""Search latency, p50 and p95, over 100,000 realistic Chinese posts (bench/corpus.py) on both
PostIndex backends, the embedded SQLite store and Elasticsearch, with the same queries in the
same run.

    scripts/elasticsearch start
    uv run --frozen python bench/search_bench.py [--url URL] [--posts N] [--rounds R] [--rebuild]

Loading 100,000 posts takes minutes; the loaded indexes are kept (.cache/bench/ and the
Elasticsearch prefix bench-search-N) and reused by the next run unless --rebuild is given.
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import sys
import time
from datetime import timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.corpus import START, posts  # noqa: E402
from store.base import PostIndex, SearchQuery, SortOrder  # noqa: E402
from store.elasticsearch import ElasticsearchIndex  # noqa: E402
from store.sqlite import SqliteIndex  # noqa: E402

WEEK = (START + timedelta(days=30), START + timedelta(days=37))
QUERIES = [
    SearchQuery(text="食堂"),
    SearchQuery(text="江州理工大学 食堂"),
    SearchQuery(text='"考试泄题"'),
    SearchQuery(text="宿舍楼 OR 图书馆"),
    SearchQuery(text="酒店 服务 -早餐"),
    SearchQuery(text="(学工处 OR 教务处) 补助"),
    SearchQuery(text="外卖", sort=SortOrder.RELEVANCE),
    SearchQuery(text="质量 价格", sort=SortOrder.RELEVANCE),
    SearchQuery(text="态度恶劣", sentiments=["negative"], since=WEEK[0], until=WEEK[1]),
    SearchQuery(text="", sources=["tieba"], severities=["major", "especially_major"]),
    SearchQuery(text="", units=["hospital"], since=WEEK[0]),
    SearchQuery(text="手机", sites=["weibo.com", "bbs.jzlg.edu.cn"], limit=50),
]


def load(index: PostIndex, n: int, name: str) -> None:
    if index.search(SearchQuery(limit=1)).total == n:
        print(f"{name}: reusing the {n} posts already loaded")
        return
    started = time.perf_counter()
    batch = []
    for post in posts(n):
        batch.append(post)
        if len(batch) == 5000:
            index.upsert(batch)
            batch = []
    index.upsert(batch)
    print(f"{name}: loaded {n} posts in {time.perf_counter() - started:.0f} s")


def latencies(index: PostIndex, rounds: int) -> list[float]:
    for query in QUERIES:  # warm caches and the segmenter once, untimed
        index.search(query)
    out = []
    for _ in range(rounds):
        for query in QUERIES:
            started = time.perf_counter()
            index.search(query)
            out.append((time.perf_counter() - started) * 1000)
    return out


def pct(values: list[float], q: int) -> float:
    return statistics.quantiles(values, n=100, method="inclusive")[q - 1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--url", default="http://127.0.0.1:9250")
    parser.add_argument("--posts", type=int, default=100_000)
    parser.add_argument("--rounds", type=int, default=20)
    parser.add_argument("--rebuild", action="store_true", help="load the posts again")
    args = parser.parse_args()
    data = ROOT / ".cache" / "bench" / f"sqlite-{args.posts}"
    es = ElasticsearchIndex([args.url], prefix=f"bench-search-{args.posts}")
    if args.rebuild:
        shutil.rmtree(data, ignore_errors=True)
        es.delete_all()
    sqlite = SqliteIndex(data)
    sqlite.init()
    load(sqlite, args.posts, "sqlite")
    load(es, args.posts, "elasticsearch")
    es.client.indices.refresh(index=es.alias)
    es.client.indices.forcemerge(index=es.alias, max_num_segments=1)
    results: dict[str, list[float]] = {}
    for _ in range(2):  # interleaved, so load from elsewhere hits both backends
        for name, index in (("sqlite", sqlite), ("elasticsearch", es)):
            results.setdefault(name, []).extend(latencies(index, args.rounds // 2 or 1))
    print(f"{args.posts} posts, {len(QUERIES)} queries x {args.rounds} rounds per backend")
    for name, values in results.items():
        print(f"  {name:14s} p50 {pct(values, 50):7.1f} ms   p95 {pct(values, 95):7.1f} ms")
    ratio50 = pct(results["elasticsearch"], 50) / pct(results["sqlite"], 50)
    ratio95 = pct(results["elasticsearch"], 95) / pct(results["sqlite"], 95)
    print(f"ratio elasticsearch / sqlite: p50 {ratio50:.2f}x, p95 {ratio95:.2f}x")
    sqlite.close()
    es.close()


if __name__ == "__main__":
    main()
