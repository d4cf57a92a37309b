"""Keywords: TF-IDF per post with an IDF that learns from the posts seen (seeded from jieba's
idf.txt), and hot words per time window (new or rising terms, for `new_term` alerts)."""

from __future__ import annotations

import math
import os
from collections import Counter, deque
from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass
from functools import lru_cache
from itertools import compress, repeat
from operator import ge, mul, neg, not_, truediv
from typing import Any

import jieba
import numpy as np
import numpy.typing as npt

from analysis.batch_words import WORDS, BatchWords, WordColumn, tally

# Function words and chatter that carry no topic. Short on purpose: single characters are
# already dropped, and the learned IDF pushes down whatever else is everywhere.
STOP_WORDS = frozenset(
    """
    我们 你们 他们 她们 它们 自己 这个 那个 这些 那些 这样 那样 这里 那里 这么 那么 什么 怎么
    为什么 怎么样 如何 哪里 哪个 因为 所以 但是 可是 而且 并且 或者 还是 如果 虽然 然后 于是
    已经 正在 还有 就是 只是 不是 没有 没什么 可以 可能 应该 需要 觉得 知道 一个 一些 一下
    一样 一直 一起 大家 现在 今天 昨天 明天 时候 之后 以后 以前 之前 真的 非常 特别 比较 还是
    有点 其实 当然 确实 不过 而是 以及 对于 关于 通过 进行 表示 认为 出现 问题 情况 方面
    转发 微博 回复 原帖 楼主 网页 链接 全文 展开 收起 查看 图片 视频 评论 点赞 分享 http https
    www com cn the of and to in is for on with that this are was be it at by
    """.split()  # noqa: SIM905  # a word list reads better as words
)
MIN_WORD_LENGTH = 2


@lru_cache(maxsize=1)
def jieba_idf() -> tuple[dict[str, float], float]:
    """jieba's shipped IDF table and its median (jieba's value for an unknown word)."""
    path = os.path.join(os.path.dirname(jieba.__file__), "analyse", "idf.txt")
    with open(path, encoding="utf-8") as fh:
        cells = fh.read().split()
    # "word idf" per line, no word holding a space: one split and a zip (C) instead of a
    # Python step per line halves this part of start-up (0.6 -> 0.3 s for 270,000 words).
    if len(cells) % 2:
        raise ValueError(f"{path}: expected 'word idf' pairs")
    table = dict(zip(cells[0::2], map(float, cells[1::2]), strict=True))
    values = sorted(table.values())
    return table, values[len(values) // 2]


@lru_cache(maxsize=65536)
def is_keyword_candidate(word: str) -> bool:
    return (
        len(word) >= MIN_WORD_LENGTH
        and word not in STOP_WORDS
        and not word.replace(".", "").isdigit()
        and any(ch.isalpha() for ch in word)
    )


class IdfModel:
    """IDF from document frequencies of the posts seen, blended with jieba's IDF as a prior.

    The prior counts as ``prior_docs`` documents in which a word with jieba IDF ``v`` occurs
    ``prior_docs·e^-v`` times; the posts seen add to both, so a word that is everywhere in
    this institution's posts (its own name, say) sinks as they accumulate.
    """

    VERSION = 1

    def __init__(self, *, prior_docs: int = 1000, use_jieba_prior: bool = True) -> None:
        if prior_docs < 0:
            raise ValueError("prior_docs must be 0 or more")
        self.prior_docs = prior_docs
        self.use_jieba_prior = use_jieba_prior
        self.docs = 0
        self.df: Counter[str] = Counter()

    def update(self, tokens: Iterable[str]) -> None:
        """Count one document (the tokens of one post)."""
        self.add_document(set(filter(is_keyword_candidate, tokens)))

    def add_document(self, candidates: Collection[str]) -> None:
        """``update`` with the post's distinct keyword candidates picked already (the keys of
        ``keyword_counts``)."""
        self.docs += 1
        self.df.update(candidates)

    def idf(self, word: str) -> float:
        prior_docs, (prior_df,) = self.priors([word])
        return math.log((prior_docs + self.docs + 1) / (prior_df + self.df[word] + 1)) + 1

    def idfs(self, words: Iterable[str]) -> list[float]:
        """``idf`` of each word: the same numbers, with the per-call set-up done once."""
        words = list(words)
        prior_docs, priors = self.priors(words)
        docs, log = prior_docs + self.docs + 1, math.log
        seen = map(self.df.get, words, repeat(0))
        return [log(docs / (p + d + 1)) + 1 for p, d in zip(priors, seen, strict=False)]

    def priors(self, words: list[str]) -> tuple[int, list[float]]:
        """The prior's document count and each word's prior document frequency."""
        if not (self.use_jieba_prior and self.prior_docs):  # no prior: no words to index
            return 0, [0.0] * len(words)
        prior_docs, priors = self.priors_at(WORDS.rows(words))
        return prior_docs, priors.tolist()

    def priors_at(self, rows: npt.NDArray[np.int64]) -> tuple[int, npt.NDArray[np.float64]]:
        """``priors`` of words by their numbers in ``WORDS`` (``_EXP`` holds e^-idf of each word
        met: every model shares it, so a restored model starts warm)."""
        if not (self.use_jieba_prior and self.prior_docs):
            return 0, np.zeros(len(rows), np.float64)
        return self.prior_docs, self.prior_docs * _EXP.at(rows)

    def prune(self, max_terms: int) -> None:
        """Keep memory bounded: drop the rarest words beyond ``max_terms``."""
        if len(self.df) > max_terms:
            self.df = Counter(dict(self.df.most_common(max_terms)))

    def to_dict(self) -> dict[str, Any]:
        return {
            "version": self.VERSION,
            "prior_docs": self.prior_docs,
            "use_jieba_prior": self.use_jieba_prior,
            "docs": self.docs,
            "df": dict(self.df),
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> IdfModel:
        """Rebuild a model saved by ``to_dict``; ValueError naming the field that is wrong."""
        if not isinstance(data, Mapping) or data.get("version") != cls.VERSION:
            raise ValueError(f"not an IDF model of version {cls.VERSION}")
        prior, docs, df = data.get("prior_docs"), data.get("docs"), data.get("df")
        if not isinstance(prior, int) or prior < 0:
            raise ValueError("IDF model: prior_docs must be a whole number ≥ 0")
        if not isinstance(docs, int) or docs < 0:
            raise ValueError("IDF model: docs must be a whole number ≥ 0")
        if not isinstance(df, Mapping) or not all(
            isinstance(k, str) and isinstance(v, int) and 0 <= v <= docs for k, v in df.items()
        ):
            raise ValueError("IDF model: df must map words to counts between 0 and docs")
        model = cls(prior_docs=prior, use_jieba_prior=bool(data.get("use_jieba_prior", True)))
        model.docs = docs
        model.df = Counter(df)
        return model


@dataclass(frozen=True, slots=True)
class Keyword:
    word: str
    weight: float  # tf · idf


# The slots' own setters (see _keywords).
_SET_WORD = Keyword.__dict__["word"].__set__  # a slot's member descriptor
_SET_WEIGHT = Keyword.__dict__["weight"].__set__


def _judged(words: list[str]) -> list[bool]:
    return list(map(is_keyword_candidate, words))


def _exp_idf(words: list[str]) -> list[float]:
    table, median = jieba_idf()
    return list(map(math.exp, map(neg, map(table.get, words, repeat(median)))))


# Every word met (bounded, in WORDS): whether it is a keyword candidate, and e^-idf by jieba's
# table (median for an unknown word), so that a batch's distinct words (or a post's) are
# judged and given their priors by one dict lookup each (shared with the sentiment model's
# word features) and numpy.
_CANDIDATE = WordColumn(_judged, np.bool_)
_EXP = WordColumn(_exp_idf, np.float64)  # e^-idf, as IdfModel.priors computes it


def keyword_counts(tokens: Iterable[str]) -> Counter[str]:
    """How often each keyword candidate occurs in a post's tokens (in order of appearance)."""
    counts = Counter(tokens)
    words = list(counts)
    # Each distinct word is judged once, in the table the batch path reads too.
    candidate = _CANDIDATE.at(WORDS.rows(words)).tolist()
    for word in compress(words, map(not_, candidate)):
        del counts[word]
    return counts


def keywords_many(
    posts: Sequence[Sequence[str]] | BatchWords,
    idf: IdfModel,
    top_k: int = 10,
    *,
    learn: bool = True,
) -> list[list[Keyword]]:
    """``keywords`` of each post, in order, after ``idf.add_document`` of its candidates when
    ``learn`` (post by post, as the analyzer did: a post's IDF counts it and the posts before
    it). The same numbers as one post at a time, with the counting and the TF-IDF of the
    whole batch in numpy, and only the few words that can reach a post's top k in Python.
    ``posts`` may come numbered already (``BatchWords``, shared with the sentiment model)."""
    if top_k <= 0 or not len(posts):
        out = []
        for words in posts.posts if isinstance(posts, BatchWords) else posts:
            counted = keyword_counts(words)
            if learn:
                idf.add_document(counted.keys())
            out.append(keywords_of(counted, idf, top_k))
        return out
    numbered = posts if isinstance(posts, BatchWords) else BatchWords(posts)
    n = len(numbered)
    # The batch's distinct words are judged once; the candidates, in order of first
    # appearance (as the IDF meets them), get their own numbers.
    judged = numbered.indexed()
    candidate = _CANDIDATE.at(judged)
    chosen = np.flatnonzero(candidate)
    # The candidates as an object array too: the words of the top k are read from it.
    strings = np.asarray(numbered.words, dtype=object)[chosen]
    vocab: list[str] = strings.tolist()
    local = np.full(len(numbered.words), -1, dtype=np.int64)
    local[candidate] = np.arange(len(vocab))
    ids = local[numbered.ids]
    post = numbered.rows()
    keep = ids >= 0
    size = max(len(vocab), 1)
    # (post, word) as one number: in 32 bits when the batch fits (a quicker sort).
    kind = np.int32 if n * size < 1 << 31 else np.int64
    pairs, counts = tally((post[keep] * size + ids[keep]).astype(kind))
    pairs = pairs.astype(np.int64)
    row, word = pairs // size, pairs % size  # one (post, word) pair each, by post then word
    docs_before = idf.docs
    prior_docs, priors = idf.priors_at(judged[chosen])
    seen = np.fromiter(map(idf.df.get, vocab, repeat(0)), dtype=np.int64, count=len(vocab))
    if learn:
        # The posts of the batch before and with this one that hold the word: its df grows
        # post by post, as add_document did. (By word, then post: one distinct key per pair,
        # in 32 bits when the batch fits, as the pairs': quicker than a stable sort by word.)
        by_word = (word * n + row).astype(kind).argsort()
        held = np.bincount(word, minlength=len(vocab))
        firsts = np.cumsum(held) - held
        grown = np.empty_like(row)
        grown[by_word] = np.arange(len(by_word)) - np.repeat(firsts, held) + 1
        idf.docs += n
        # New words enter the counts in the order the posts brought them (dict.update in C:
        # Counter.update loops in Python).
        dict.update(idf.df, zip(vocab, (seen + held).tolist(), strict=True))
    else:
        grown = np.zeros_like(row)
    docs = prior_docs + docs_before + 1 + ((row + 1) if learn else 0)
    # idf = log(docs / (prior + df + 1)) + 1 as IdfModel.idfs; numpy's log picks the words that
    # can reach each post's top k, math.log (exact, as keywords_of) gives their weights.
    ratio = docs / ((priors[word] + (seen[word] + grown)) + 1)
    total = np.bincount(row, weights=counts, minlength=n)
    tf = counts / total[row]
    rough = tf * (np.log(ratio) + 1)
    # The k-th largest value of each post less a margin past the rounding step and numpy's
    # error: nothing below can rise into the top k. Posts of k words or fewer keep them all.
    order = _by_post(row, rough)
    starts = np.searchsorted(row[order], np.arange(n + 1))
    kth = np.full(n, -np.inf)
    full = np.flatnonzero(np.diff(starts) > top_k)
    kth[full] = rough[order[starts[full] + top_k - 1]] - 2e-6
    chosen = np.flatnonzero(rough >= kth[row])  # by post, as the pairs
    exact = np.fromiter(map(math.log, ratio[chosen].tolist()), np.float64, len(chosen)) + 1
    weights = _round6(tf[chosen] * exact)
    # Each post's words by weight (largest first), then by word: one sort for the batch by
    # post and weight, then the runs of words tied in weight within a post, alone, by word
    # (their ranks among the tied words, sorted as strings).
    chosen_words, chosen_rows = word[chosen], row[chosen]
    ranked = _by_post(chosen_rows, weights)
    ordered_rows, ordered_weights = chosen_rows[ranked], weights[ranked]
    same = (ordered_rows[1:] == ordered_rows[:-1]) & (ordered_weights[1:] == ordered_weights[:-1])
    tied = np.zeros(len(ranked), np.bool_)
    tied[1:] = same
    tied[:-1] |= same
    at = np.flatnonzero(tied)
    if at.size:
        opens = np.ones(len(ranked), np.bool_)
        opens[1:] = ~same
        run = np.cumsum(opens)[at]  # each tied word's run, in order
        members = ranked[at]
        distinct, where = np.unique(chosen_words[members], return_inverse=True)
        tied_words = strings[distinct].tolist()
        rank = np.empty(len(tied_words), np.int64)
        rank[sorted(range(len(tied_words)), key=tied_words.__getitem__)] = np.arange(len(rank))
        # A post holds a word once: the words of a run have distinct ranks.
        ranked[at] = members[(run * len(rank) + rank[where]).argsort()]
    first = np.searchsorted(ordered_rows, np.arange(n + 1))
    place = np.arange(len(ranked)) - first[ordered_rows]
    top = ranked[place < top_k]
    bounds = np.searchsorted(chosen_rows[top], np.arange(n + 1)).tolist()
    made = _keywords(
        strings[chosen_words[top]].tolist(),
        weights[top].tolist(),
    )
    return [made[bounds[k] : bounds[k + 1]] for k in range(n)]


def _by_post(rows: npt.NDArray[np.int64], values: npt.NDArray[np.float64]) -> npt.NDArray[np.intp]:
    """The order by row, then value, largest first (ties in no set order): one argsort of
    row·scale − value, several times faster than lexsort. The rows lie further apart than the
    values spread, and the key's step stays far below 10⁻⁶ (that of values rounded to 6
    places: those keep their order and their ties), unless the keys are too large."""
    scale = 2.0 * float(np.abs(values).max(initial=0.0)) + 1.0
    if float(rows.max(initial=0)) * scale >= 2.0**20:  # the key's step could reach 10⁻¹⁰
        return np.lexsort((-values, rows))
    return (rows * scale - values).argsort()


def _round6(values: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
    """``round(v, 6)`` of each value, in numpy: the nearest integer to v·10⁶ over 10⁶ is what
    round gives (one correctly rounded division), except where v·10⁶ lies so near a half that
    the product's own rounding may have moved it across: those few go through round."""
    scaled = values * 1e6
    out = np.rint(scaled) / 1e6
    near = np.flatnonzero(np.abs(scaled - np.floor(scaled) - 0.5) < 1e-6)
    if len(near):
        out[near] = list(map(round, values[near].tolist(), repeat(6)))
    return out


def _keywords(words: list[str], weights: list[float]) -> list[Keyword]:
    """``Keyword(w, x)`` for each pair, three C-level passes instead of an ``__init__`` call
    each (a frozen dataclass sets its fields through object.__setattr__: 1.2 µs a keyword)."""
    made = list(map(object.__new__, repeat(Keyword, len(words))))
    deque(map(_SET_WORD, made, words), 0)
    deque(map(_SET_WEIGHT, made, weights), 0)
    return made


def keywords(tokens: Iterable[str], idf: IdfModel, top_k: int = 10) -> list[Keyword]:
    """The post's top words by TF-IDF (ties by word, so the order is stable)."""
    return keywords_of(keyword_counts(tokens), idf, top_k)


def keywords_of(counts: Mapping[str, int], idf: IdfModel, top_k: int = 10) -> list[Keyword]:
    """``keywords`` from the post's ``keyword_counts`` (the analyzer also feeds them to the
    IDF, so they are counted once)."""
    total = sum(counts.values())
    if not total:
        return []
    words = list(counts)
    # tf·idf of every word computed in C (map), c / total * v as ever; rounded to 6 places
    # and sorted only where the top_k can be: at or above the k-th largest value, rounded,
    # less the largest rounding step (rounding keeps the order, so nothing below can rise).
    raw = list(map(mul, map(truediv, counts.values(), repeat(total)), idf.idfs(words)))
    if len(raw) > top_k > 0:
        floor = round(sorted(raw, reverse=True)[top_k - 1], 6) - 1e-6
        kept = list(compress(range(len(raw)), map(ge, raw, repeat(floor))))
        raw, words = [raw[i] for i in kept], [words[i] for i in kept]
    scored = sorted(zip(map(neg, map(round, raw, repeat(6))), words, strict=True))
    # Only the kept words become Keyword objects: most are dropped.
    return [Keyword(w, -negative) for negative, w in scored[:top_k]]


def document_counts(posts: Iterable[Iterable[str]]) -> Counter[str]:
    """How many posts hold each word: the counts ``hot_terms`` compares."""
    counts: Counter[str] = Counter()
    for tokens in posts:
        counts.update({t for t in tokens if is_keyword_candidate(t)})
    return counts


@dataclass(frozen=True)
class HotTerm:
    word: str
    count: int  # posts holding it in the current window
    baseline: int  # posts holding it in the baseline
    ratio: float  # its share of posts now over its (smoothed) share in the baseline
    new: bool  # never seen in the baseline


def hot_terms(
    current: Mapping[str, int],
    baseline: Mapping[str, int],
    *,
    current_docs: int,
    baseline_docs: int,
    min_count: int = 5,
    min_ratio: float = 3.0,
    top_k: int = 20,
) -> list[HotTerm]:
    """Words that are new or rising in the current window against the baseline.

    A word qualifies with at least ``min_count`` posts now and either no post in the
    baseline or a share of posts ``min_ratio`` times its baseline share (add-one smoothed, so
    a word seen once before does not look infinitely hot). Ranked by ratio, then count.
    """
    if current_docs < 1 or baseline_docs < 0:
        raise ValueError("current_docs must be at least 1 and baseline_docs at least 0")
    if min_count < 1 or min_ratio <= 1:
        raise ValueError("min_count must be at least 1 and min_ratio above 1")
    out = []
    for word, count in current.items():
        if count < min_count or not is_keyword_candidate(word):
            continue
        before = baseline.get(word, 0)
        ratio = (count / current_docs) / ((before + 1) / (baseline_docs + 1))
        if before == 0 or ratio >= min_ratio:
            out.append(HotTerm(word, count, before, round(ratio, 4), before == 0))
    out.sort(key=lambda h: (-h.ratio, -h.count, h.word))
    return out[:top_k]
