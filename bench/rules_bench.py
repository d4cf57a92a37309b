"""Alert-rule engine benchmark: a simulated day of patrol with a fast clock — posts arrive every
minute, the engine runs one rule of each kind every minute — against the bare cost of reading the
same changes from the index (the floor any engine pays), measured in the same run.

    uv run --frozen python bench/rules_bench.py [--posts 10000] [--hours 24]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from datetime import timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from pydantic import TypeAdapter  # noqa: E402

from alerts.cases import CaseBook  # noqa: E402
from alerts.delivery import Outbox  # noqa: E402
from alerts.engine import Engine  # noqa: E402
from bench.corpus import START, posts  # noqa: E402
from core.post import Post  # noqa: E402
from core.settings_rules import AlertRule  # noqa: E402
from store.sqlite import SqliteIndex  # noqa: E402
from store.state import StateDB  # noqa: E402

RULES = TypeAdapter(list[AlertRule]).validate_python(
    [
        {"id": "m", "kind": "match", "watch_rules": ["canteen"],
         "filters": {"sentiments": ["negative"]}, "aggregation": {"key": "cluster"}},
        {"id": "f", "kind": "frequency", "watch_rules": ["canteen"], "threshold": 20,
         "window": "30m"},
        {"id": "s", "kind": "spike", "ratio": 3, "window": "1h", "min_count": 10},
        {"id": "p", "kind": "spread", "min_sites": 3, "window": "6h"},
        {"id": "n", "kind": "new_term", "window": "2h", "history": "1d", "min_count": 5},
        {"id": "z", "kind": "flatline", "max_silence": "2h"},
    ]
)  # fmt: skip


def day(n: int, hours: int) -> list[list[Post]]:
    """``n`` corpus posts spread over ``hours`` of minutes, labelled as the analysis would."""
    minutes: list[list[Post]] = [[] for _ in range(hours * 60)]
    for i, post in enumerate(posts(n)):
        minute = i * len(minutes) // n
        words = [w for w in ("食堂", "饭菜", "宿舍", "泄题", "停水") if w in post.text]
        minutes[minute].append(
            post.model_copy(
                update={
                    "fetched": START + timedelta(minutes=minute, seconds=30),
                    "watch_rules": ["canteen"] if "食堂" in post.text else [],
                    "keywords": words,
                    "cluster": f"c{i // 7}" if i % 4 == 0 else None,
                }
            )
        )
    return minutes


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--posts", type=int, default=10_000)
    parser.add_argument("--hours", type=int, default=24)
    args = parser.parse_args()
    plan = day(args.posts, args.hours)
    with tempfile.TemporaryDirectory() as tmp:
        index = SqliteIndex(Path(tmp) / "index")
        index.init()
        db = StateDB.in_data_dir(Path(tmp) / "state")
        engine = Engine(index, Outbox(CaseBook(db), []), RULES, sources=["bbs", "news", "rss"])
        engine.run_due(START)
        cursor: str | None = index.changes_since(None).cursor
        read_s: list[float] = []
        engine_s: list[float] = []
        sent = 0
        for minute, batch in enumerate(plan, start=1):
            index.upsert(batch)
            began = time.perf_counter()
            while True:  # the floor: read this minute's changes, nothing else
                changes = index.changes_since(cursor)
                done = changes.cursor == cursor or len(changes.posts) < 500
                cursor = changes.cursor
                if done:
                    break
            read_s.append(time.perf_counter() - began)
            began = time.perf_counter()
            report = engine.run_due(START + timedelta(minutes=minute))
            engine_s.append(time.perf_counter() - began)
            sent += report.notified.sent
        index.close()
        db.close()
    runs = len(engine_s)
    p95 = statistics.quantiles(engine_s, n=20)[-1]
    print(f"{args.posts} posts over {args.hours} h, {runs} engine runs, 6 rules, {sent} alerts")
    print(
        f"read changes only : {sum(read_s):7.2f} s  ({1000 * statistics.mean(read_s):6.2f} ms/run)"
    )
    mean_ms = 1000 * statistics.mean(engine_s)
    print(
        f"engine run_due    : {sum(engine_s):7.2f} s  ({mean_ms:6.2f} ms/run, "
        f"p95 {1000 * p95:.2f} ms)"
    )
    print(f"ratio engine / read: {sum(engine_s) / sum(read_s):.1f}x")


if __name__ == "__main__":
    main()
