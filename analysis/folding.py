"""Repost folding (相似文章合并): near-duplicate posts across sites fold into one cluster.

Repost boilerplate is stripped, then MinHash over character bigrams with LSH banding finds
candidates, which are confirmed by their estimated Jaccard similarity.
"""

from __future__ import annotations

import heapq
import json
import struct
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from itertools import repeat

import numpy as np
import numpy.typing as npt

from analysis.minhash import Signer
from analysis.normalize import nfkc
from analysis.repost_text import content_codes, content_codes_many, strip_boilerplate, strip_many

# The name this module had before the text part moved to repost_text: bench/folding_bench.py
# imports it, also when PYTHONPATH puts an older tree's analysis/ first.
_content_codes = content_codes
__all__ = [
    "Cluster",
    "ClusterAssignment",
    "Folded",
    "Folder",
    "FoldingConfig",
    "Signed",
    "Signer",
    "_content_codes",
    "strip_boilerplate",
]


@dataclass(frozen=True)
class FoldingConfig:
    """The knobs; the defaults reach recall ≥ 0.95 at ≤ 1% false merges (bench/folding_bench.py)."""

    num_perm: int = 64
    bands: int = 21  # 21 bands of 3 rows: candidates from Jaccard ≈ 0.35 up
    threshold: float = 0.4  # estimated Jaccard needed to join a cluster
    min_chars: int = 10  # shorter texts (after stripping) are never folded: they match anything
    # Short posts share a larger part of their bigrams by chance (送餐太慢 / 太慢了，送餐…):
    # below short_chars they need a closer match.
    short_chars: int = 20
    short_threshold: float = 0.5
    horizon_days: float = 30.0  # posts older than this (vs. the newest seen) leave the index
    max_signatures_per_cluster: int = 16  # a viral post needs no 10,000 signatures
    seed: int = 20240611

    def __post_init__(self) -> None:
        if not (16 <= self.num_perm <= 1024 and 1 <= self.bands <= min(255, self.num_perm)):
            raise ValueError("folding: need 16 <= num_perm <= 1024 and 1 <= bands <= 255")
        if not (0.0 < self.threshold <= 1.0 and 0.0 < self.short_threshold <= 1.0):
            raise ValueError("folding: threshold and short_threshold must be in (0, 1]")
        if self.horizon_days <= 0 or self.max_signatures_per_cluster < 1 or self.min_chars < 2:
            raise ValueError("folding: horizon_days > 0, max_signatures >= 1, min_chars >= 2")

    @property
    def rows(self) -> int:
        return self.num_perm // self.bands


@dataclass(frozen=True)
class ClusterAssignment:
    cluster_id: str
    is_new: bool  # this post started the cluster
    size: int  # posts in the cluster, this one included


@dataclass
class Cluster:
    """What the office sees of a repost cluster: how big, where, and which post came first."""

    id: str  # the first post's id: stable across restarts
    first_post: str
    first_time: datetime
    last_time: datetime
    size: int = 1
    sites: set[str] = field(default_factory=set)
    members: list[str] = field(default_factory=list)  # post ids still in the index, oldest first
    recent: list[float] = field(default_factory=list)  # the latest posts' times (epoch s), bounded

    RECENT = 256  # enough to tell 200 posts/hour from 20; severity's velocity signal

    def posts_per_hour(self, now: datetime, window_hours: float = 1.0) -> float:
        """Posts of this cluster in the ``window_hours`` before ``now``, per hour."""
        if window_hours <= 0:
            raise ValueError("folding: window_hours must be positive")
        return self._posts_before(now.timestamp(), window_hours * 3600.0) / window_hours

    def _posts_before(self, stamp: float, seconds: float) -> int:
        """The recent posts in the ``seconds`` up to ``stamp`` (epoch s), that one included."""
        since = stamp - seconds
        return sum(since < t <= stamp for t in self.recent)

    def _seen(self, stamp: float) -> None:
        self.recent.append(stamp)
        if len(self.recent) > self.RECENT:
            del self.recent[0]


# A text's content length, signature and band keys, as Folder.sign_many gives them.
Signed = tuple[int, npt.NDArray[np.uint32] | None, list[bytes]]
# A post's cluster as Folder.add_many gives it: the cluster's id, size and number of sites,
# whether the post started it, and its posts in the hour up to the post (severity's velocity).
Folded = tuple[str, int, int, bool, float]

_MAGIC = b"YQFOLD1\n"


def _check(post_id: str, site: str, time: datetime) -> None:
    if not isinstance(post_id, str) or not isinstance(site, str):
        raise TypeError("folding: post_id, text and site must be strings")
    if not isinstance(time, datetime) or time.tzinfo is None:
        raise ValueError("folding: naive datetime, give a time zone")


class Folder:
    """Assigns each post to a cluster of near-duplicates; see FoldingConfig for the knobs."""

    def __init__(self, config: FoldingConfig | None = None) -> None:
        self.config = config or FoldingConfig()
        self._signer = Signer(self.config.num_perm, self.config.seed)
        # LSH: band key -> the indexed post id, or a list of them when several share the key
        # (most keys hold one post: a string allocates nothing the collector must walk).
        self._table: dict[bytes, str | list[str]] = {}
        salt = np.random.default_rng(self.config.seed + 1).integers(
            0, 2**32, (self.config.bands, self.config.rows), dtype=np.uint64
        )
        self._band_salt = salt.astype(np.uint32)
        self._salt_rows = self._band_salt.ravel()
        width = 4 * self.config.rows
        self._band_slices = [slice(b * width, (b + 1) * width) for b in range(self.config.bands)]
        self._signatures: dict[str, npt.NDArray[np.uint32]] = {}  # indexed post id -> signature
        self._member_cluster: dict[str, str] = {}  # indexed post id -> cluster id
        self._member_time: dict[str, float] = {}
        self._expiry: list[tuple[float, str]] = []  # (time, post id) heap, for eviction
        # Indexed posts older than the horizon when they came (a crawl of old posts): the next
        # add evicts them before it looks anything up, so their band keys are never entered.
        self._stale: set[str] = set()
        self._clusters: dict[str, Cluster] = {}
        self._assigned: dict[str, str] = {}  # every post id in the horizon -> its cluster id
        self._newest = float("-inf")

    # -- public API ------------------------------------------------------------------------
    def add(
        self, post_id: str, text: str, site: str, time: datetime, signed: Signed | None = None
    ) -> ClusterAssignment:
        """Fold one post in. Adding the same post id again returns its cluster unchanged.
        ``signed``: the text's entry from ``sign_many`` (faster for a batch); else signed here."""
        if not isinstance(text, str):
            raise TypeError("folding: post_id, text and site must be strings")
        _check(post_id, site, time)
        cluster, is_new = self._fold(post_id, text, site, time, time.timestamp(), signed)
        return ClusterAssignment(cluster.id, is_new, cluster.size)

    def add_many(
        self, posts: Sequence[tuple[str, str, datetime]], signed: Sequence[Signed | None]
    ) -> list[Folded]:
        """``add`` of each post (id, site, time) with its ``sign_many`` entry (None: an empty
        text), in order, and what the analysis reports of it (``Folded``): no assignment
        object is made, and each post's time is read once."""
        out: list[Folded] = []
        for (post_id, site, time), one in zip(posts, signed, strict=True):
            _check(post_id, site, time)
            stamp = time.timestamp()
            cluster, is_new = self._fold(post_id, "", site, time, stamp, one)
            out.append(
                (
                    cluster.id,
                    cluster.size,
                    len(cluster.sites),
                    is_new,
                    float(cluster._posts_before(stamp, 3600.0)),
                )
            )
        return out

    def _fold(
        self,
        post_id: str,
        text: str,
        site: str,
        time: datetime,
        stamp: float,
        signed: Signed | None,
    ) -> tuple[Cluster, bool]:
        """The post's cluster once it is folded in, and whether the post started it."""
        known = self._assigned.get(post_id)
        if known is not None and known in self._clusters:
            return self._clusters[known], known == post_id
        self._newest = max(self._newest, stamp)
        self._evict()
        size, signature, keys = signed if signed is not None else self.sign_many([text])[0]
        if signature is None:
            return self._new_cluster(post_id, site, time, stamp, None, []), True
        if self._table.keys().isdisjoint(keys):  # most posts: no band key is held yet
            return self._new_cluster(post_id, site, time, stamp, signature, keys, fresh=True), True
        best = self._best_match(signature, keys, size < self.config.short_chars)
        if best is None:
            return self._new_cluster(post_id, site, time, stamp, signature, keys), True
        cluster = self._clusters[best]
        cluster.size += 1
        cluster.sites.add(site)
        cluster._seen(stamp)
        if time < cluster.first_time:
            cluster.first_time = time  # a late-crawled original; the id stays stable
        cluster.last_time = max(cluster.last_time, time)
        self._assigned[post_id] = best
        self._index(post_id, best, signature, keys, stamp)
        return cluster, False

    def sign_many(self, texts: Sequence[str], *, normalized: bool = False) -> list[Signed]:
        """Each text's content length, MinHash signature and band keys (no signature for a
        text too short to fold), hashed in one numpy pass: per-call overhead dominates
        short posts. ``normalized``: the texts are NFKC already (see strip_boilerplate)."""
        if len(texts) == 1:  # one post (add without a batch): fewer numpy calls this way
            alone = content_codes(strip_boilerplate(texts[0], normalized=normalized))
            if alone.size < self.config.min_chars:
                return [(alone.size, None, [])]
            signature = self._signer.sign(self._signer.shingles(alone))
            return [(alone.size, signature, self._band_keys(signature))]
        stripped = strip_many(texts if normalized else list(map(nfkc, texts)))
        codes, sizes = content_codes_many(stripped)
        out: list[Signed] = [(size, None, []) for size in sizes]
        long = [i for i, size in enumerate(sizes) if size >= self.config.min_chars]
        if not long:
            return out
        # The bigrams within each long text (none spans two texts), end to end; each text's
        # run starts where its first bigram landed.
        lengths = np.asarray(sizes, dtype=np.int64)
        firsts = np.cumsum(lengths) - lengths  # each text's first code
        chosen = np.asarray(long, dtype=np.int64)
        pick = np.zeros(len(codes) + 1, dtype=np.int64)
        np.add.at(pick, firsts[chosen], 1)
        np.add.at(pick, firsts[chosen] + lengths[chosen] - 1, -1)
        inside = np.cumsum(pick[: len(codes) - 1]) > 0
        shingles = self._signer.shingles(codes)[inside]
        runs = lengths[chosen] - 1
        starts = np.cumsum(runs) - runs
        signatures = self._signer.sign_segments(shingles, starts)
        bands, rows = self.config.bands, self.config.rows
        salted = signatures[:, : bands * rows].reshape(len(long), bands, rows) ^ self._band_salt
        keys: list[list[bytes]] = salted.view(f"V{4 * rows}").reshape(len(long), bands).tolist()
        for at, i in enumerate(long):
            out[i] = (sizes[i], signatures[at], keys[at])
        return out

    def cluster(self, cluster_id: str) -> Cluster | None:
        return self._clusters.get(cluster_id)

    def cluster_of(self, post_id: str) -> str | None:
        return self._assigned.get(post_id)

    def __len__(self) -> int:
        """Clusters still within the horizon."""
        return len(self._clusters)

    @property
    def indexed(self) -> int:
        """Signatures held in the LSH index (what memory grows with)."""
        return len(self._signatures)

    # -- internals ---------------------------------------------------------------------------
    def _band_keys(self, signature: npt.NDArray[np.uint32]) -> list[bytes]:
        """One key per band: its rows' bytes, salted per band so that one dict serves all (the
        salted rows' bytes in one string, cut into the bands' keys by slices: as sign_many's)."""
        salted = (signature[: len(self._salt_rows)] ^ self._salt_rows).tobytes()
        return list(map(salted.__getitem__, self._band_slices))

    def _best_match(
        self, signature: npt.NDArray[np.uint32], keys: list[bytes], short: bool
    ) -> str | None:
        buckets = list(filter(None, map(self._table.get, keys)))  # in C: most find none
        if not buckets:
            return None
        candidates: set[str] = set()
        for bucket in buckets:
            if isinstance(bucket, str):
                candidates.add(bucket)
            else:
                candidates.update(bucket)
        if not candidates:
            return None
        threshold = self.config.short_threshold if short else self.config.threshold
        needed = threshold * self.config.num_perm
        if len(candidates) == 1:  # the common case, without stacking
            (only,) = candidates
            agreeing = np.count_nonzero(self._signatures[only] == signature)
            return self._member_cluster[only] if agreeing >= needed else None
        ids = list(candidates)
        stacked = np.stack([self._signatures[i] for i in ids])
        agree = np.count_nonzero(stacked == signature, axis=1)
        best = int(agree.argmax())
        return self._member_cluster[ids[best]] if agree[best] >= needed else None

    def _new_cluster(
        self,
        post_id: str,
        site: str,
        time: datetime,
        stamp: float,
        signature: npt.NDArray[np.uint32] | None,
        keys: list[bytes],
        *,
        fresh: bool = False,
    ) -> Cluster:
        """A cluster of this post alone; ``fresh``: the table holds none of its band keys."""
        cluster = self._clusters[post_id] = Cluster(
            post_id, post_id, time, time, 1, {site}, [], [stamp]
        )
        self._assigned[post_id] = post_id
        if signature is not None:
            self._index(post_id, post_id, signature, keys, stamp, fresh=fresh)
        else:
            # Unfoldable posts still expire with the horizon.
            self._member_time[post_id] = stamp
            heapq.heappush(self._expiry, (stamp, post_id))
        return cluster

    def _index(
        self,
        post_id: str,
        cluster_id: str,
        signature: npt.NDArray[np.uint32],
        keys: list[bytes],
        stamp: float,
        *,
        fresh: bool = False,
    ) -> None:
        cluster = self._clusters[cluster_id]
        if len(cluster.members) >= self.config.max_signatures_per_cluster:
            self._unindex(cluster.members.pop(0))
        cluster.members.append(post_id)
        self._signatures[post_id] = signature
        self._member_cluster[post_id] = cluster_id
        self._member_time[post_id] = stamp
        if stamp < self._newest - self.config.horizon_days * 86400.0:
            self._stale.add(post_id)
        elif fresh:  # a new cluster's keys that no post holds: one dict update (C)
            self._table.update(dict.fromkeys(keys, post_id))
        else:
            self._enter(post_id, keys)
        heapq.heappush(self._expiry, (stamp, post_id))

    def _unindex(self, post_id: str) -> None:
        signature = self._signatures.pop(post_id, None)
        self._member_cluster.pop(post_id, None)
        if signature is None:
            return
        if post_id in self._stale:
            self._stale.discard(post_id)
            return
        table = self._table
        keys = self._band_keys(signature)
        # Most keys hold this post alone: those go by one C-level pass.
        if list(map(table.get, keys)).count(post_id) == len(keys):
            deque(map(table.pop, keys, repeat(None)), 0)  # (two bands may share a key)
            return
        for key in keys:
            bucket = table.get(key)
            if bucket is None:
                continue
            if isinstance(bucket, str):
                if bucket == post_id:
                    del table[key]
            elif post_id in bucket:
                bucket.remove(post_id)
                if len(bucket) == 1:
                    table[key] = bucket[0]

    def _enter(self, post_id: str, keys: list[bytes]) -> None:
        """The post id into the LSH table under each of its band keys."""
        table = self._table
        # Most keys are new: those go in by one dict update (C); the few keys other posts
        # hold already get this post added to their bucket.
        if table.keys().isdisjoint(keys):
            table.update(dict.fromkeys(keys, post_id))
            return
        for key in keys:
            bucket = table.setdefault(key, post_id)
            if bucket is not post_id:  # the key held posts already
                if isinstance(bucket, str):
                    table[key] = [bucket, post_id]
                else:
                    bucket.append(post_id)

    def _evict(self) -> None:
        cutoff = self._newest - self.config.horizon_days * 86400.0
        while self._expiry and self._expiry[0][0] < cutoff:
            stamp, post_id = heapq.heappop(self._expiry)
            if self._member_time.get(post_id) != stamp:
                continue  # a stale entry: the post id was added again later
            del self._member_time[post_id]
            cluster_id = self._assigned.pop(post_id, None)
            self._unindex(post_id)
            cluster = self._clusters.get(cluster_id) if cluster_id else None
            if cluster is None:
                continue
            if post_id in cluster.members:
                cluster.members.remove(post_id)
            if cluster.last_time.timestamp() < cutoff:
                self._forget_cluster(cluster)

    def _forget_cluster(self, cluster: Cluster) -> None:
        for member in cluster.members:
            self._unindex(member)
        cluster.members.clear()
        # Its posts are all older than the cutoff, so the eviction loop drops their ids too.
        del self._clusters[cluster.id]

    # -- persistence ---------------------------------------------------------------------------
    def to_bytes(self) -> bytes:
        """The whole state, so that a restarted daemon folds into the same clusters."""
        order = list(self._signatures)
        header = {
            "config": self.config.__dict__,
            "newest": self._newest if self._newest != float("-inf") else None,
            "clusters": [
                [
                    c.id,
                    c.first_post,
                    c.first_time.isoformat(),
                    c.last_time.isoformat(),
                    c.size,
                    sorted(c.sites),
                    c.members,
                    c.recent,
                ]
                for c in self._clusters.values()
            ],
            "assigned": self._assigned,
            "times": self._member_time,
            "signed": order,
        }
        blob = json.dumps(header, ensure_ascii=False, separators=(",", ":")).encode()
        matrix = (
            np.stack([self._signatures[i] for i in order]).astype("<u4").tobytes() if order else b""
        )
        return _MAGIC + struct.pack("<Q", len(blob)) + blob + matrix

    @classmethod
    def from_bytes(cls, data: bytes) -> Folder:
        """Restore what to_bytes wrote; a damaged or foreign file raises ValueError."""
        if not data.startswith(_MAGIC) or len(data) < len(_MAGIC) + 8:
            raise ValueError("folding state: not a Yuqing folding state (bad header)")
        start = len(_MAGIC) + 8
        (size,) = struct.unpack("<Q", data[len(_MAGIC) : start])
        try:
            header = json.loads(data[start : start + size])
            folder = cls(FoldingConfig(**header["config"]))
            order: list[str] = header["signed"]
            width = folder.config.num_perm
            matrix = np.frombuffer(data[start + size :], dtype="<u4").astype(np.uint32)
            if matrix.size != len(order) * width:
                raise ValueError("signature block has the wrong length")
            matrix = matrix.reshape(len(order), width)
            for cid, first, t0, t1, csize, sites, members, recent in header["clusters"]:
                folder._clusters[cid] = Cluster(
                    cid,
                    first,
                    datetime.fromisoformat(t0),
                    datetime.fromisoformat(t1),
                    csize,
                    set(sites),
                    list(members),
                    [float(t) for t in recent],
                )
            folder._assigned = dict(header["assigned"])
            folder._member_time = {k: float(v) for k, v in header["times"].items()}
            folder._expiry = [(t, p) for p, t in folder._member_time.items()]
            heapq.heapify(folder._expiry)
            folder._newest = float("-inf") if header["newest"] is None else header["newest"]
            for row, post_id in enumerate(order):
                signature = matrix[row].copy()
                folder._signatures[post_id] = signature
                folder._member_cluster[post_id] = folder._assigned[post_id]
                folder._enter(post_id, folder._band_keys(signature))
        except (KeyError, TypeError, ValueError, UnicodeDecodeError) as exc:
            raise ValueError(f"folding state: damaged ({exc})") from exc
        return folder
