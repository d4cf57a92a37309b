"""Negative / neutral / positive sentiment of short Chinese posts, from a shipped linear model.

The model (trained by scripts/train_sentiment.py, described in docs/sentiment-data-card.md) is
read with numpy only, so the service does not need scikit-learn at run time.
"""

from __future__ import annotations

import io
import json
import math
import re
import unicodedata
import zipfile
from collections.abc import Sequence
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import rjieba

from core.post import Sentiment

# Bumped whenever `features` changes: a model trained on other features must not load silently.
FEATURE_VERSION = 1
FORMAT = "yuqing-sentiment"
DEFAULT_MODEL = "sentiment.npz"

_SPACE = re.compile(r"\s+")
# Weibo's bracketed emoticons ([怒], [允悲], [二哈]) carry much of a post's mood; jieba splits
# them into "[", word, "]", so they are also kept whole as features of their own.
_EMOTICON = re.compile(r"\[[^\[\]\s]{1,8}\]")
_BITS = 21  # Unicode code points fit in 21 bits, so a 3-gram code fits in 63


class SentimentModelError(Exception):
    """The model file is missing, unreadable or was made for other features."""


@dataclass(frozen=True, slots=True)
class SentimentResult:
    """`score` is P(positive) in [0, 1]; 0.5 when the text has no known sentiment feature."""

    label: Sentiment
    score: float


def normalize(text: str) -> str:
    """The model's text normalisation: NFKC (full-width to half-width), lower case, runs of
    white space to one space. Tokens handed to `SentimentModel.predict` should come from it."""
    return _SPACE.sub(" ", unicodedata.normalize("NFKC", text).lower()).strip()


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
    out += ["w" + w for w in rjieba.cut(s) if w.strip()]
    out += ["e" + e for e in _EMOTICON.findall(s)]
    return out


def _gram_code(gram: str) -> int:
    """A character n-gram (n <= 3) as one exact integer: 21 bits per code point, plus one so
    that no n-gram shares a code with a shorter one."""
    code = 0
    for ch in gram:
        code = (code << _BITS) | (ord(ch) + 1)
    return code


def _gram_codes(codes: npt.NDArray[np.uint64], size: int) -> npt.NDArray[np.uint64]:
    """Codes of all n-grams of `size` over a run of (code point + 1) values."""
    n = len(codes) - size + 1
    out = codes[:n].copy()
    for k in range(1, size):
        out = (out << np.uint64(_BITS)) | codes[k : k + n]
    return out


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
    ) -> None:
        low, high = neutral_band
        if not 0.0 <= low <= 0.5 <= high <= 1.0:
            raise ValueError(
                f"neutral band {neutral_band} must satisfy 0 <= low <= 0.5 <= high <= 1"
            )
        if not len(vocabulary) == len(idf) == len(weight):
            raise SentimentModelError("vocabulary, idf and weight differ in length")
        self._vocabulary = vocabulary
        # The fast path of `scores`: character n-grams are looked up as exact integer codes in
        # one sorted array (numpy, whole batch at once), words and emoticons in dicts.
        grams = [(f[1:], i) for f, i in vocabulary.items() if f.startswith("c")]
        order = sorted(grams, key=lambda g: _gram_code(g[0]))
        self._gram_keys = np.asarray([_gram_code(g) for g, _ in order], dtype=np.uint64)
        self._gram_ids = np.asarray([i for _, i in order], dtype=np.int64)
        self._words = {f[1:]: i for f, i in vocabulary.items() if f.startswith("w")}
        self._emoticons = {f[1:]: i for f, i in vocabulary.items() if f.startswith("e")}
        self._idf = idf
        self._weight = weight
        self._intercept = intercept
        self.neutral_band = (low, high)
        self.meta = meta

    @classmethod
    def load(
        cls, path: str | Path | None = None, neutral_band: tuple[float, float] | None = None
    ) -> SentimentModel:
        """Read a model file (default: the one shipped in analysis/models/).

        `neutral_band` overrides the (low, high) P(positive) band stored with the model.
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
        vocabulary = {feature: i for i, feature in enumerate(vocab)}
        return cls(vocabulary, idf, weight, intercept, band, meta)

    def _lookup(
        self, texts: Sequence[str], tokens: Sequence[Sequence[str]] | None = None
    ) -> tuple[npt.NDArray[np.int64], ...]:
        """(row, feature id) of every known feature occurrence in the batch; the word features
        come from `tokens` when given (one word list per text), else from rjieba."""
        if tokens is not None and len(tokens) != len(texts):
            raise ValueError(f"tokens has {len(tokens)} word lists for {len(texts)} texts")
        normal: list[str] = []
        rows: list[int] = []
        ids: list[int] = []
        words, emoticons = self._words, self._emoticons
        for row, text in enumerate(texts):
            if not isinstance(text, str):
                raise TypeError(f"text {row} is {type(text).__name__}, expected str")
            s = normalize(text)
            normal.append(s)
            # Whitespace tokens, which `features` drops, are in neither table: -1 like any
            # unknown token, and dropped below.
            cut = rjieba.cut(s) if tokens is None else tokens[row]
            if isinstance(cut, str):  # a string would be read as one word per character
                raise TypeError(f"tokens {row} is str, expected a list of words")
            found = [words.get(w, -1) for w in cut]
            found += [emoticons.get(e, -1) for e in _EMOTICON.findall(s)]
            ids += found
            rows += [row] * len(found)
        lengths = np.asarray([len(s) for s in normal], dtype=np.int64)
        points = np.frombuffer("".join(normal).encode("utf-32-le"), dtype=np.uint32)
        codes = points.astype(np.uint64) + np.uint64(1)
        row_at = np.repeat(np.arange(len(normal), dtype=np.int64), lengths)
        left = lengths[row_at] - (
            np.arange(len(codes)) - np.repeat(np.cumsum(lengths) - lengths, lengths)
        )
        token_ids = np.asarray(ids, dtype=np.int64)
        gram_rows: list[npt.NDArray[np.int64]] = []
        gram_keys: list[npt.NDArray[np.uint64]] = []
        for size in (1, 2, 3):
            if len(codes) < size:
                continue
            # An n-gram is real only if it ends inside the text it starts in.
            inside = left[: len(codes) - size + 1] >= size
            gram_keys.append(_gram_codes(codes, size)[inside])
            gram_rows.append(row_at[: len(inside)][inside])
        keys = np.concatenate(gram_keys) if gram_keys else np.zeros(0, np.uint64)
        # Sorted needles make the binary search cache-friendly: about twice as fast overall.
        order = np.argsort(keys)
        keys = keys[order]
        at = np.searchsorted(self._gram_keys, keys)
        at[at == len(self._gram_keys)] = 0
        known = self._gram_keys[at] == keys
        gram_row = np.concatenate(gram_rows)[order][known] if gram_rows else token_ids[:0]
        return (
            np.concatenate([np.asarray(rows, dtype=np.int64)[token_ids >= 0], gram_row]),
            np.concatenate([token_ids[token_ids >= 0], self._gram_ids[at[known]]]),
        )

    def scores(
        self, texts: Sequence[str], tokens: Sequence[Sequence[str]] | None = None
    ) -> npt.NDArray[np.float64]:
        """P(positive) per text; NaN for a text with no feature the model knows. `tokens`: as
        in `predict`."""
        rows, ids = self._lookup(texts, tokens)
        size = max(len(self._idf), 1)
        pairs, counts = np.unique(rows * size + ids, return_counts=True)
        row_of = pairs // size
        idx = pairs % size
        tf = 1.0 + np.log(counts.astype(np.float64))
        n = len(texts)
        norm = np.sqrt(np.bincount(row_of, weights=(tf * self._idf[idx]) ** 2, minlength=n))
        dot = np.bincount(row_of, weights=tf * self._weight[idx], minlength=n)
        # A row without known features has norm 0: its NaN is kept to mark it; exp may overflow
        # to inf for extreme texts, which rightly gives P = 0.
        with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
            z = dot / norm + self._intercept
            result: npt.NDArray[np.float64] = 1.0 / (1.0 + np.exp(-z))
        result[norm == 0] = math.nan
        return result

    def predict(
        self, texts: Sequence[str], tokens: Sequence[Sequence[str]] | None = None
    ) -> list[SentimentResult]:
        """One result per text, in order. Batch many texts per call: it is much faster.

        `tokens`, if given, holds one word list per text, used for the word features instead
        of cutting the text again (the analyzer's own cut, with the institution's dictionary).
        The words are looked up as given, so cut the `normalize`d text (the analyzer's
        normalisation, which also lower-cases and folds full-width, will do).
        """
        low, high = self.neutral_band
        out = []
        for p in self.scores(texts, tokens).tolist():
            if math.isnan(p):
                out.append(SentimentResult(Sentiment.NEUTRAL, 0.5))
            elif p < low:
                out.append(SentimentResult(Sentiment.NEGATIVE, p))
            elif p > high:
                out.append(SentimentResult(Sentiment.POSITIVE, p))
            else:
                out.append(SentimentResult(Sentiment.NEUTRAL, p))
        return out
