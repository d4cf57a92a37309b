"""The PostIndex on a real Elasticsearch: a versioned template, writes through an alias,
Chinese text segmented in Python and indexed as whitespace-separated tokens."""

from __future__ import annotations

import json
import re
import threading
from collections.abc import Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import contextmanager
from datetime import UTC, datetime
from itertools import islice
from pathlib import Path
from typing import Any, TypeVar

from elasticsearch import ApiError, Elasticsearch, NotFoundError, TransportError

from analysis.segment import Segmenter, default_segmenter
from core.post import Post
from store import es_query
from store.base import (
    Changes,
    Counts,
    IndexUnavailable,
    PostsRejected,
    SearchPage,
    SearchQuery,
    SortOrder,
    decode_token,
    encode_token,
)
from store.query import parse_query

TEMPLATE_DIR = Path(__file__).resolve().parent.parent / "config" / "elasticsearch"
CHUNK = 500  # posts per bulk request, as elasticsearch.helpers.bulk does by default
MAX_LIMIT = 10_000
SETTLE_SECONDS = 5.0
SEQ_PER_MS = 1000
_VERSION = re.compile(r"-v(\d+)$")
# The post is kept whole in `raw` (unindexed) apart from its title and text, stored beside it.
_RAW_EXCLUDE = {"title", "text"}
SOURCE_FIELDS = ["raw", "title", "text"]

T = TypeVar("T")


def load_template(version: int, template_dir: Path = TEMPLATE_DIR) -> dict[str, Any]:
    path = template_dir / f"posts-v{version}.json"
    try:
        body: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError as exc:
        raise FileNotFoundError(f"no index template for schema version {version}: {path}") from exc
    return body


def latest_version(template_dir: Path = TEMPLATE_DIR) -> int:
    names = (re.fullmatch(r"posts-v(\d+)\.json", p.name) for p in template_dir.glob("*.json"))
    versions = [int(m.group(1)) for m in names if m]
    if not versions:
        raise FileNotFoundError(f"no index templates (posts-vN.json) in {template_dir}")
    return max(versions)


def version_of(index: str) -> int:
    m = _VERSION.search(index)
    return int(m.group(1)) if m else 0


def millis(value: datetime) -> int:
    return int(value.timestamp() * 1000)


def _chunks(items: Iterable[T], size: int) -> Iterator[list[T]]:
    it = iter(items)
    while chunk := list(islice(it, size)):
        yield chunk


class ElasticsearchIndex:
    """PostIndex on Elasticsearch. ``refresh=True`` makes every write visible on return (tests);
    otherwise writes show within the index's refresh interval."""

    def __init__(
        self,
        urls: list[str],
        *,
        prefix: str = "yuqing",
        segmenter: Segmenter | None = None,
        refresh: bool = False,
        settle_seconds: float | None = None,
        request_timeout: float = 30.0,
        template_dir: Path = TEMPLATE_DIR,
    ) -> None:
        if not urls:
            raise ValueError("no Elasticsearch URL given")
        if not re.fullmatch(r"[a-z0-9][a-z0-9_.-]*", prefix):
            raise ValueError(f"index prefix {prefix!r}: use lower-case letters, digits, -, _, .")
        self.urls = list(urls)
        self.prefix = prefix
        self.alias = f"{prefix}-posts"
        self.segmenter = segmenter or default_segmenter()
        self.refresh = refresh
        # A refresh can make a post appear after later ones were already read; only hand out
        # posts older than this margin (none is needed when every write refreshes before return).
        default_settle = 0.0 if refresh else SETTLE_SECONDS
        self.settle_seconds = default_settle if settle_seconds is None else settle_seconds
        self.template_dir = template_dir
        self.client = Elasticsearch(
            self.urls, request_timeout=request_timeout, max_retries=2, retry_on_timeout=True
        )
        self._ready = False
        self._lock = threading.Lock()
        self._seq = 0

    @contextmanager
    def errors(self, what: str) -> Iterator[None]:
        """A store that cannot be reached or fails inside becomes IndexUnavailable; a 4xx
        answer (our request was wrong) stays an ApiError."""
        try:
            yield
        except NotFoundError:
            raise
        except ApiError as exc:
            if exc.meta.status >= 500 or exc.meta.status == 429:
                raise IndexUnavailable(f"Elasticsearch failed to {what}: {exc}") from exc
            raise
        except TransportError as exc:
            where = ", ".join(self.urls)
            raise IndexUnavailable(
                f"cannot reach Elasticsearch at {where} to {what}: {exc}"
            ) from exc

    # -- set-up -------------------------------------------------------------------------------

    def index_name(self, version: int) -> str:
        return f"{self.alias}-v{version}"

    def put_template(self, version: int, template_version: int | None = None) -> None:
        """Install the template of schema ``version`` (from posts-v<template_version>.json)."""
        file_version = template_version or version
        body = load_template(file_version, self.template_dir)
        name = self.index_name(version)
        meta = {"managed_by": "yuqing", "template_file": f"posts-v{file_version}.json"}
        with self.errors("install the index template"):
            self.client.indices.put_index_template(
                name=name, index_patterns=[name], template=body["template"], version=version,
                priority=version, meta=meta,
            )  # fmt: skip

    def init(self) -> None:
        with self._lock:
            if self._ready:
                return
            if self.current_index() is None:
                version = latest_version(self.template_dir)
                self.put_template(version)
                name = self.index_name(version)
                with self.errors("create the posts index"):
                    try:
                        self.client.indices.create(
                            index=name, aliases={self.alias: {"is_write_index": True}}
                        )
                    except ApiError as exc:
                        # Another process created it first: that is the same outcome.
                        if exc.error != "resource_already_exists_exception":
                            raise
            self._ready = True

    def current_index(self) -> str | None:
        """The concrete index the alias points at, or None before init."""
        try:
            with self.errors("read the alias"):
                found = self.client.indices.get_alias(name=self.alias)
        except NotFoundError:
            return None
        names = sorted(found.body, key=version_of)
        return names[-1] if names else None

    # -- writes -------------------------------------------------------------------------------

    def document(self, post: Post, seq: int) -> dict[str, Any]:
        """The Elasticsearch document for a post: filter fields, token fields, the post itself."""
        title_words, title_subwords = self._words(post.title)
        text_words, text_subwords = self._words(post.text)
        return {
            "id": post.id,
            "source": post.source,
            "site": post.site,
            "thread": post.thread,
            "author": post.author,
            "sentiment": post.sentiment,
            "category": post.category,
            "severity": post.severity,
            "units": post.units,
            "watch_rules": post.watch_rules,
            "keywords": post.keywords,
            "cluster": post.cluster,
            "time": millis(post.time),
            "published": millis(post.published) if post.published else None,
            "fetched": millis(post.fetched),
            "indexed_at": seq // SEQ_PER_MS,
            "seq": seq,
            "title_tokens": f"{title_words} {title_subwords}",
            "text_tokens": f"{text_words} {text_subwords}",
            "title_words": title_words,
            "text_words": text_words,
            "title": post.title,
            "text": post.text,
            "raw": post.model_dump(mode="json", exclude=_RAW_EXCLUDE),
        }

    def _words(self, text: str) -> tuple[str, str]:
        """Precise-mode words and the sub-words search mode adds, from one segmentation pass.
        Together they are the multiset of ``Segmenter.index_tokens`` (the token fields keep no
        positions, so the order does not matter)."""
        tokens = self.segmenter.tokens(text)
        words = " ".join(t.word for t in tokens)
        return words, " ".join(t.word for t in self.segmenter.subword_tokens(tokens))

    def next_seq(self) -> int:
        """The indexing order: the clock in ms times SEQ_PER_MS, strictly increasing here, so
        posts written in one batch (or one millisecond) keep the order they were given in."""
        with self._lock:
            self._seq = max(millis(datetime.now(UTC)) * SEQ_PER_MS, self._seq + 1)
            return self._seq

    def operations(self, posts: list[Post]) -> list[dict[str, Any]]:
        """Bulk-API lines for ``posts``: an action and a document each."""
        ops: list[dict[str, Any]] = []
        for post in posts:
            ops.append({"index": {"_id": post.id}})
            ops.append(self.document(post, self.next_seq()))
        return ops

    def upsert(self, posts: Iterable[Post]) -> int:
        self.init()
        written = 0
        # Segmenting is CPU work in Python and sending is waiting on the network, so the next
        # chunk is segmented while the previous one is being indexed.
        # A post refused for good does not stop the chunks after it: every other post is
        # written, then the refused ones are named together (PostsRejected).
        rejected: dict[str, str] = {}

        def settle(future: Future[int]) -> int:
            try:
                return future.result()
            except PostsRejected as exc:
                rejected.update(exc.rejected)
                return 0

        with ThreadPoolExecutor(max_workers=1) as sender:
            pending: Future[int] | None = None
            for chunk in _chunks(posts, CHUNK):
                ops = self.operations(chunk)
                if pending is not None:
                    written += settle(pending)
                pending = sender.submit(self.send, ops)
            if pending is not None:
                written += settle(pending)
        if rejected:
            raise PostsRejected(rejected)
        return written

    def send(self, ops: list[dict[str, Any]], index: str | None = None) -> int:
        """One bulk request; any item rejected raises IndexUnavailable naming the posts."""
        with self.errors("write posts"):
            response = self.client.bulk(
                operations=ops, index=index or self.alias, refresh=self.refresh,
                require_alias=index is None,
            )  # fmt: skip
        if not response.get("errors"):
            return len(ops) // 2
        failed: list[str] = []
        refused: dict[str, str] = {}
        for item in response["items"]:
            result = next(iter(item.values()))
            if result.get("error"):
                err = result["error"]
                reason = str(err.get("reason", err) if isinstance(err, dict) else err)
                reason = reason if len(reason) <= 300 else reason[:300] + "…"  # quotes the value
                status = int(result.get("status") or 500)
                failed.append(f"{result.get('_id')} ({status}: {reason})")
                # 400: this document can never be indexed as it is. Anything else (429, 5xx,
                # a missing index) may pass on a later try, so the whole write is retried.
                if status == 400:
                    refused[str(result.get("_id"))] = f"{status}: {reason}"
        if len(refused) == len(failed):
            raise PostsRejected(refused)
        more = "; ..." if len(failed) > 10 else ""
        raise IndexUnavailable(
            f"Elasticsearch rejected {len(failed)} of {len(ops) // 2} posts: "
            + "; ".join(failed[:10]) + more
        )  # fmt: skip

    # -- reads --------------------------------------------------------------------------------

    @staticmethod
    def to_post(source: dict[str, Any]) -> Post:
        title, text = source.get("title", ""), source.get("text", "")
        return Post.model_validate({**source["raw"], "title": title, "text": text})

    def get(self, post_id: str) -> Post | None:
        self.init()
        try:
            with self.errors("read a post"):
                found = self.client.get(index=self.alias, id=post_id, source_includes=SOURCE_FIELDS)
        except NotFoundError:
            return None
        return self.to_post(found["_source"])

    @staticmethod
    def _sort(order: SortOrder) -> list[Any]:
        if order == SortOrder.RELEVANCE:
            return [{"_score": "desc"}, {"time": "desc"}, {"id": "asc"}]
        return [{"time": "desc"}, {"id": "asc"}]

    def search(self, query: SearchQuery) -> SearchPage:
        if not 1 <= query.limit <= MAX_LIMIT:
            raise ValueError(f"limit must be between 1 and {MAX_LIMIT}, not {query.limit}")
        tree = parse_query(query.text, self.segmenter.cut)
        after: list[object] | None = None
        if query.page_token:
            token = decode_token(query.page_token)
            if not token or token[0] != str(query.sort):
                raise ValueError("the page token belongs to another search; start again without it")
            after = token[1:]
        self.init()
        extra: dict[str, Any] = {"search_after": after} if after is not None else {}
        try:
            with self.errors("search"):
                found = self.client.search(
                    index=self.alias, query=es_query.build(tree, query),
                    sort=self._sort(query.sort),
                    size=query.limit + 1,  # one more tells whether there is a next page
                    track_total_hits=True, source={"includes": SOURCE_FIELDS}, **extra,
                )  # fmt: skip
        except ApiError as exc:
            if exc.meta.status == 400 and after is not None:
                raise ValueError("the page token is damaged; start again without it") from exc
            raise
        hits = found["hits"]["hits"]
        more = len(hits) > query.limit
        hits = hits[: query.limit]
        next_token = encode_token([str(query.sort), *hits[-1]["sort"]]) if more and hits else None
        return SearchPage(
            posts=[self.to_post(h["_source"]) for h in hits],
            total=int(found["hits"]["total"]["value"]),
            next_page_token=next_token,
        )

    def counts(self, query: SearchQuery, tz: str = "Asia/Shanghai") -> Counts:
        tree = parse_query(query.text, self.segmenter.cut)
        self.init()
        day = {"field": "time", "calendar_interval": "day", "time_zone": tz,
               "format": "yyyy-MM-dd", "min_doc_count": 1}  # fmt: skip
        aggs = {
            "by_day": {"date_histogram": day},
            "by_source": {"terms": {"field": "source", "size": 10_000}},
            "by_sentiment": {"terms": {"field": "sentiment", "size": 10}},
            "by_severity": {"terms": {"field": "severity", "size": 10}},
        }
        try:
            with self.errors("count posts"):
                found = self.client.search(
                    index=self.alias, query=es_query.build(tree, query), size=0,
                    track_total_hits=True, aggs=aggs,
                )  # fmt: skip
        except ApiError as exc:
            if exc.meta.status == 400 and "time_zone" in str(exc).lower():
                raise ValueError(f"unknown time zone {tz!r}") from exc
            raise
        a = found["aggregations"]

        def buckets(name: str, key: str = "key") -> dict[str, int]:
            return {str(b[key]): int(b["doc_count"]) for b in a[name]["buckets"]}

        return Counts(
            total=int(found["hits"]["total"]["value"]),
            by_day=buckets("by_day", "key_as_string"),
            by_source=buckets("by_source"),
            by_sentiment=buckets("by_sentiment"),
            by_severity=buckets("by_severity"),
        )

    def changes_since(self, cursor: str | None, limit: int = 500) -> Changes:
        if not 1 <= limit <= MAX_LIMIT:
            raise ValueError(f"limit must be between 1 and {MAX_LIMIT}, not {limit}")
        after: list[object] | None = None
        if cursor is not None:
            after = decode_token(cursor)
            if len(after) != 2 or not isinstance(after[0], int) or not isinstance(after[1], str):
                raise ValueError("the cursor is damaged; start again without it")
        self.init()
        settled = (millis(datetime.now(UTC)) - int(self.settle_seconds * 1000) + 1) * SEQ_PER_MS - 1
        extra: dict[str, Any] = {"search_after": after} if after is not None else {}
        with self.errors("read changes"):
            found = self.client.search(
                index=self.alias,
                query={"range": {"seq": {"lte": settled}}},
                sort=[{"seq": "asc"}, {"id": "asc"}],
                size=limit, source={"includes": SOURCE_FIELDS}, **extra,
            )  # fmt: skip
        hits = found["hits"]["hits"]
        if not hits:
            return Changes(posts=[], cursor=cursor if cursor is not None else encode_token([0, ""]))
        posts = [self.to_post(h["_source"]) for h in hits]
        return Changes(posts=posts, cursor=encode_token(hits[-1]["sort"]))

    # -- operations ---------------------------------------------------------------------------

    def status(self) -> dict[str, object]:
        out: dict[str, object] = {
            "backend": "elasticsearch",
            "location": f"{', '.join(self.urls)} (alias {self.alias})",
            "urls": self.urls,
            "alias": self.alias,
        }
        try:
            with self.errors("read the cluster health"):
                out["cluster"] = self.client.cluster.health()["status"]
            index = self.current_index()
            out["index"] = index
            out["schema_version"] = version_of(index) if index else None
            out["posts"] = 0
            if index is not None:
                with self.errors("count posts"):
                    out["posts"] = int(self.client.count(index=self.alias)["count"])
            out["reachable"] = True
        except IndexUnavailable as exc:
            out["reachable"] = False
            out["error"] = str(exc)
        return out

    def reindex(self) -> str:
        """Rebuild the posts into the next schema version and swap the alias to it (see
        store/es_reindex.py); returns the new index's name."""
        from store.es_reindex import reindex

        return reindex(self)

    def delete_all(self) -> None:
        """Drop every index and template of this prefix (tests and benchmarks)."""
        with self.errors("delete the indices"):
            # Wildcard deletes are refused by default (destructive_requires_name): name them.
            found = self.client.indices.get(
                index=f"{self.alias}-v*", ignore_unavailable=True, allow_no_indices=True
            )
            for name in found.body:
                self.client.indices.delete(index=name)
            try:
                templates = self.client.indices.get_index_template(name=f"{self.alias}-v*")
            except NotFoundError:
                templates = None
            for t in templates["index_templates"] if templates is not None else []:
                self.client.indices.delete_index_template(name=t["name"])
        self._ready = False

    def close(self) -> None:
        self.client.close()
