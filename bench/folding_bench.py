"""Repost-folding benchmark: recall, false merges and posts/s of analysis.folding.Folder vs. a
64-bit SimHash (Hamming <= 3) baseline, on repost-style variants of real posts, in one run.

    uv run --frozen python bench/folding_bench.py [--originals 3000] [--variants 3] [--seed 7]
"""

from __future__ import annotations

import argparse
import csv
import os
import random
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:  # after PYTHONPATH: an old tree's code may be compared
    sys.path.append(str(ROOT))

from analysis.folding import Folder, _content_codes, strip_boilerplate  # noqa: E402

DATA = ROOT.parent / "shared" / "data" / "sentiment"
if not DATA.exists():
    DATA = Path("/work/shared/data/sentiment")

PREFIXES = [
    "转发微博 ",
    "//@小城故事: 真的假的？",
    "【扩散】",
    "#校园热点# ",
    "回复@吃瓜群众2023: ",
    "转：",
    "@人民网 @头条新闻 ",
    "【来源：网友爆料】",
    "#热门话题##今日关注# ",
]
SUFFIXES = [
    " http://t.cn/A6xYz12q",
    " 来源：新浪微博",
    " //@路人甲: 转发微博",
    " 网页链接",
    "（原标题：网友热议）",
    " https://weibo.com/1234567890/AbCdEf 展开全文",
    " 分享自贴吧客户端",
    " //@某某大学资讯: 关注 //@老王:",
]
KINDS = ("boilerplate", "edits", "truncate", "all")


@dataclass(frozen=True)
class Variant:
    original: int  # index of the original post
    kind: str
    text: str


def edit_chars(text: str, rate: float, alphabet: str, rng: random.Random) -> str:
    """Substitute, delete or insert ``rate`` of the characters at random places."""
    chars = list(text)
    for _ in range(max(1, round(len(chars) * rate))):
        where = rng.randrange(len(chars))
        op = rng.random()
        if op < 0.5:
            chars[where] = rng.choice(alphabet)
        elif op < 0.75 and len(chars) > 1:
            del chars[where]
        else:
            chars.insert(where, rng.choice(alphabet))
    return "".join(chars)


def make_variant(text: str, kind: str, alphabet: str, rng: random.Random) -> str:
    """A repost-style variant: boilerplate around it, 3-10% character edits, cut to 80%."""
    body = text
    if kind in ("truncate", "all"):
        body = body[: max(1, int(len(body) * 0.8))]
    if kind in ("edits", "all"):
        body = edit_chars(body, rng.uniform(0.03, 0.10), alphabet, rng)
    prefix = rng.choice(PREFIXES) if rng.random() < 0.7 else ""
    suffix = rng.choice(SUFFIXES) if rng.random() < 0.7 or not prefix else ""
    return prefix + body + suffix


def load_posts(limit: int, seed: int, min_chars: int = 15, max_chars: int = 10**6) -> list[str]:
    """Distinct real posts (weibo2018 first: closest to forum posts), as stripped text."""
    seen: set[str] = set()
    posts: list[str] = []
    for name in ("weibo2018_train.csv", "waimai_10k.csv", "chnsenticorp_train.csv"):
        path = DATA / name
        if not path.exists():
            continue
        with path.open(encoding="utf-8") as fh:
            for row in csv.DictReader(fh):
                text = strip_boilerplate(row["text"])[:300]
                key = "".join(ch for ch in text if ch.isalnum())
                if min_chars <= len(key) < max_chars and key not in seen:
                    seen.add(key)
                    posts.append(text)
    random.Random(seed).shuffle(posts)
    return posts[:limit]


@dataclass
class Result:
    name: str
    recall: dict[str, float]
    false_merge: float
    posts_per_s: float


def evaluate(
    name: str,
    add: Callable[[str, str, str, datetime], str],
    originals: Sequence[str],
    variants: Sequence[Variant],
    seed: int,
) -> Result:
    """Originals first (any fold among them is a false merge), then variants in random order."""
    start_time = datetime(2026, 1, 1, tzinfo=UTC)
    cluster_of: dict[int, str] = {}
    false = 0
    hits = dict.fromkeys(KINDS, 0)
    totals = dict.fromkeys(KINDS, 0)
    order = list(range(len(variants)))
    random.Random(seed).shuffle(order)
    clock = time.process_time()
    for i, text in enumerate(originals):
        cid = add(f"o{i}", text, f"site{i % 7}", start_time + timedelta(seconds=i))
        if cid != f"o{i}":
            false += 1
        cluster_of[i] = cid
    for n, j in enumerate(order):
        v = variants[j]
        when = start_time + timedelta(seconds=len(originals) + n)
        cid = add(f"v{j}", v.text, f"site{j % 5}", when)
        totals[v.kind] += 1
        hits[v.kind] += cid == cluster_of[v.original]
    elapsed = time.process_time() - clock
    recall = {k: hits[k] / totals[k] for k in KINDS if totals[k]}
    recall["overall"] = sum(hits.values()) / max(1, sum(totals.values()))
    return Result(
        name, recall, false / max(1, len(originals)), (len(originals) + len(variants)) / elapsed
    )


def make_variants(originals: Sequence[str], per_post: int, seed: int) -> list[Variant]:
    rng = random.Random(seed)
    alphabet = "".join(sorted({ch for text in originals for ch in text if ch.isalnum()}))
    out = []
    for i, text in enumerate(originals):
        for k in range(per_post):
            kind = KINDS[(i + k) % len(KINDS)]
            out.append(Variant(i, kind, make_variant(text, kind, alphabet, rng)))
    return out


class SimHash64:
    """The classic baseline: 64-bit SimHash over character bigrams, Hamming distance <= 3,
    found through 4 exact 16-bit blocks (pigeonhole), as in Manku et al."""

    def __init__(self) -> None:
        self._tables: list[dict[int, list[tuple[int, str]]]] = [{} for _ in range(4)]
        self._cluster: dict[str, str] = {}
        self._bits = np.arange(64, dtype=np.uint64)

    def fingerprint(self, text: str) -> int:
        codes = _content_codes(strip_boilerplate(text))
        if codes.size < 2:
            return 0
        x = (codes[:-1] << np.uint64(21)) | codes[1:]
        # splitmix64 finaliser: a well-mixed 64-bit hash per bigram.
        x = (x ^ (x >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
        x = (x ^ (x >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
        x = x ^ (x >> np.uint64(31))
        bits = ((x[:, None] >> self._bits) & np.uint64(1)).astype(np.int64) * 2 - 1
        votes = bits.sum(axis=0) > 0
        return int((votes.astype(np.uint64) << self._bits).sum())

    def add(self, post_id: str, text: str, site: str, when: datetime) -> str:
        fp = self.fingerprint(text)
        blocks = [(fp >> (16 * b)) & 0xFFFF for b in range(4)]
        best: tuple[int, str] | None = None
        for table, block in zip(self._tables, blocks, strict=True):
            for other, pid in table.get(block, ()):
                distance = (fp ^ other).bit_count()
                if distance <= 3 and (best is None or distance < best[0]):
                    best = (distance, pid)
        cluster = self._cluster[best[1]] if best else post_id
        self._cluster[post_id] = cluster
        for table, block in zip(self._tables, blocks, strict=True):
            table.setdefault(block, []).append((fp, post_id))
        return cluster


def run(originals: Sequence[str], per_post: int, seed: int) -> list[Result]:
    variants = make_variants(originals, per_post, seed)
    folder = Folder()

    def fold(post_id: str, text: str, site: str, when: datetime) -> str:
        return folder.add(post_id, text, site, when).cluster_id

    ours = evaluate("MinHash-LSH (Folder)", fold, originals, variants, seed)
    base = evaluate("SimHash-64 h<=3", SimHash64().add, originals, variants, seed)
    return [ours, base]


def horizon_check(originals: Sequence[str], variants: Sequence[Variant]) -> str:
    """The same posts spread evenly over a year: what the index holds stays one horizon's worth."""
    folder = Folder()
    texts = [*originals, *(v.text for v in variants)]
    step = timedelta(days=365) / len(texts)
    start = datetime(2026, 1, 1, tzinfo=UTC)
    most = 0
    for i, text in enumerate(texts):
        folder.add(f"y{i}", text, "site", start + step * i)
        most = max(most, folder.indexed)
    horizon = folder.config.horizon_days
    expected = len(texts) * horizon / 365
    size = len(folder.to_bytes()) / 1e6
    return (
        f"a year of {len(texts)} posts, {horizon:g}-day horizon: at most {most} signatures held "
        f"(≈ {expected:.0f} expected), state {size:.1f} MB"
    )


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--originals", type=int, default=3000)
    parser.add_argument("--variants", type=int, default=4, help="variants per original")
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args(argv)
    originals = load_posts(args.originals, args.seed)
    if not originals:
        print(f"folding bench: skipped, no data in {DATA}")
        return 0
    print(f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs; seed {args.seed}")
    short = load_posts(args.originals, args.seed, min_chars=10, max_chars=20)
    for label, posts in (("", originals), (" (short: 10-19 characters)", short)):
        results = run(posts, args.variants, args.seed)
        print(f"\n{len(posts)} real posts{label} from {DATA.name}/, {args.variants} variants each")
        header = f"{'method':<22}" + "".join(f"{'R:' + k:>13}" for k in (*KINDS, "overall"))
        print(header + f"{'false merge':>13}{'posts/s':>10}")
        for r in results:
            cells = "".join(f"{r.recall.get(k, 0.0):>13.3f}" for k in (*KINDS, "overall"))
            print(f"{r.name:<22}{cells}{r.false_merge:>13.4f}{r.posts_per_s:>10.0f}")
        ours, base = results
        recall_ratio = ours.recall["overall"] / max(base.recall["overall"], 1e-9)
        speed_ratio = ours.posts_per_s / base.posts_per_s
        print(f"vs SimHash: recall {recall_ratio:.1f}x, speed {speed_ratio:.2f}x (CPU time)")
    print()
    print(horizon_check(originals, make_variants(originals, args.variants, args.seed)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
