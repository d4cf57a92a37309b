"""Every field of the full analysis of a fixed set of posts, one JSON line per post, so that two
trees can be compared field by field: the speed work must not change a result silently.

    PYTHONPATH=OLD_TREE uv run --frozen python bench/analysis_identity.py --out /tmp/old.jsonl
    uv run --frozen python bench/analysis_identity.py --out /tmp/new.jsonl --compare /tmp/old.jsonl

(the posts come from this tree's bench/corpus.py either way; PYTHONPATH picks the code)

The posts: the bench posts (titles, sites, times over 90 days, replies, every fifth a news
site), repost variants of some of them a few minutes later (the clusters), the category
evaluation posts, a few hundred in Traditional characters and odd inputs; batches of 512 as
the pipeline, the IDF learning and one repost folder throughout.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import logging
import random
import sys
from collections import Counter
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from enum import Enum
from pathlib import Path
from types import ModuleType
from typing import Any

from analysis.analyzer import Analysis, Item
from analysis.folding import Folder
from core.settings import load_settings
from pipelines.analysis import build_analyzer

ROOT = Path(__file__).resolve().parent.parent


def _own(name: str) -> ModuleType:
    """This tree's bench module ``name``, whichever tree's code PYTHONPATH points at (the
    posts must be the same on both sides: an old tree's corpus may not find the data)."""
    spec = importlib.util.spec_from_file_location(
        f"_identity_{name}", ROOT / "bench" / f"{name}.py"
    )
    if spec is None or spec.loader is None:
        raise SystemExit(f"bench/{name}.py not found next to this script")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


ODD = [
    "",
    "   ",
    "这\x00那",
    "ＡＢＣ全角字母和１２３",
    "ﬁ ㎏ ① 蘇大 …",
    "不行...今天再说 1.接电源 3.5分 100%满意 c++",
    "哈哈哈哈哈哈哈哈",
    "转发微博 //@小王: 江州理工大学三食堂的饭菜太贵了 //@老李: 真的 http://t.cn/abc",
    "江州理工大学 苏大强 三食堂 领导批示 媒体曝光 伤亡 群体性",
]


def _plain(value: Any) -> Any:
    """A result as JSON: dataclasses and named tuples by field name, enums by value."""
    if isinstance(value, Enum):
        return value.value
    fields = getattr(value, "__dataclass_fields__", None) or getattr(value, "_fields", None)
    if fields is not None:
        return {name: _plain(getattr(value, name)) for name in fields}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    if isinstance(value, set | frozenset):
        return sorted(_plain(v) for v in value)
    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, float):
        return repr(value)  # every bit
    return value


def items(count: int) -> list[Item]:
    """The posts, in the order they are analysed (see the module docstring)."""
    rnd = random.Random(11)
    out: list[Item] = []
    sample = list(_own("corpus").posts(count))
    make_variant = _own("folding_bench").make_variant
    alphabet = "".join(sorted({ch for p in sample[:500] for ch in p.text if ch.isalnum()}))
    for k, p in enumerate(sample):
        item = Item(
            text=p.text,
            title=p.title,
            id=p.id,
            site=p.site,
            time=p.time,
            replies=p.reply_count or rnd.choice([0, 0, 3, 25, 250, 1500]),
            site_kind="news" if k % 5 == 2 else "",
        )
        out.append(item)
        if k % 4 == 0:  # reposts of it, minutes later, on other sites
            for n in range(k % 3 + 1):
                kind = ("boilerplate", "edits", "truncate", "all")[(k + n) % 4]
                out.append(
                    Item(
                        text=make_variant(p.text, kind, alphabet, rnd),
                        title=p.title if n % 2 else "",
                        id=f"{p.id}-r{n}",
                        site=f"site{n}.example.com",
                        time=p.time + timedelta(minutes=3 * n + 1),
                        replies=n * 30,
                    )
                )
    evaluation = ROOT / "tests" / "analysis" / "data" / "category_eval.jsonl"
    start = datetime(2026, 4, 1, tzinfo=UTC)
    for k, line in enumerate(evaluation.read_text("utf-8").splitlines()):
        if line.strip():
            row = json.loads(line)
            out.append(Item(text=row["text"], title=row.get("title", ""), id=f"eval-{k}",
                            site="bbs", time=start + timedelta(minutes=k)))  # fmt: skip
    try:
        from opencc import OpenCC

        s2t = OpenCC("s2t").convert
        for k, p in enumerate(sample[:300]):
            out.append(Item(text=s2t(p.text), title=s2t(p.title), id=f"trad-{k}",
                            site="tw", time=p.time + timedelta(hours=1)))  # fmt: skip
    except ImportError:  # opencc is a dependency; only a broken install lacks it
        pass
    for k, text in enumerate(ODD):
        out.append(Item(text=text, title=text[:5] if k % 2 else "", id=f"odd-{k}",
                        time=start + timedelta(days=1, minutes=k)))  # fmt: skip
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--posts", type=int, default=4000, help="bench posts (before reposts)")
    parser.add_argument("--config", default="config/example")
    parser.add_argument("--out", required=True, help="write the results here (JSON lines)")
    parser.add_argument("--compare", help="a file written by another tree: count what differs")
    args = parser.parse_args()
    logging.disable(logging.WARNING)
    analyzer = build_analyzer(load_settings(args.config))
    analyzer.folder = Folder()
    batch = items(args.posts)
    results: list[Analysis] = []
    for start in range(0, len(batch), 512):
        results += analyzer.analyze(batch[start : start + 512])
    with open(args.out, "w", encoding="utf-8") as fh:
        for item, result in zip(batch, results, strict=True):
            fh.write(json.dumps({"id": item.id, **_plain(result)}, ensure_ascii=False) + "\n")
    print(f"{len(batch)} posts analysed, written to {args.out}")
    if args.compare:
        return compare(args.compare, args.out)
    return 0


def compare(old_path: str, new_path: str) -> int:
    """How many posts differ, field by field, and the first few differences."""
    with open(old_path, encoding="utf-8") as a, open(new_path, encoding="utf-8") as b:
        old, new = [json.loads(x) for x in a], [json.loads(x) for x in b]
    if [o["id"] for o in old] != [n["id"] for n in new]:
        print("the two files hold different posts")
        return 2
    differ: Counter[str] = Counter()
    shown = 0
    for o, n in zip(old, new, strict=True):
        for name in o.keys() | n.keys():
            if o.get(name) != n.get(name):
                differ[name] += 1
                if shown < 5:
                    shown += 1
                    print(f"  {o['id']} {name}:\n    old {o.get(name)}\n    new {n.get(name)}")
    fields = sorted(old[0]) if old else []
    for name in fields:
        print(f"  {name:12} {differ[name]:6} of {len(old)} posts differ")
    return 1 if differ else 0


if __name__ == "__main__":
    sys.exit(main())
