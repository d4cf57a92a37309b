"""The embedded store's schema upgrades: a data folder written by an older Yuqing keeps working."""

from __future__ import annotations

import sqlite3
from datetime import UTC, datetime
from pathlib import Path

import pytest

from core.post import Post
from store.base import SearchQuery
from store.sqlite import SCHEMA_VERSION, SqliteIndex


def _post(n: int, units: list[str]) -> Post:
    return Post.create(
        url=f"https://bbs.example.edu.cn/thread-{n}-1-1.html",
        anchor=n,
        source="bbs",
        text=f"食堂第{n}次涨价",
        published=datetime(2026, 3, 1, 12, n, tzinfo=UTC),
        units=units,
    )


def _as_schema_1(path: Path) -> None:
    """Turn a current file into what schema 1 wrote: units only inside posts.units."""
    db = sqlite3.connect(path)
    db.execute("DROP TABLE post_units")
    db.execute("PRAGMA user_version = 1")
    db.commit()
    db.close()


def test_a_schema_1_folder_is_upgraded_and_unit_filters_find_its_posts(tmp_path: Path) -> None:
    index = SqliteIndex(tmp_path)
    index.init()
    a, b, c = _post(1, ["logistics"]), _post(2, ["students", "logistics"]), _post(3, [])
    index.upsert([a, b, c])
    index.close()
    _as_schema_1(tmp_path / "posts.sqlite3")

    reopened = SqliteIndex(tmp_path)  # no init(): a reader alone must upgrade it
    page = reopened.search(SearchQuery(units=["logistics"], limit=10))
    assert {p.id for p in page.posts} == {a.id, b.id}
    assert reopened.status()["schema_version"] == SCHEMA_VERSION
    reopened.close()


def test_rewriting_a_post_replaces_its_units(tmp_path: Path) -> None:
    index = SqliteIndex(tmp_path)
    index.init()
    post = _post(1, ["logistics"])
    index.upsert([post])
    index.upsert([post.model_copy(update={"units": ["academic"]})])
    assert index.search(SearchQuery(units=["logistics"])).total == 0
    assert index.search(SearchQuery(units=["academic"])).total == 1
    index.close()


def test_a_folder_from_a_newer_yuqing_is_refused(tmp_path: Path) -> None:
    index = SqliteIndex(tmp_path)
    index.init()
    index.close()
    db = sqlite3.connect(tmp_path / "posts.sqlite3")
    db.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
    db.commit()
    db.close()
    with pytest.raises(RuntimeError, match="newer Yuqing"):
        SqliteIndex(tmp_path).search(SearchQuery(text="食堂"))
