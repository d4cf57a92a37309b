"""One contract for every PostIndex backend: the embedded SQLite store and real Elasticsearch."""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from core.post import Category, Post, Sentiment, Severity
from store.base import PostIndex, SearchQuery, SortOrder
from store.query import QueryError
from store.sqlite import SqliteIndex

T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


def make_post(n: int, text: str, **fields: object) -> Post:
    fields.setdefault("published", T0 + timedelta(minutes=n))
    return Post.create(
        url=f"https://bbs.example.edu.cn/thread-{n}-1-1.html",
        anchor=n,
        source=str(fields.pop("source", "bbs")),
        text=text,
        **fields,
    )


@pytest.fixture(params=["sqlite", pytest.param("elasticsearch", marks=pytest.mark.elasticsearch)])
def index(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[PostIndex]:
    idx: PostIndex
    if request.param == "sqlite":
        idx = SqliteIndex(tmp_path / "data")
    else:
        from store.elasticsearch import ElasticsearchIndex

        url = request.getfixturevalue("elasticsearch_url")
        idx = ElasticsearchIndex([url], prefix=f"test-{uuid.uuid4().hex[:10]}", refresh=True)
    idx.init()
    yield idx
    idx.close()


def ids(posts: list[Post]) -> set[str]:
    return {p.id for p in posts}


def search(index: PostIndex, text: str = "", **kw: object) -> list[Post]:
    return index.search(SearchQuery(text=text, limit=100, **kw)).posts  # type: ignore[arg-type]


def test_upsert_is_idempotent_by_id(index: PostIndex) -> None:
    post = make_post(1, "食堂的饭菜太贵了")
    assert index.upsert([post]) == 1
    index.upsert([post.model_copy(update={"text": "食堂的饭菜太贵了，还不卫生"})])
    page = index.search(SearchQuery(text="食堂"))
    assert page.total == 1
    got = index.get(post.id)
    assert got is not None and got.text.endswith("还不卫生")
    assert index.get("no-such-id") is None


def test_round_trip_keeps_every_field(index: PostIndex) -> None:
    post = make_post(
        2,
        "正文",
        title="标题",
        author="张三",
        thread="t-1",
        parent="p-0",
        floor=2,
        reply_count=7,
        evidence="ab" * 32,
        keywords=["食堂"],
        sentiment=Sentiment.NEGATIVE,
        sentiment_score=-0.8,
        category=Category.APPEAL,
        severity=Severity.MAJOR,
        severity_reasons=["升级词: 媒体曝光"],
        units=["logistics"],
        watch_rules=["canteen"],
        cluster="c-1",
    )
    index.upsert([post])
    assert index.get(post.id) == post


def test_tokens_not_substrings(index: PostIndex) -> None:
    school = make_post(1, "苏大的学生在论坛投诉食堂")
    tv = make_post(2, "苏大强是电视剧里的人物")
    index.upsert([school, tv])
    assert ids(search(index, "苏大")) == {school.id}
    assert ids(search(index, "苏大强")) == {tv.id}


def test_words_phrases_and_boolean_operators(index: PostIndex) -> None:
    a = make_post(1, "三食堂卫生太差，吃出了虫子", title="食堂卫生问题")
    b = make_post(2, "宿舍楼卫生还可以，食堂太远")
    c = make_post(3, "图书馆座位不够")
    index.upsert([a, b, c])
    assert ids(search(index, "食堂 卫生")) == {a.id, b.id}
    assert ids(search(index, '"食堂卫生"')) == {a.id}
    assert ids(search(index, "图书馆 OR 虫子")) == {a.id, c.id}
    assert ids(search(index, "食堂 AND NOT 虫子")) == {b.id}
    assert ids(search(index, "食堂 -虫子")) == {b.id}
    assert ids(search(index, "NOT 食堂")) == {c.id}
    assert ids(search(index, "(图书馆 OR 宿舍楼) 座位")) == {c.id}
    assert ids(search(index, "")) == {a.id, b.id, c.id}


def test_title_is_searched_too(index: PostIndex) -> None:
    post = make_post(1, "如题，大家怎么看", title="期末考试泄题")
    index.upsert([post])
    assert ids(search(index, "泄题")) == {post.id}


@pytest.mark.parametrize("bad", ['"未闭合的引号', "(食堂", "食堂)", "AND", "食堂 OR", "，。！"])
def test_malformed_query_is_a_clear_error(index: PostIndex, bad: str) -> None:
    index.upsert([make_post(1, "食堂")])
    with pytest.raises(QueryError, match="at character"):
        index.search(SearchQuery(text=bad))


@pytest.mark.parametrize(
    "hostile",
    [
        "title:食堂*",
        "食堂~2",
        "{!lucene}食堂",
        "食堂^100",
        "/.*/",
        "食堂 && 卫生 || \\",
        "NEAR(a b)",
        "a:b:c",
        "*",
        "食堂'; DROP TABLE posts; --",
    ],
)
def test_query_syntax_of_the_backend_is_never_interpreted(index: PostIndex, hostile: str) -> None:
    index.upsert([make_post(1, "食堂卫生"), make_post(2, "title 图书馆")])
    try:
        page = index.search(SearchQuery(text=hostile))
    except QueryError:
        return
    assert page.total <= 1  # never "everything" because of wildcard syntax
    assert index.get(make_post(1, "").id) is not None


def test_filters(index: PostIndex) -> None:
    a = make_post(
        1,
        "投诉食堂",
        source="bbs",
        sentiment=Sentiment.NEGATIVE,
        category=Category.APPEAL,
        severity=Severity.GENERAL,
        units=["logistics"],
    )
    b = make_post(
        2,
        "投诉宿舍",
        source="news",
        sentiment=Sentiment.NEUTRAL,
        category=Category.HYPE,
        severity=Severity.MAJOR,
        units=["students", "logistics"],
    )
    c = Post.create(
        url="https://tieba.example.com/p/3",
        source="tieba",
        text="投诉教务",
        published=T0 + timedelta(days=2),
        severity=Severity.ESPECIALLY_MAJOR,
        units=["academic"],
    )
    index.upsert([a, b, c])
    assert ids(search(index, "投诉", sources=["news", "tieba"])) == {b.id, c.id}
    assert ids(search(index, "", sites=["tieba.example.com"])) == {c.id}
    assert ids(search(index, "", sentiments=["negative"])) == {a.id}
    assert ids(search(index, "", categories=["hype"])) == {b.id}
    assert ids(search(index, "", severities=["major", "especially_major"])) == {b.id, c.id}
    assert ids(search(index, "", units=["logistics"])) == {a.id, b.id}
    assert ids(search(index, "", since=T0 + timedelta(minutes=2))) == {b.id, c.id}
    assert ids(search(index, "", until=T0 + timedelta(minutes=2))) == {a.id}
    assert ids(search(index, "", since=T0 + timedelta(days=1), units=["academic"])) == {c.id}


def test_time_falls_back_to_fetch_time(index: PostIndex) -> None:
    undated = Post.create(
        url="https://news.example.com/a",
        source="news",
        text="无日期",
        fetched=T0 + timedelta(days=5),
    )
    index.upsert([undated, make_post(1, "有日期")])
    assert ids(search(index, "", since=T0 + timedelta(days=4))) == {undated.id}


def test_sort_by_time_and_by_relevance(index: PostIndex) -> None:
    weak = make_post(1, "今天天气不错，顺便说一句食堂还行，其他没什么。" * 3)
    strong = make_post(0, "食堂 食堂 食堂 太差", title="食堂")
    newest = make_post(9, "图书馆")
    index.upsert([weak, strong, newest])
    by_time = search(index, "", sort=SortOrder.TIME)
    assert [p.id for p in by_time] == [newest.id, weak.id, strong.id]
    by_rank = search(index, "食堂", sort=SortOrder.RELEVANCE)
    assert [p.id for p in by_rank] == [strong.id, weak.id]


@pytest.mark.parametrize("sort", [SortOrder.TIME, SortOrder.RELEVANCE])
def test_stable_pagination_with_ties(index: PostIndex, sort: SortOrder) -> None:
    posts = [
        Post.create(
            url=f"https://bbs.example.edu.cn/t/{n}", source="bbs", text="食堂排队", published=T0
        )
        for n in range(25)
    ]
    index.upsert(posts)
    seen: list[str] = []
    token = None
    for _ in range(10):
        page = index.search(SearchQuery(text="食堂", limit=10, sort=sort, page_token=token))
        assert page.total == 25
        seen += [p.id for p in page.posts]
        token = page.next_page_token
        if token is None:
            break
    assert len(seen) == 25 and set(seen) == ids(posts)


def test_damaged_page_token_is_a_clear_error(index: PostIndex) -> None:
    with pytest.raises(ValueError, match="damaged"):
        index.search(SearchQuery(page_token="%%%not-a-token"))


def test_counts_by_local_day_source_sentiment_severity(index: PostIndex) -> None:
    late = make_post(
        1,
        "a",
        published=datetime(2026, 3, 1, 15, 59, tzinfo=UTC),
        sentiment=Sentiment.NEGATIVE,
        severity=Severity.MAJOR,
    )
    after_midnight = make_post(
        2,
        "b",
        published=datetime(2026, 3, 1, 16, 1, tzinfo=UTC),
        source="news",
        sentiment=Sentiment.NEGATIVE,
    )
    next_day = make_post(
        3,
        "c",
        published=datetime(2026, 3, 2, 3, 0, tzinfo=UTC),
        sentiment=Sentiment.POSITIVE,
        severity=Severity.MAJOR,
    )
    index.upsert([late, after_midnight, next_day])
    counts = index.counts(SearchQuery())
    assert counts.total == 3
    assert counts.by_day == {
        "2026-03-01": 1,
        "2026-03-02": 2,
    }  # 16:01Z is past midnight in Shanghai
    assert counts.by_source == {"bbs": 2, "news": 1}
    assert counts.by_sentiment == {"negative": 2, "positive": 1}
    assert counts.by_severity.get("major") == 2
    utc = index.counts(SearchQuery(), tz="UTC")
    assert utc.by_day == {"2026-03-01": 2, "2026-03-02": 1}
    only_news = index.counts(SearchQuery(sources=["news"]))
    assert only_news.total == 1 and only_news.by_source == {"news": 1}


def _drain(
    index: PostIndex, cursor: str | None, want: int, deadline: float = 15.0
) -> tuple[list[Post], str]:
    """Read changes until ``want`` posts came (a backend may hold posts back to let them settle)."""
    got: list[Post] = []
    start = time.monotonic()
    while True:
        changes = index.changes_since(cursor, limit=2)
        got += changes.posts
        cursor = changes.cursor
        if len(got) >= want or time.monotonic() - start > deadline:
            return got, cursor
        if not changes.posts:
            time.sleep(0.5)


def test_changes_since_cursor(index: PostIndex) -> None:
    first = [make_post(n, f"第{n}帖") for n in range(3)]
    index.upsert(first)
    got, cursor = _drain(index, None, 3)
    assert [p.id for p in got] == [p.id for p in first]
    assert index.changes_since(cursor).posts == []
    later = make_post(10, "新帖")
    index.upsert([later, first[0].model_copy(update={"text": "改过"})])
    got, cursor = _drain(index, cursor, 2)
    assert ids(got) == {later.id, first[0].id}
    again, _ = _drain(index, cursor, 1, deadline=1.0)
    assert again == []


def test_status(index: PostIndex) -> None:
    index.upsert([make_post(1, "x"), make_post(2, "y")])
    status = index.status()
    assert status["posts"] == 2
    assert status["backend"] in {"sqlite", "elasticsearch"}


def test_many_posts_in_one_write(index: PostIndex) -> None:
    posts = [make_post(n, f"批量写入测试第{n}条，食堂") for n in range(1200)]
    assert index.upsert(posts) == 1200
    assert index.search(SearchQuery(text="食堂", limit=1)).total == 1200
