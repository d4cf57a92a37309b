"""Test support for the rule engine: a rig of real stores in a tmp folder that can restart,
and a PostIndex wrapper that is down for as many runs as a test says."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from pydantic import TypeAdapter

from alerts.cases import CaseBook
from alerts.delivery import Outbox
from alerts.engine import Engine, RunReport
from alerts.models import Destination
from core.post import Post
from core.settings_rules import AlertRule
from store.base import Changes, Counts, IndexUnavailable, PostIndex, SearchPage, SearchQuery
from store.state import StateDB

RULES = TypeAdapter(list[AlertRule])


class Flaky:
    """A PostIndex whose reads fail with IndexUnavailable while ``down`` > 0 (one per call)."""

    def __init__(self, inner: PostIndex) -> None:
        self.inner = inner
        self.down = 0

    def init(self) -> None:
        self.inner.init()

    def upsert(self, posts: Iterable[Post]) -> int:
        return self.inner.upsert(posts)

    def get(self, post_id: str) -> Post | None:
        return self.inner.get(post_id)

    def search(self, query: SearchQuery) -> SearchPage:
        return self.inner.search(query)

    def counts(self, query: SearchQuery, tz: str = "Asia/Shanghai") -> Counts:
        return self.inner.counts(query, tz)

    def changes_since(self, cursor: str | None, limit: int = 500) -> Changes:
        if self.down > 0:
            self.down -= 1
            raise IndexUnavailable("connection refused (simulated)")
        return self.inner.changes_since(cursor, limit)

    def status(self) -> dict[str, object]:
        return self.inner.status()

    def close(self) -> None:
        self.inner.close()


class Rig:
    """An engine over ``index`` with its state database in ``folder``; ``restart()`` builds new
    engine, outbox, case book and database objects over the same files (a process restart)."""

    def __init__(
        self,
        folder: Path,
        index: PostIndex,
        rules: list[dict[str, Any]],
        destinations: list[Destination] | None = None,
        **options: Any,
    ) -> None:
        self.folder = folder
        self.index = index
        self.rules = RULES.validate_python(rules)
        self.destinations = destinations or [
            Destination(id="cases", url="https://cases.example.cn/hook", secrets=["whsec_x"]),
        ]
        self.options = options
        self.db: StateDB | None = None
        self.restart()

    def restart(self) -> None:
        if self.db is not None:
            self.db.close()
        self.db = StateDB.in_data_dir(self.folder)
        self.book = CaseBook(self.db)
        self.outbox = Outbox(self.book, self.destinations)
        self.engine = Engine(self.index, self.outbox, self.rules, **self.options)

    def run(self, now: datetime) -> RunReport:
        return self.engine.run_due(now)

    def rows(self, sql: str, *params: object) -> list[Any]:
        assert self.db is not None
        return [tuple(r) for r in self.db.connection().execute(sql, params).fetchall()]

    def outcomes(self, outcome: str = "sent", rule: str | None = None) -> list[str]:
        """Keys logged with ``outcome``, in order."""
        rows = self.rows("SELECT rule, key FROM alert_log WHERE outcome = ? ORDER BY id", outcome)
        return [k for r, k in rows if rule is None or r == rule]

    def deliveries(self, event_prefix: str = "") -> list[str]:
        return [
            e
            for (e,) in self.rows("SELECT event FROM deliveries ORDER BY created_at, id")
            if e.startswith(event_prefix)
        ]

    def close(self) -> None:
        if self.db is not None:
            self.db.close()


def make_post(n: int, fetched: datetime, **fields: Any) -> Post:
    fields.setdefault("watch_rules", ["canteen"])
    fields.setdefault("title", f"食堂帖子{n}")
    site = fields.pop("site", "bbs.example.cn")
    return Post.create(
        url=f"https://{site}/t/{n}", source=fields.pop("source", "bbs"), fetched=fetched, **fields
    )


def minutes(start: datetime, n: float) -> datetime:
    return start + timedelta(minutes=n)
