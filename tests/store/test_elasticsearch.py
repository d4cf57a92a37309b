"""What only the Elasticsearch backend has: template and alias, reindexing, rejected and
unreachable writes, the settle margin of changes. The shared behaviour is in test_contract.py."""

from __future__ import annotations

import uuid
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime

import pytest

from core.post import Post
from store.base import IndexUnavailable, SearchQuery, SortOrder
from store.elasticsearch import ElasticsearchIndex

pytestmark = pytest.mark.elasticsearch


def make_post(n: int, text: str) -> Post:
    return Post.create(
        url=f"https://bbs.example.edu.cn/es-{n}", source="bbs", text=text,
        published=datetime(2026, 3, 1, 12, n, tzinfo=UTC),
    )  # fmt: skip


@pytest.fixture
def index(elasticsearch_url: str) -> Iterator[ElasticsearchIndex]:
    idx = ElasticsearchIndex([elasticsearch_url], prefix=f"test-{uuid.uuid4().hex[:10]}",
                             refresh=True)  # fmt: skip
    idx.init()
    yield idx
    idx.delete_all()
    idx.close()


def test_init_installs_a_versioned_template_and_writes_through_the_alias(
    index: ElasticsearchIndex,
) -> None:
    index.init()  # a second time changes nothing
    aliases = index.client.indices.get_alias(name=index.alias).body
    assert list(aliases) == [f"{index.alias}-v1"]
    template = index.client.indices.get_index_template(name=f"{index.alias}-v1")
    assert template["index_templates"][0]["index_template"]["version"] == 1
    mapping = index.client.indices.get_mapping(index=index.alias).body[f"{index.alias}-v1"]
    props = mapping["mappings"]["properties"]
    assert props["text_tokens"]["analyzer"] == "whitespace"
    assert props["units"]["type"] == "keyword" and props["time"]["type"] == "date"
    status = index.status()
    assert status["schema_version"] == 1 and status["index"] == f"{index.alias}-v1"
    assert status["reachable"] is True


def test_tokens_come_from_the_python_segmenter(index: ElasticsearchIndex) -> None:
    post = make_post(1, "ＳＵＤＡ的苏州大学")
    index.upsert([post])
    doc = index.client.get(index=index.alias, id=post.id)["_source"]
    assert "suda" in doc["text_tokens"].split()  # NFKC and lower case, as the segmenter does
    assert {"苏州", "大学", "苏州大学"} <= set(doc["text_tokens"].split())
    assert index.search(SearchQuery(text="ＳＵＤＡ")).total == 1
    for text in (post.text, "苏大强和苏大的学生在三食堂，吃出了虫子！！！", "Email: a.b@c.cn 1-6"):
        doc = index.document(make_post(2, text), 1)
        assert Counter(doc["text_tokens"].split()) == Counter(index.segmenter.index_tokens(text))
        assert doc["text_words"].split() == index.segmenter.cut(text)


def test_reindex_moves_the_alias_and_keeps_posts_and_cursors(index: ElasticsearchIndex) -> None:
    posts = [make_post(n, f"食堂第{n}帖") for n in range(30)]
    index.upsert(posts)
    cursor = None
    while True:
        changes = index.changes_since(cursor, limit=100)
        cursor = changes.cursor
        if not changes.posts:
            break
    new = index.reindex()
    assert new == f"{index.alias}-v2"
    assert list(index.client.indices.get_alias(name=index.alias).body) == [new]
    assert index.client.indices.exists(index=f"{index.alias}-v1")  # kept for the operator
    assert index.search(SearchQuery(text="食堂", limit=1)).total == 30
    assert index.get(posts[3].id) == posts[3]
    assert index.changes_since(cursor).posts == []  # reindexing is not a change of the posts
    later = make_post(40, "新帖")
    index.upsert([later])
    assert [p.id for p in index.changes_since(cursor).posts] == [later.id]
    assert index.status()["schema_version"] == 2


def test_rejected_items_raise_naming_the_posts(index: ElasticsearchIndex) -> None:
    post = make_post(1, "只读")
    index.client.indices.put_settings(index=index.alias, settings={"index.blocks.write": True})
    try:
        with pytest.raises(IndexUnavailable, match=post.id):
            index.upsert([post])
    finally:
        index.client.indices.put_settings(index=index.alias, settings={"index.blocks.write": False})
    assert index.upsert([post]) == 1


def test_unreachable_elasticsearch_is_index_unavailable() -> None:
    idx = ElasticsearchIndex(["http://127.0.0.1:9"], prefix="nowhere", request_timeout=2)
    try:
        with pytest.raises(IndexUnavailable, match="cannot reach Elasticsearch"):
            idx.upsert([make_post(1, "x")])
        with pytest.raises(IndexUnavailable):
            idx.search(SearchQuery(text="x"))
        status = idx.status()
        assert status["reachable"] is False and "cannot reach" in str(status["error"])
    finally:
        idx.close()


def test_changes_hold_back_posts_younger_than_the_settle_margin(
    elasticsearch_url: str, index: ElasticsearchIndex
) -> None:
    index.upsert([make_post(1, "刚写入")])
    patient = ElasticsearchIndex([elasticsearch_url], prefix=index.prefix, settle_seconds=600)
    try:
        assert patient.changes_since(None).posts == []
        assert len(index.changes_since(None).posts) == 1  # no margin: refreshed on write
    finally:
        patient.close()


def test_bad_arguments_are_clear_errors(index: ElasticsearchIndex) -> None:
    index.upsert([make_post(n, "食堂") for n in range(3)])
    page = index.search(SearchQuery(text="食堂", limit=1, sort=SortOrder.TIME))
    assert page.next_page_token is not None
    with pytest.raises(ValueError, match="another search"):
        index.search(SearchQuery(text="食堂", sort=SortOrder.RELEVANCE,
                                 page_token=page.next_page_token))  # fmt: skip
    with pytest.raises(ValueError, match="limit"):
        index.search(SearchQuery(limit=0))
    with pytest.raises(ValueError, match="time zone"):
        index.counts(SearchQuery(), tz="Mars/Olympus")
    with pytest.raises(ValueError, match="cursor is damaged"):
        index.changes_since("WyJ4Il0")
    with pytest.raises(ValueError, match="prefix"):
        ElasticsearchIndex(["http://127.0.0.1:9250"], prefix="Bad Prefix!")
    with pytest.raises(ValueError, match="no Elasticsearch URL"):
        ElasticsearchIndex([])
