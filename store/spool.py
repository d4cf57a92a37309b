"""A durable on-disk spool in front of a PostIndex: every batch is on disk (fsynced) before it
is sent, and stays there until the index took it, so an outage or a crash loses no post."""

from __future__ import annotations

import fcntl
import logging
import os
import re
import threading
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path

from pydantic import ValidationError

from core.post import Post
from store.base import (
    Changes,
    Counts,
    IndexUnavailable,
    PostIndex,
    PostsRejected,
    SearchPage,
    SearchQuery,
)

log = logging.getLogger(__name__)

_BATCH = re.compile(r"(\d{12})\.jsonl")


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


class SpooledIndex:
    """A PostIndex whose writes go through ``spool_dir``: one JSON-lines file per batch,
    named by a sequence number, deleted once the inner index acknowledged it.

    When the inner index raises IndexUnavailable the batch stays spooled and ``upsert`` returns
    normally; pending batches are replayed in order on the next upsert, on ``flush()`` and
    when a spool left by a crashed process is opened. Reads go straight to the inner index.
    Several processes may share one spool folder (a file lock orders them).
    """

    def __init__(self, inner: PostIndex, spool_dir: Path, *, replay_at_open: bool = True) -> None:
        self.inner = inner
        self.dir = Path(spool_dir)
        try:
            self.dir.mkdir(parents=True, exist_ok=True)
            (self.dir / "damaged").mkdir(exist_ok=True)
            self._lock_file = open(self.dir / ".lock", "a+b")  # noqa: SIM115 - held while open
        except OSError as exc:
            raise OSError(f"cannot use {self.dir} as the post spool: {exc.strerror}") from exc
        self._thread_lock = threading.Lock()
        self.last_error: str | None = None
        self.rejected = 0  # posts set aside in damaged/ by this process
        if replay_at_open:
            self.flush()

    @contextmanager
    def _locked(self) -> Iterator[None]:
        with self._thread_lock:
            fcntl.flock(self._lock_file, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(self._lock_file, fcntl.LOCK_UN)

    def _batches(self) -> list[Path]:
        """Spooled batches, oldest first. Called with the lock held, so a temporary file is a
        batch half-written by a crashed process: never acknowledged to its caller, dropped."""
        found = []
        for entry in self.dir.iterdir():
            if _BATCH.fullmatch(entry.name):
                found.append(entry)
            elif entry.name.startswith(".tmp-"):
                entry.unlink(missing_ok=True)
        return sorted(found)

    def _append(self, posts: list[Post]) -> Path:
        batches = self._batches()
        seq = int(batches[-1].name[:12]) + 1 if batches else 1
        final = self.dir / f"{seq:012d}.jsonl"
        tmp = self.dir / f".tmp-{os.getpid()}-{seq}"
        with open(tmp, "wb") as f:
            for post in posts:
                f.write(post.model_dump_json().encode())
                f.write(b"\n")
            f.flush()
            os.fsync(f.fileno())
        # The rename makes the batch appear whole or not at all; the directory fsync makes the
        # rename itself survive a power cut.
        os.replace(tmp, final)
        _fsync_dir(self.dir)
        return final

    def _read(self, batch: Path) -> list[Post] | None:
        try:
            with open(batch, "rb") as f:
                return [Post.model_validate_json(line) for line in f if line.strip()]
        except (ValidationError, ValueError, OSError) as exc:
            # A damaged batch must not block every later one: set it aside for the operator.
            target = self.dir / "damaged" / batch.name
            os.replace(batch, target)
            log.error("spooled batch %s is damaged (%s); moved to %s", batch.name, exc, target)
            return None

    def _replay(self) -> int:
        """Send pending batches in order until the inner index refuses; returns posts sent."""
        sent = 0
        for batch in self._batches():
            posts = self._read(batch)
            if posts is None:
                continue
            try:
                self.inner.upsert(posts)
            except PostsRejected as exc:
                # The index took the rest of the batch; the refused posts would block every
                # later batch forever, so they are set aside, whole, for the operator.
                self._set_aside(batch, posts, exc)
            except IndexUnavailable as exc:
                self.last_error = str(exc)
                log.warning("index unavailable, %d batch(es) stay spooled: %s",
                            len(self._batches()), exc)  # fmt: skip
                return sent
            batch.unlink()
            _fsync_dir(self.dir)
            sent += len(posts)
        self.last_error = None
        return sent

    def _set_aside(self, batch: Path, posts: list[Post], exc: PostsRejected) -> None:
        refused = [p for p in posts if p.id in exc.rejected]
        stem = self.dir / "damaged" / f"{batch.name[:12]}-rejected"
        with open(stem.with_suffix(".jsonl"), "wb") as f:
            for post in refused:
                f.write(post.model_dump_json().encode() + b"\n")
            f.flush()
            os.fsync(f.fileno())
        stem.with_suffix(".reasons.txt").write_text(
            "".join(f"{pid}\t{why}\n" for pid, why in exc.rejected.items()), encoding="utf-8"
        )
        self.rejected += len(refused)
        log.error(
            "the index refused %d post(s) of batch %s for good; set aside in %s: %s",
            len(refused), batch.name, stem.with_suffix(".jsonl"), exc,
        )  # fmt: skip

    # -- PostIndex ----------------------------------------------------------------------------

    def init(self) -> None:
        self.inner.init()

    def upsert(self, posts: Iterable[Post]) -> int:
        """Spool ``posts`` durably, then deliver every pending batch in order. Returns how many
        posts were taken (all of them, delivered now or later)."""
        batch = list(posts)
        with self._locked():
            if batch:
                self._append(batch)
            self._replay()
        return len(batch)

    def flush(self) -> int:
        """Replay pending batches now; returns how many posts reached the index."""
        with self._locked():
            return self._replay()

    def pending(self) -> int:
        """Posts spooled and not yet acknowledged by the index."""
        with self._locked():
            total = 0
            for batch in self._batches():
                with open(batch, "rb") as f:
                    total += sum(1 for line in f if line.strip())
            return total

    def get(self, post_id: str) -> Post | None:
        return self.inner.get(post_id)

    def search(self, query: SearchQuery) -> SearchPage:
        return self.inner.search(query)

    def counts(self, query: SearchQuery, tz: str = "Asia/Shanghai") -> Counts:
        return self.inner.counts(query, tz)

    def changes_since(self, cursor: str | None, limit: int = 500) -> Changes:
        return self.inner.changes_since(cursor, limit)

    def status(self) -> dict[str, object]:
        out = dict(self.inner.status())
        out["spool"] = str(self.dir)
        out["spooled_posts"] = self.pending()
        if self.last_error:
            out["spool_error"] = self.last_error
        set_aside = sorted(p.name for p in (self.dir / "damaged").iterdir())
        if set_aside:
            out["spool_set_aside"] = set_aside  # damaged batches and refused posts, by file
        return out

    def reindex(self) -> str:
        """Deliver what is spooled, then let the inner index rebuild itself (Elasticsearch)."""
        self.flush()
        rebuild = getattr(self.inner, "reindex", None)
        if rebuild is None:
            raise NotImplementedError(f"{type(self.inner).__name__} cannot reindex")
        return str(rebuild())

    def close(self) -> None:
        self._lock_file.close()
        self.inner.close()
