"""Repost folding: boilerplate stripping, clusters across sites, guards, eviction, persistence,
and a quality gate on seeded repost variants of the hand-written evaluation posts."""

from __future__ import annotations

import importlib.util
import json
import random
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import ModuleType

import numpy as np
import pytest

from analysis.folding import Folder, FoldingConfig, strip_boilerplate
from analysis.normalize import nfkc
from analysis.repost_text import strip_many

T0 = datetime(2026, 3, 1, 8, 0, tzinfo=UTC)
ORIGINAL = (
    "某某大学第三食堂今天中午的饭菜里吃出了虫子，学生去找管理员反映，对方态度很差还说爱吃不吃"
)
OTHER = "市人民医院急诊科夜里只有一个医生值班，病人等了三个多小时都没人管，家属都快急疯了"
ROOT = Path(__file__).resolve().parents[2]
EVAL = Path(__file__).parent / "data" / "category_eval.jsonl"


@pytest.mark.parametrize(
    ("raw", "kept"),
    [
        ("转发微博", ""),
        ("太过分了//@张三:转发微博//@李四: 真的吗", "太过分了 真的吗"),
        ("回复@王五: 你说得对", "你说得对"),
        ("#某某大学# 食堂又出事了 http://t.cn/A6abcd1", "食堂又出事了"),
        ("【网友爆料】食堂又出事了", "食堂又出事了"),
        ("食堂又出事了 https://weibo.com/123/AbC?from=x 网页链接", "食堂又出事了"),
        ("食堂又出事了\n来源：新浪微博", "食堂又出事了"),
        ("食堂又出事了（原标题：某大学食堂吃出虫子）", "食堂又出事了"),
        ("ＡＢＣ大学　食堂", "ABC大学 食堂"),
    ],
)
def test_strip_boilerplate(raw: str, kept: str) -> None:
    assert strip_boilerplate(raw) == kept


def test_strip_many_is_strip_boilerplate_but_for_white_space() -> None:
    """The batch's stripping, which skips the texts without a hint of boilerplate, on the
    cases above, their upper-case forms and repost variants of the evaluation posts."""
    bench = _bench()
    posts = [json.loads(line)["text"] for line in EVAL.read_text(encoding="utf-8").splitlines()]
    cases = [
        "转发微博 太过分了//@张三:转发微博 回复@王五: 你说得对 #某某大学# 食堂 http://t.cn/A6abcd1",
        "【网友爆料】食堂 WWW.Example.COM/x 网页链接 [哭] Www.a.CN/b\n来源：新浪微博",
        "食堂又出事了（原标题：某大学食堂吃出虫子） via: 某站 展开全文>> 收起全文 分享自微博",
        "没有任何转发的痕迹，只是一条普通的帖子",
        "a:b",
        "我在这里发现了一篇好文章",
    ]
    variants = bench.make_variants(posts[:200], 2, 5)
    texts = [nfkc(t) for t in cases + [c.upper() for c in cases] + [v.text for v in variants]]
    many = strip_many(texts)
    assert [" ".join(t.split()) for t in many] == [
        strip_boilerplate(t, normalized=True) for t in texts
    ]
    assert sum(a is b for a, b in zip(many, texts, strict=True)) > 10  # kept as they are
    assert sum(a != b for a, b in zip(many, texts, strict=True)) > 10  # stripped


def test_reposts_across_sites_fold_into_the_first_posts_cluster() -> None:
    folder = Folder()
    first = folder.add("p1", ORIGINAL, "weibo.com", T0)
    assert (first.cluster_id, first.is_new, first.size) == ("p1", True, 1)
    reposts = [
        ("p2", f"转发微博//@吃瓜群众: 真恶心 {ORIGINAL}", "weibo.com"),
        ("p3", f"【扩散】{ORIGINAL[:40]} http://t.cn/A6xYz1", "tieba.baidu.com"),
        ("p4", ORIGINAL.replace("管理员", "宿管").replace("很差", "恶劣"), "bbs.example.edu.cn"),
    ]
    for n, (pid, text, site) in enumerate(reposts, start=2):
        got = folder.add(pid, text, site, T0 + timedelta(minutes=n))
        assert (got.cluster_id, got.is_new, got.size) == ("p1", False, n)
    other = folder.add("q1", OTHER, "weibo.com", T0 + timedelta(minutes=9))
    assert other.cluster_id == "q1" and other.is_new
    cluster = folder.cluster("p1")
    assert cluster is not None
    assert cluster.size == 4 and cluster.first_post == "p1" and cluster.first_time == T0
    assert cluster.sites == {"weibo.com", "tieba.baidu.com", "bbs.example.edu.cn"}
    assert folder.cluster_of("p3") == "p1" and len(folder) == 2


def test_cluster_velocity_counts_recent_posts_per_hour() -> None:
    folder = Folder()
    for i in range(12):
        folder.add(f"p{i}", f"//@u{i}: {ORIGINAL}", "weibo.com", T0 + timedelta(minutes=10 * i))
    cluster = folder.cluster("p0")
    assert cluster is not None and cluster.size == 12
    now = T0 + timedelta(minutes=110)
    assert cluster.posts_per_hour(now) == 6  # minutes 60..110 (the window is half-open)
    assert cluster.posts_per_hour(now, window_hours=2) == 6  # 12 posts over two hours
    assert Folder.from_bytes(folder.to_bytes()).cluster("p0").posts_per_hour(now) == 6  # type: ignore[union-attr]  # asserted above
    with pytest.raises(ValueError, match="window_hours"):
        cluster.posts_per_hour(now, 0)


def test_adding_the_same_post_again_changes_nothing() -> None:
    folder = Folder()
    folder.add("p1", ORIGINAL, "a", T0)
    folder.add("p2", "转发微博 " + ORIGINAL, "b", T0)
    again = folder.add("p2", "转发微博 " + ORIGINAL, "b", T0)
    assert (again.cluster_id, again.is_new, again.size) == ("p1", False, 2)
    assert folder.add("p1", ORIGINAL, "a", T0).is_new


def test_short_texts_are_never_folded() -> None:
    folder = Folder()
    for i, text in enumerate(["顶！", "转发微博 顶", "支持", "顶顶顶", "同问", "//@某人: 顶"]):
        got = folder.add(f"s{i}", text, "weibo.com", T0)
        assert got.is_new and got.cluster_id == f"s{i}"
    assert folder.indexed == 0


def test_short_posts_need_a_closer_match() -> None:
    # Bigram Jaccard 0.5 (送餐 太慢 慢了 味道 道一 一般 shared by chance in 12): how close a
    # match must be depends on the length; 10 characters is short by default.
    first, second = "送餐太慢了，味道一般般", "味道一般，送餐也太慢了"
    merged = []
    for config in (
        FoldingConfig(short_threshold=0.4),
        FoldingConfig(short_threshold=0.7),
        FoldingConfig(short_threshold=0.7, short_chars=10),
    ):
        folder = Folder(config)
        folder.add("a", first, "waimai", T0)
        merged.append(folder.add("b", second, "waimai", T0).cluster_id == "a")
    assert merged == [True, False, True]


def test_old_posts_leave_the_index_after_the_horizon() -> None:
    folder = Folder(FoldingConfig(horizon_days=30))
    folder.add("old", ORIGINAL, "a", T0)
    folder.add("old2", "转发微博 " + ORIGINAL, "b", T0 + timedelta(days=1))
    assert folder.indexed == 2
    later = T0 + timedelta(days=40)
    got = folder.add("new", "转发 " + ORIGINAL, "c", later)
    assert got.is_new and got.cluster_id == "new"
    assert folder.cluster("old") is None and folder.cluster_of("old2") is None
    assert folder.indexed == 1 and len(folder) == 1


def test_an_active_cluster_keeps_its_id_while_old_members_expire() -> None:
    folder = Folder(FoldingConfig(horizon_days=10))
    for day in range(0, 30, 3):
        got = folder.add(f"d{day}", f"转发微博 {ORIGINAL}", f"s{day}", T0 + timedelta(days=day))
        assert got.cluster_id == "d0"
    assert folder.indexed <= 4  # only the last 10 days of signatures are held


def test_a_viral_cluster_holds_a_bounded_number_of_signatures() -> None:
    folder = Folder(FoldingConfig(max_signatures_per_cluster=3))
    for i in range(20):
        got = folder.add(f"r{i}", f"//@用户{i}: 转发 {ORIGINAL}", f"site{i}", T0)
        assert got.cluster_id == "r0"
    assert folder.indexed == 3
    cluster = folder.cluster("r0")
    assert cluster is not None and cluster.size == 20 and len(cluster.sites) == 20


def test_state_survives_a_restart() -> None:
    folder = Folder()
    folder.add("p1", ORIGINAL, "a", T0)
    folder.add("p2", "转发微博 " + ORIGINAL, "b", T0 + timedelta(minutes=1))
    folder.add("q1", OTHER, "c", T0 + timedelta(minutes=2))
    folder.add("s1", "顶", "c", T0 + timedelta(minutes=3))
    restored = Folder.from_bytes(folder.to_bytes())
    got = restored.add("p3", ORIGINAL[:45] + " 来源：某论坛", "d", T0 + timedelta(minutes=5))
    assert (got.cluster_id, got.size) == ("p1", 3)
    cluster = restored.cluster("p1")
    assert cluster is not None and cluster.sites == {"a", "b", "d"}
    assert restored.cluster_of("q1") == "q1" and restored.indexed == folder.indexed + 1
    assert restored.to_bytes() != folder.to_bytes()
    assert Folder.from_bytes(Folder().to_bytes()).indexed == 0


@pytest.mark.parametrize("data", [b"", b"not a state", Folder().to_bytes()[:-3] + b"x{"])
def test_damaged_state_is_refused_with_a_clear_error(data: bytes) -> None:
    with pytest.raises(ValueError, match="folding state"):
        Folder.from_bytes(data)


def test_bad_input_is_refused() -> None:
    with pytest.raises(ValueError, match="naive datetime"):
        Folder().add("p", ORIGINAL, "a", datetime(2026, 1, 1))
    with pytest.raises(TypeError, match="must be strings"):
        Folder().add("p", None, "a", T0)  # type: ignore[arg-type]  # what a bad caller sends
    with pytest.raises(ValueError, match="threshold"):
        FoldingConfig(threshold=0)
    with pytest.raises(ValueError, match="bands"):
        FoldingConfig(bands=0)


def _bench() -> ModuleType:
    """The benchmark's variant generator, so the gate and the bench measure the same thing."""
    spec = importlib.util.spec_from_file_location("folding_bench", ROOT / "bench/folding_bench.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules.setdefault("folding_bench", module)  # dataclasses look their module up
    spec.loader.exec_module(module)
    return module


def test_quality_gate_on_seeded_repost_variants() -> None:
    """Pinned floors, measured on the evaluation posts (all about universities, hospitals and
    district offices: unrelated posts that share much vocabulary, the hard case)."""
    bench = _bench()
    posts = [json.loads(line)["text"] for line in EVAL.read_text(encoding="utf-8").splitlines()]
    originals = [p for p in dict.fromkeys(posts) if len(p) >= 15]
    random.Random(3).shuffle(originals)
    variants = bench.make_variants(originals, 4, 3)
    folder = Folder()
    result = bench.evaluate("gate", lambda *a: folder.add(*a).cluster_id, originals, variants, 3)
    assert len(originals) >= 300
    # Measured 0.990 overall, 0.966 on the hardest kind, 0 false merges (350 posts, seed 3).
    assert result.recall["overall"] >= 0.97
    assert result.recall["all"] >= 0.94  # truncated AND edited AND wrapped
    assert result.false_merge <= 0.01


def _index_is_consistent(folder: Folder) -> None:
    """The LSH table holds each indexed post under each of its band keys, and nothing else,
    but for the posts older than the horizon when they came (the next add evicts them)."""
    expected: dict[bytes, list[str]] = {}
    for post_id, signature in folder._signatures.items():
        if post_id not in folder._stale:
            for key in folder._band_keys(signature):
                expected.setdefault(key, []).append(post_id)
    held = {k: [v] if isinstance(v, str) else v for k, v in folder._table.items()}
    assert {k: sorted(v) for k, v in held.items()} == {k: sorted(v) for k, v in expected.items()}
    cutoff = folder._newest - folder.config.horizon_days * 86400.0
    assert all(folder._member_time[p] < cutoff for p in folder._stale)


def test_posts_out_of_time_order_fold_as_a_restored_folder_folds_them() -> None:
    """Posts over 90 days in random order (a crawl of old posts): most are older than the
    30-day horizon when they come and leave at the next add. A folder restored from the
    state after each add (its index rebuilt from the signatures) folds the next post alike."""
    rnd = random.Random(5)
    texts = [ORIGINAL, OTHER, ORIGINAL[:40] + OTHER[:20], OTHER[::-1]]
    folder, reference = Folder(), Folder()
    stale = 0
    for i in range(400):
        base = rnd.choice(texts)
        cut = rnd.randint(0, 8)
        text = rnd.choice(["转发微博 ", "//@某人: ", ""]) + base[cut:] + rnd.choice(["", "！"])
        time = T0 + timedelta(minutes=rnd.randint(0, 90 * 24 * 60))
        site = rnd.choice("abc")
        got = folder.add(f"p{i % 350}", text, site, time)  # a few ids come again
        want = reference.add(f"p{i % 350}", text, site, time)
        assert (got.cluster_id, got.is_new, got.size) == (want.cluster_id, want.is_new, want.size)
        _index_is_consistent(folder)
        stale += len(folder._stale)
        reference = Folder.from_bytes(folder.to_bytes())
        assert not reference._stale
    assert stale > 100  # the case the test is about did occur
    assert len({folder.cluster_of(f"p{i}") for i in range(350)} - {None}) < 300


def test_add_many_folds_as_add_does_one_post_at_a_time() -> None:
    """The batch path (what the analyzer calls) and add agree post by post: the cluster, its
    size and sites, who started it, and the posts per hour severity reads; the same posts
    come again, and the index ends the same."""
    rnd = random.Random(7)
    texts = [ORIGINAL, OTHER, ORIGINAL[:40] + OTHER[:20], "短帖", OTHER[::-1]]
    posts, bodies = [], []
    for i in range(300):
        bodies.append(
            rnd.choice(["转发微博 ", "//@某人: ", ""]) + rnd.choice(texts)[rnd.randint(0, 6) :]
        )
        time = T0 + timedelta(minutes=rnd.randint(0, 50 * 24 * 60))
        posts.append((f"p{i % 260}", rnd.choice("abc"), time))
    one, many = Folder(), Folder()
    want = []
    for (post_id, site, time), text in zip(posts, bodies, strict=True):
        got = one.add(post_id, text, site, time)
        cluster = one.cluster(got.cluster_id)
        assert cluster is not None
        want.append(
            (got.cluster_id, got.size, len(cluster.sites), got.is_new, cluster.posts_per_hour(time))
        )
    folded = []
    for start in range(0, len(posts), 64):
        signed = many.sign_many(bodies[start : start + 64])
        folded += many.add_many(posts[start : start + 64], signed)
    assert folded == want
    assert many._table == one._table and many._assigned == one._assigned
    assert sum(is_new for _, _, _, is_new, _ in folded) < 200  # reposts did fold
    with pytest.raises(ValueError, match="naive datetime"):
        many.add_many([("q", "a", datetime(2026, 1, 1))], [None])


@pytest.mark.parametrize("num_perm", [20, 64, 128])
def test_signatures_by_blocks_of_hash_functions_equal_one_text_at_a_time(num_perm: int) -> None:
    """sign_segments takes the hash functions a few at a time: any number of them (a last
    block smaller than the others), over runs wider than a group, gives sign's rows."""
    signer = Folder(FoldingConfig(num_perm=num_perm, bands=5))._signer
    rng = np.random.default_rng(num_perm)
    lengths = rng.integers(1, 30_000, 12)
    shingles = rng.integers(0, 2**42, int(lengths.sum()), dtype=np.uint64)
    starts = np.cumsum(lengths) - lengths
    expected = [signer.sign(shingles[a : a + n]) for a, n in zip(starts, lengths, strict=True)]
    assert np.array_equal(signer.sign_segments(shingles, starts), np.stack(expected))
