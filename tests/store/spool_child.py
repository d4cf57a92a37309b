"""A writer that dies by SIGKILL inside the spool: after the batch is on disk, before (or just
after) the index took it, and always before the spool acknowledged it (test_spool.py)."""

from __future__ import annotations

import os
import signal
import sys
from collections.abc import Iterable
from pathlib import Path

from core.post import Post
from store.elasticsearch import ElasticsearchIndex
from store.spool import SpooledIndex


class DyingIndex(ElasticsearchIndex):
    def __init__(self, url: str, prefix: str, when: str) -> None:
        super().__init__([url], prefix=prefix, refresh=True)
        self.when = when

    def upsert(self, posts: Iterable[Post]) -> int:
        batch = list(posts)
        if self.when == "after-send":
            super().upsert(batch)
        os.kill(os.getpid(), signal.SIGKILL)
        return len(batch)  # pragma: no cover - the process is gone


def posts(n: int) -> list[Post]:
    return [
        Post.create(url=f"https://bbs.example.edu.cn/crash/{i}", source="bbs", text=f"崩溃测试{i}")
        for i in range(n)
    ]


def main(url: str, prefix: str, spool: str, when: str, n: str) -> None:
    SpooledIndex(DyingIndex(url, prefix, when), Path(spool), replay_at_open=False).upsert(
        posts(int(n))
    )


if __name__ == "__main__":
    main(*sys.argv[1:])
