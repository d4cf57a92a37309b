"""Realistic Chinese posts for the store benchmarks: real review and microblog texts (the shared
sentiment corpora, when present) with the institution's words spliced in, spread over sources,
sites, days and analysis labels; deterministic for a given seed."""

from __future__ import annotations

import csv
import random
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

from core.post import Category, Post, Sentiment, Severity

SHARED = Path(__file__).resolve().parents[2] / "shared" / "data" / "sentiment"
if not SHARED.exists():  # a tree extracted elsewhere (an old commit to compare with)
    SHARED = Path("/work/shared/data/sentiment")
START = datetime(2026, 1, 1, tzinfo=UTC)
SOURCES = [
    ("bbs", "bbs.jzlg.edu.cn"),
    ("tieba", "tieba.baidu.com"),
    ("news", "news.example.com"),
    ("weibo", "weibo.com"),
    ("comments", "comment.news.example.com"),
]
SUBJECTS = ["江州理工大学", "江理工", "三食堂", "图书馆", "学工处", "宿舍楼", "教务处", "附属医院",
            "研究生院", "后勤集团", "体育馆", "校医院"]  # fmt: skip
MATTERS = ["饭菜太贵", "排队太久", "卫生很差", "态度恶劣", "考试泄题", "补助迟迟不发", "停水停电",
           "网络太慢", "座位不够", "收费不合理", "服务很好", "值得表扬"]  # fmt: skip
FILLER = [
    "今天去了一趟，{s}{m}，大家怎么看？",
    "有没有人知道{s}的事情，听说{m}，求证。",
    "{s}{m}已经不是第一次了，希望学校重视。",
    "转发：{s}{m}，网友评论炸了锅。",
    "建议{s}改进一下，{m}的问题要解决。",
]


def _real_texts(limit: int) -> list[str]:
    texts: list[str] = []
    for path in sorted(SHARED.glob("*.csv")):
        with path.open(encoding="utf-8") as fh:
            rows = csv.reader(fh)
            next(rows, None)
            texts.extend(row[1] for row in rows if len(row) > 1 and row[1].strip())
        if len(texts) >= limit:
            break
    return texts


def posts(n: int, seed: int = 7) -> Iterator[Post]:
    """``n`` posts; a third mention the institution's subjects and matters."""
    rnd = random.Random(seed)
    real = _real_texts(n)
    for i in range(n):
        s, m = rnd.choice(SUBJECTS), rnd.choice(MATTERS)
        about = rnd.choice(FILLER).format(s=s, m=m)
        if real:
            body = real[i % len(real)]
            text = f"{body}{about}" if i % 3 == 0 else body
        else:
            text = about * rnd.randint(1, 6)
        source, site = SOURCES[i % len(SOURCES)]
        published = START + timedelta(minutes=rnd.randint(0, 90 * 24 * 60))
        yield Post(
            id=f"bench-{seed}-{i:07d}",
            source=source,
            site=site,
            url=f"https://{site}/t/{i}",
            title=f"{s}{m}" if i % 3 == 0 else text[:20],
            text=text,
            published=published,
            fetched=published + timedelta(minutes=rnd.randint(1, 600)),
            sentiment=rnd.choice(list(Sentiment)),
            category=rnd.choice(list(Category)),
            severity=rnd.choice([None, None, None, *Severity]),
            units=rnd.sample(["logistics", "academic", "students", "library", "hospital"], 1),
        )
