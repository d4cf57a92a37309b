"""Negative / neutral / positive sentiment of short Chinese posts, from a shipped linear model.

The model (trained by scripts/train_sentiment.py, described in docs/sentiment-data-card.md) is
read with numpy only, so the service does not need scikit-learn at run time.
"""

from __future__ import annotations

import io
import json
import math
import re
import zipfile
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from importlib import resources
from itertools import chain
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import rjieba

from analysis.batch_words import BatchWords, WordColumn, tally
from analysis.sentiment_tables import (
    SIZE,
    Codes,
    HashTable,
    Ints,
    Strings,
    decode,
    distinct,
    encode,
    normalize,
    normalize_batch,
)
from core.post import Sentiment

__all__ = ["SentimentModel", "SentimentModelError", "SentimentResult", "features", "normalize"]

# Bumped whenever `features` changes: a model trained on other features must not load silently.
FEATURE_VERSION = 1
FORMAT = "yuqing-sentiment"
DEFAULT_MODEL = "sentiment.npz"

# Weibo's bracketed emoticons ([怒], [允悲], [二哈]) carry much of a post's mood; jieba splits
# them into "[", word, "]", so they are also kept whole as features of their own.
_EMOTICON = re.compile(r"\[[^\[\]\s]{1,8}\]")


_LABELS = (Sentiment.NEGATIVE, Sentiment.NEUTRAL, Sentiment.POSITIVE)

# One word list per text, or the batch's words numbered once (shared with the keywords).
Tokens = Sequence[Sequence[str]] | BatchWords
# Row << shift | feature id: int32 or int64.
Keys = npt.NDArray[np.signedinteger[Any]]


class SentimentModelError(Exception):
    """The model file is missing, unreadable or was made for other features."""


@dataclass(frozen=True, slots=True)
class SentimentResult:
    """`score` is P(positive) in [0, 1]; 0.5 when the text has no known sentiment feature."""

    label: Sentiment
    score: float


def _cut(text: str) -> list[str]:
    """rjieba's cut; a lone surrogate (broken input), which rjieba refuses, is cut as "?"."""
    try:
        return rjieba.cut(text)
    except UnicodeEncodeError:
        return rjieba.cut(text.encode("utf-8", "replace").decode("utf-8"))


def features(text: str) -> list[str]:
    """The model's features of one text: characters 1-3-grams, jieba words, emoticons.

    This is the definition training uses; `SentimentModel.scores` computes the same features
    with numpy (tested equal). Each feature carries a one-letter kind tag so that the
    character 好 and the word 好 stay distinct features.
    """
    s = normalize(text)
    out = ["c" + ch for ch in s]
    out += ["c" + s[i : i + 2] for i in range(len(s) - 1)]
    out += ["c" + s[i : i + 3] for i in range(len(s) - 2)]
    out += ["w" + w for w in _cut(s) if w.strip()]
    out += ["e" + e for e in _EMOTICON.findall(s)]
    return out


def _known(row_keys: Keys, ids: Ints) -> Keys:
    """The occurrences with a feature (id >= 0) as row << shift | id (`row_keys`: each
    occurrence's row << shift, see `SentimentModel._lookup`)."""
    hit = ids >= 0
    return row_keys[hit] | ids[hit].astype(row_keys.dtype)


def _read_array(archive: zipfile.ZipFile, name: str) -> npt.NDArray[Any]:
    with archive.open(name + ".npy") as handle:
        array: npt.NDArray[Any] = np.lib.format.read_array(
            io.BytesIO(handle.read()), allow_pickle=False
        )
    return array


class SentimentModel:
    """A TF-IDF (sublinear tf, L2 norm) logistic regression folded into one weight per feature."""

    def __init__(
        self,
        vocabulary: dict[str, int],
        idf: npt.NDArray[np.float64],
        weight: npt.NDArray[np.float64],
        intercept: float,
        neutral_band: tuple[float, float],
        meta: dict[str, Any],
        neutral_evidence: float = 0.0,
    ) -> None:
        low, high = neutral_band
        if not 0.0 <= low <= 0.5 <= high <= 1.0:
            raise ValueError(
                f"neutral band {neutral_band} must satisfy 0 <= low <= 0.5 <= high <= 1"
            )
        if not 0.0 <= neutral_evidence < math.inf:
            raise ValueError(f"neutral evidence {neutral_evidence} must be 0 or more")
        if not len(vocabulary) == len(idf) == len(weight):
            raise SentimentModelError("vocabulary, idf and weight differ in length")
        self._vocabulary = vocabulary
        # The fast path of `scores`, over the whole batch in numpy: characters get a small
        # index (0: in no feature); a character's own feature is read from an array, 2- and
        # 3-grams are looked up as integer keys in a hash table, words and emoticons as
        # substrings (sentiment_tables.Strings). Built with numpy too: loading stays quick.
        names = list(vocabulary)
        ids = np.fromiter(vocabulary.values(), np.int64, len(names))
        size = np.fromiter(map(len, names), np.int64, len(names))
        flat = encode("".join(names))
        start = np.cumsum(size) - size  # the kind letter; the feature's text follows
        kind = flat[start]
        grams = [(kind == ord("c")) & (size == n + 1) for n in (1, 2, 3)]
        parts = [flat[start[grams[n - 1]][:, None] + np.arange(1, n + 1)] for n in (1, 2, 3)]
        chars = distinct(np.concatenate([part.ravel() for part in parts]))
        self._radix = len(chars) + 1
        self._char_index = np.zeros(SIZE, np.int64)
        self._char_index[chars] = np.arange(1, self._radix)
        index = [self._char_index[part] for part in parts]
        self._char_ids = np.full(self._radix, -1, np.int64)
        self._char_ids[index[0][:, 0]] = ids[grams[0]]
        pair = index[1][:, 0] * self._radix + index[1][:, 1]
        left = index[2][:, 0] * self._radix + index[2][:, 1]
        right = index[2][:, 1] * self._radix + index[2][:, 2]
        triple = left * self._radix + index[2][:, 2] + self._radix**2
        gram_ids = np.concatenate([ids[grams[1]], ids[grams[2]]])
        # The commonest n-grams (lowest idf) first in their hash buckets: most are found at once.
        common = np.argsort(idf[gram_ids], kind="stable")
        self._grams = HashTable(np.concatenate([pair, triple])[common], gram_ids[common])
        # A 3-gram is kept only if it is in enough texts, so are the 2-grams in it (true of
        # every model scripts/train_sentiment.py writes, checked here): then a 3-gram need not
        # be looked up unless both its 2-grams were found.
        self._prune = bool(np.isin(left, pair).all() and np.isin(right, pair).all())
        words = np.flatnonzero(kind == ord("w")).tolist()
        self._word_table = Strings([names[i][1:] for i in words], ids[words])
        # Each word met (batch_words.WORDS, which keywords reads too): its feature id, looked
        # up once (a batch's words are mostly met before).
        self._word_ids = WordColumn(self._word_features, np.int64)
        marks = np.flatnonzero(kind == ord("e")).tolist()
        self._emoticon_table = Strings([names[i][1:] for i in marks], ids[marks])
        self._idf = idf
        self._weight = weight
        self._idf_weight = np.stack([idf, weight], axis=1)  # both in one read per feature
        self._id_bits = max(1, (len(idf) - 1).bit_length())
        self._intercept = intercept
        self.neutral_band = (low, high)
        # Neutral is a text with little sentiment evidence (news, notices): `evidence` below
        # this; the band, if any, adds the texts the model is unsure about.
        self.neutral_evidence = neutral_evidence
        self.meta = meta

    @classmethod
    def load(
        cls,
        path: str | Path | None = None,
        neutral_band: tuple[float, float] | None = None,
        neutral_evidence: float | None = None,
    ) -> SentimentModel:
        """Read a model file (default: the one shipped in analysis/models/).

        `neutral_band` overrides the (low, high) P(positive) band stored with the model, and
        `neutral_evidence` the evidence below which a text is neutral (0: never for that).
        `neutral_band=(0.5, 0.5), neutral_evidence=0` gives a plain two-way decision.
        """
        try:
            if path is None:
                ref = resources.files("analysis.models").joinpath(DEFAULT_MODEL)
                data = ref.read_bytes()
                where = f"analysis/models/{DEFAULT_MODEL}"
            else:
                data = Path(path).read_bytes()
                where = str(path)
        except OSError as exc:
            raise SentimentModelError(f"cannot read sentiment model {path}: {exc}") from exc
        try:
            with zipfile.ZipFile(io.BytesIO(data)) as archive:
                meta = json.loads(bytes(_read_array(archive, "meta")).decode("utf-8"))
                vocab = bytes(_read_array(archive, "vocab")).decode("utf-8").split("\n")
                idf = _read_array(archive, "idf").astype(np.float64)
                weight = _read_array(archive, "weight").astype(np.float64)
                intercept = float(_read_array(archive, "intercept")[0])
        except (zipfile.BadZipFile, KeyError, ValueError, UnicodeDecodeError, IndexError) as exc:
            raise SentimentModelError(f"{where} is not a sentiment model file: {exc}") from exc
        if meta.get("format") != FORMAT or meta.get("feature_version") != FEATURE_VERSION:
            raise SentimentModelError(
                f"{where} was made for format {meta.get('format')!r} feature version "
                f"{meta.get('feature_version')!r}, this code reads {FORMAT!r} version "
                f"{FEATURE_VERSION}: retrain with scripts/train_sentiment.py"
            )
        band = neutral_band or (float(meta["neutral_low"]), float(meta["neutral_high"]))
        if neutral_evidence is None:  # files before the evidence rule have none: 0
            neutral_evidence = float(meta.get("neutral_evidence", 0.0))
        vocabulary = {feature: i for i, feature in enumerate(vocab)}
        return cls(vocabulary, idf, weight, intercept, band, meta, neutral_evidence)

    def _words(
        self, n: int, normal: Codes, bounds: Ints, tokens: Tokens | None
    ) -> tuple[Ints, Ints]:
        """(row, feature id or -1) of every word: from `tokens` if given, else rjieba's cut of
        the normalised texts (`normal`, text i ending at bounds[i])."""
        if isinstance(tokens, BatchWords):  # numbered: each distinct word looked up once
            return tokens.rows(), self._word_ids.at(tokens.indexed())[tokens.ids]
        if tokens is None:
            text = decode(normal)
            cuts = zip([0, *bounds.tolist()], bounds.tolist(), strict=False)  # n pairs
            tokens = [_cut(text[a:b]) for a, b in cuts]
        for row, cut in enumerate(tokens):
            if isinstance(cut, str):  # a string would be read as one word per character
                raise TypeError(f"tokens {row} is str, expected a list of words")
        counts = np.fromiter(map(len, tokens), np.int64, n)
        total = int(counts.sum())
        rows = np.repeat(np.arange(n, dtype=np.int64), counts)
        if not total:
            return rows, rows
        try:
            joined = "\0".join(chain.from_iterable(tokens))
        except TypeError:
            for row, cut in enumerate(tokens):
                for word in cut:
                    if not isinstance(word, str):
                        kind = type(word).__name__
                        raise TypeError(f"tokens {row} holds {kind}, expected str") from None
            raise
        return rows, self._find_words(joined, chain.from_iterable(tokens), total)

    def _word_features(self, words: list[str]) -> Ints:
        return self._find_words("\0".join(words), words, len(words))

    def _find_words(self, joined: str, words: Iterable[str], total: int) -> Ints:
        """The feature id (or -1) of each of `total` words, joined by "\\0", all looked up at
        once (quicker than a dict, whose word strings are scattered in memory)."""
        codes = encode(joined)
        # Each word ends at a separator, unless a word holds "\0" itself: then count.
        ends = np.flatnonzero(codes == 0)
        if len(ends) == total - 1:
            ends = np.append(ends, len(codes))
            lengths = np.diff(ends, prepend=-1) - 1
        else:
            lengths = np.fromiter(map(len, words), np.int64, total)
            ends = np.cumsum(lengths + 1) - 1
        return self._word_table.find(codes, ends - lengths, lengths)

    def _lookup(self, texts: Sequence[str], tokens: Tokens | None = None) -> tuple[Keys, int]:
        """Every known feature occurrence in the batch as row << shift | feature id, and the
        shift; the word features come from `tokens` when given (one word list per text),
        else from rjieba."""
        n = len(texts)
        if tokens is not None and len(tokens) != n:
            raise ValueError(f"tokens has {len(tokens)} word lists for {n} texts")
        try:
            joined = "".join(texts)
        except TypeError:
            for row, text in enumerate(texts):
                if not isinstance(text, str):
                    kind = type(text).__name__
                    raise TypeError(f"text {row} is {kind}, expected str") from None
            raise
        codes, lengths = normalize_batch(texts, joined, np.fromiter(map(len, texts), np.int64, n))
        bounds = np.cumsum(lengths)
        # Row and feature id as one sortable number: in 32 bits when the batch and the
        # vocabulary fit (a quicker sort), else in 64.
        shift = self._id_bits if n <= 1 << (31 - self._id_bits) else 32
        row_key: Keys = np.arange(n, dtype=np.int64) << shift
        if shift < 32:
            row_key = row_key.astype(np.int32)
        rows, ids = self._words(n, codes, bounds, tokens)
        found = [_known(row_key[rows], ids)]
        rows, ids = self._emoticons(codes, bounds)
        found.append(_known(row_key[rows], ids))
        at_key = np.repeat(row_key, lengths)  # each character's row << shift
        index = self._char_index.take(codes)  # take: quicker by uint32 codes
        found.append(_known(at_key, self._char_ids.take(index)))
        if len(codes) >= 2:
            # A 2-gram is real if both characters are in some feature and it does not run from
            # a text's last character into the next text; a 3-gram if both its 2-grams are
            # (and, pruning, were found).
            real = (index[:-1] > 0) & (index[1:] > 0)
            real[bounds[(lengths > 0) & (bounds < len(codes))] - 1] = False
            at = np.flatnonzero(real)
            # Each place's 2-gram key, computed for all (most are real): no gathers.
            pair = index[:-1] * self._radix + index[1:]
            pairs = self._grams.find(pair.take(at))
            hit = pairs >= 0
            found_at = at[hit]
            found.append(at_key[found_at] | pairs[hit].astype(at_key.dtype))
            if len(codes) >= 3:
                if self._prune:
                    real[:] = False
                    real[found_at] = True
                at = np.flatnonzero(real[:-1] & real[1:])
                key = pair.take(at) * self._radix + index.take(at + 2)
                triples = self._grams.find(key + self._radix**2)
                found.append(_known(at_key[at], triples))
        return np.concatenate(found), shift

    def _emoticons(self, codes: Codes, bounds: Ints) -> tuple[Ints, Ints]:
        """(row, feature id or -1) of every `_EMOTICON` match: a "[" whose next "[", "]" or
        space (the only white space left) is a "]" 2 to 9 characters on, in the same text."""
        opens = np.flatnonzero(codes == ord("["))
        stops = np.flatnonzero((codes == ord("[")) | (codes == ord("]")) | (codes == 32))
        after = np.searchsorted(stops, opens, side="right")
        opens, close = opens[after < len(stops)], stops[after[after < len(stops)]]
        rows = np.searchsorted(bounds, opens, side="right")
        match = (codes[close] == ord("]")) & (close < bounds[rows])
        match &= (close - opens >= 2) & (close - opens <= 9)
        opens, close = opens[match], close[match]
        return rows[match], self._emoticon_table.find(codes, opens, close - opens + 1)

    def scores(self, texts: Sequence[str], tokens: Tokens | None = None) -> npt.NDArray[np.float64]:
        """P(positive) per text; NaN for a text with no feature the model knows. `tokens`: as
        in `predict`."""
        return self._score(texts, tokens)[0]

    def evidence(
        self, texts: Sequence[str], tokens: Tokens | None = None
    ) -> npt.NDArray[np.float64]:
        """How much sentiment the text carries, whichever way: the summed size of its
        features' pushes on the log-odds (the intercept aside); 0 for no known feature."""
        return self._score(texts, tokens)[1]

    def _score(
        self, texts: Sequence[str], tokens: Tokens | None
    ) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.float64]]:
        occurrences, shift = self._lookup(texts, tokens)
        pairs, counts = tally(occurrences)
        row_of = (pairs >> shift).astype(np.intp)  # once, not in each bincount
        idx = pairs & ((1 << shift) - 1)
        # Most counts are 1: the log of each count up to the largest, read per feature.
        top = int(counts.max()) if len(counts) else 0
        tf = np.take(1.0 + np.log(np.arange(1, top + 1, dtype=np.float64)), counts - 1)
        n = len(texts)
        idf_weight = np.take(self._idf_weight, idx, axis=0)
        norm = np.sqrt(np.bincount(row_of, weights=(tf * idf_weight[:, 0]) ** 2, minlength=n))
        push = tf * idf_weight[:, 1]
        dot = np.bincount(row_of, weights=push, minlength=n)
        # A row without known features has norm 0: its NaN is kept to mark it; exp may overflow
        # to inf for extreme texts, which rightly gives P = 0.
        with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
            z = dot / norm + self._intercept
            result: npt.NDArray[np.float64] = 1.0 / (1.0 + np.exp(-z))
            size = np.bincount(row_of, weights=np.abs(push), minlength=n) / norm
        result[norm == 0] = math.nan
        size[norm == 0] = 0.0
        return result, size

    def predict(self, texts: Sequence[str], tokens: Tokens | None = None) -> list[SentimentResult]:
        """One result per text, in order. Batch many texts per call: it is much faster.

        `tokens`, if given, holds one word list per text, used for the word features instead
        of cutting the text again (the analyzer's own cut, with the institution's dictionary).
        The words are looked up as given, so cut the `normalize`d text (the analyzer's
        normalisation, which also lower-cases and folds full-width, will do). A `BatchWords`
        of those lists gives the same results, each distinct word looked up once.
        """
        low, high = self.neutral_band
        scores, evidence = self._score(texts, tokens)
        kind = np.where(scores < low, 0, np.where(scores > high, 2, 1))
        kind[evidence < self.neutral_evidence] = 1  # little evidence: neutral, whatever the score
        kind[np.isnan(scores)] = 1
        labels = [_LABELS[k] for k in kind.tolist()]
        return list(map(SentimentResult, labels, np.nan_to_num(scores, nan=0.5).tolist()))
