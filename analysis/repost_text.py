"""What repost folding reads of a post: the text without what reposting adds (转发微博,
//@user: chains, links, #hashtags#...) and the codes of its letters and digits, for one text or
a whole batch at once."""

from __future__ import annotations

import re
from collections.abc import Sequence
from functools import lru_cache
from itertools import product

import numpy as np
import numpy.typing as npt

from analysis.normalize import nfkc

# Repost boilerplate, in the order it is removed. Each pattern removes only what a reposting
# tool or site adds, never the words of the post itself.
_URL = re.compile(r"(?:https?://|www\.)[\w\-./?%&=#~+:;,@!]*|\bt\.cn/[\w]+|\bdwz\.cn/\w+", re.I)
_REPOST_CHAIN = re.compile(r"//\s*@[^:：\s]{1,30}\s*[:：]")  # //@用户: 转发链
_REPLY_TO = re.compile(r"(?:回复|回覆)\s*@[^:：\s]{1,30}\s*[:：]")
_MENTION = re.compile(r"@[\w\-·]{1,30}")
_HASHTAG = re.compile(r"#[^#\n]{1,40}#")
_SOURCE_TAG = re.compile(r"【[^】]{0,40}】|\[[^\]]{0,12}\]")  # 【来源】 and [表情]
_FIXED = re.compile(
    r"转发微博|轉發微博|repost|网页链接|網頁鏈接|查看图片|展开全文|收起全文|全文\s*>?>?|"
    r"分享自\S{0,20}|我在\S{0,10}发现了一篇\S{0,10}",
    re.I,
)
_FIXED_HINTS = (
    "转",
    "轉",
    "repost",
    "REPOST",
    "Repost",
    "网页",
    "網頁",
    "查看",
    "展开",
    "收起",
    "全文",
    "分享自",
    "发现了",
)
# One search for all the hints (C) instead of a generator over them.
_FIXED_HINT = re.compile("|".join(map(re.escape, _FIXED_HINTS)))
_TRAILER = re.compile(
    r"(?:[（(]?\s*(?:来源|來源|原标题|原標題|责任编辑|責任編輯|编辑|作者|转自|轉自|via)\s*[:：].{0,60}$)",
    re.I | re.M,
)

_URL_HINT = re.compile(r"www\.|\.cn/")  # on the lower-cased text
_TRAILER_HINT = re.compile("来源|來源|原标题|原標題|编辑|編輯|作者|转自|轉自")  # or a v for via


# Every literal one of _strip's patterns needs to match at all (in any letter case for the URL
# hints, as _URL_HINT reads the lower-cased text): a text holding none is left as it is. Keep it
# in step with the tests in _strip, which it sums up.
_ANY_HINT = re.compile(
    "|".join(
        map(
            re.escape,
            [
                "://",
                *("".join(w) + "." for w in product("wW", repeat=3)),
                *(f".{c}{n}/" for c in "cC" for n in "nN"),
                *("@", "#", "【", "[", ":"),
                *_FIXED_HINTS,
            ],
        )
    )
)


def strip_boilerplate(text: str, *, normalized: bool = False) -> str:
    """The post without what reposting adds: 转发微博, //@user: chains, 回复@x:, links,
    #hashtags#, 【】 source tags and a trailing 来源/原标题 line. ``normalized``: the text is
    NFKC already (the analyzer's normalised text), so that step is skipped."""
    if not normalized:
        text = nfkc(text)
    return " ".join(_strip(text).split())


def strip_many(texts: Sequence[str]) -> list[str]:
    """``strip_boilerplate`` of each NFKC text but for its white space, which the content
    codes drop anyway; most posts hold no hint of boilerplate and are kept as they are."""
    return list(map(_strip, texts))


def _strip(text: str) -> str:
    if not _ANY_HINT.search(text):  # most posts: one search instead of the tests below
        return text
    # The cheap membership tests skip most patterns on most posts (folding must be fast).
    # After NFKC re.I matches no other letters than the ASCII ones: these literals are what
    # _URL and _TRAILER need to match at all.
    if "://" in text or ("." in text and _URL_HINT.search(text.lower())):
        text = _URL.sub(" ", text)
    if "@" in text:
        text = _REPOST_CHAIN.sub(" ", text)
        text = _REPLY_TO.sub(" ", text)
        text = _MENTION.sub(" ", text)
    if "#" in text:
        text = _HASHTAG.sub(" ", text)
    if "【" in text or "[" in text:
        text = _SOURCE_TAG.sub(" ", text)
    if _FIXED_HINT.search(text):
        text = _FIXED.sub(" ", text)
    if ":" in text and ("v" in text or "V" in text or _TRAILER_HINT.search(text)):
        text = _TRAILER.sub(" ", text)
    return text


_NOT_CONTENT = re.compile(r"[\W_]+")


def content_codes(text: str) -> npt.NDArray[np.uint64]:
    """Code points of the letters and digits only: punctuation and spacing differ between
    reposts of the same words, so they must not count."""
    kept = _NOT_CONTENT.sub("", text.lower())
    return np.frombuffer(kept.encode("utf-32-le"), dtype=np.uint32).astype(np.uint64)


@lru_cache(maxsize=1)
def _bmp_content() -> npt.NDArray[np.bool_]:
    """Which characters of the Basic Multilingual Plane are content: what ``[\\W_]`` keeps
    (str.isalnum, as re's \\w less the underscore); 10 ms, once."""
    return np.fromiter(map(str.isalnum, map(chr, range(65536))), dtype=bool, count=65536)


def content_codes_many(texts: Sequence[str]) -> tuple[npt.NDArray[np.uint64], list[int]]:
    """``content_codes`` of every text, end to end in one array, and each one's length: one
    lower-casing and one encoding for the batch, the content picked in numpy. The texts are
    joined by \\x00, which is neither cased nor case-ignorable (so lower() treats each text as
    it would alone); a \\x00 in a text becomes \\x01, which is the same kind of character."""
    joined = "\x00".join(texts)
    if joined.count("\x00") != max(len(texts) - 1, 0):
        joined = "\x00".join(t.replace("\x00", "\x01") for t in texts)
    raw = np.frombuffer(joined.lower().encode("utf-32-le"), dtype=np.uint32)
    text_of = np.cumsum(raw == 0)
    keep = _bmp_content()[np.minimum(raw, 65535)]
    astral = raw > 65535
    if astral.any():  # emoji and rare characters: judged one distinct character at a time
        distinct, where = np.unique(raw[astral], return_inverse=True)
        content = np.fromiter(map(str.isalnum, map(chr, distinct.tolist())), bool, len(distinct))
        keep[astral] = content[where]
    sizes = np.bincount(text_of[keep], minlength=len(texts))
    return raw[keep].astype(np.uint64), sizes.tolist()[: len(texts)]
