"""The embedded index takes full-text tokens cut elsewhere (the crawl's analysis worker): written
as the index would cut them itself, and cut again whenever they do not fit the post."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from analysis.segment import Segmenter
from core.post import Post
from store.base import SearchQuery
from store.sqlite import IndexTokens, SqliteIndex, index_tokens

WORDS = ("江州理工",)  # an institution word: the index's own dictionary must be the one used
TEXTS = [
    ("江州理工食堂涨价", "江州理工大学第三食堂的饭菜又涨价了，学生意见很大。"),
    ("", "图书馆今天延长开放时间到晚上十一点！C++ 课程 3.5% 上涨"),
    ("宿舍停水", "宿舍楼停水两天了，到现在还没有通知什么时候恢复。"),
]


@pytest.fixture(scope="module")
def segmenter() -> Segmenter:
    return Segmenter(WORDS)


def _posts() -> list[Post]:
    return [
        Post.create(url=f"http://bbs.example.cn/t/{n}", source="s", title=title, text=text)
        for n, (title, text) in enumerate(TEXTS)
    ]


def fts_rows(folder: Path) -> list[tuple[str, str, str]]:
    """(post id, title tokens, body tokens) of the full-text table in ``folder``, by id."""
    db = sqlite3.connect(folder / "posts.sqlite3")
    try:
        return db.execute(
            "SELECT p.id, f.title, f.body FROM posts p JOIN posts_fts f ON f.rowid = p.rowid"
            " ORDER BY p.id"
        ).fetchall()
    finally:
        db.close()


def _write(folder: Path, segmenter: Segmenter, tokens: object = None) -> SqliteIndex:
    index = SqliteIndex(folder, segmenter=segmenter)
    index.init()
    if tokens is None:
        index.upsert(_posts())
    else:
        index.upsert(_posts(), tokens)  # type: ignore[arg-type]  # the test passes odd rows
    return index


def test_tokens_cut_beforehand_are_what_the_index_would_write(
    tmp_path: Path, segmenter: Segmenter
) -> None:
    _write(tmp_path / "cut", segmenter).close()
    given = [index_tokens(segmenter, p.title, p.text) for p in _posts()]
    index = _write(tmp_path / "given", segmenter, given)
    try:
        rows = fts_rows(tmp_path / "given")
        assert rows == fts_rows(tmp_path / "cut")
        assert any("江州理工" in title.split() for _, title, _ in rows)  # the index's dictionary
        found = index.search(SearchQuery(text="江州理工 食堂"))
        assert [p.title for p in found.posts] == ["江州理工食堂涨价"]
    finally:
        index.close()


def test_the_index_writes_the_tokens_it_is_given(tmp_path: Path, segmenter: Segmenter) -> None:
    posts = _posts()
    given = [IndexTokens(p.title, p.text, f"t{n}", f"b{n} x") for n, p in enumerate(posts)]
    _write(tmp_path, segmenter, given).close()
    assert sorted(fts_rows(tmp_path)) == sorted(
        (p.id, f"t{n}", f"b{n} x") for n, p in enumerate(posts)
    )


def test_tokens_that_do_not_fit_the_post_are_cut_again(
    tmp_path: Path, segmenter: Segmenter
) -> None:
    _write(tmp_path / "cut", segmenter).close()
    stale = [index_tokens(segmenter, p.title, p.text + "已回复") for p in _posts()]
    _write(tmp_path / "stale", segmenter, [stale[0], None, stale[2]]).close()
    assert fts_rows(tmp_path / "stale") == fts_rows(tmp_path / "cut")


def test_one_token_row_per_post(tmp_path: Path, segmenter: Segmenter) -> None:
    with pytest.raises(ValueError, match="2 token rows for 3 posts"):
        _write(tmp_path, segmenter, [None, None]).close()
