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
from collections import Counter
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


class SentimentModelError(Exception):
    """The model file is missing, unreadable or was made for other features."""


@dataclass(frozen=True, slots=True)
class SentimentResult:
    """`score` is P(positive) in [0, 1]; 0.5 when the text has no known sentiment feature."""

    label: Sentiment
    score: float


def features(text: str) -> list[str]:
    """The model's features of one text: characters 1-3-grams, jieba words, emoticons.

    Training and prediction both call this, so they cannot drift apart. Each feature carries
    a one-letter kind tag so that the character 好 and the word 好 stay distinct features.
    """
    s = _SPACE.sub(" ", unicodedata.normalize("NFKC", text).lower()).strip()
    out = ["c" + ch for ch in s]
    out += ["c" + s[i : i + 2] for i in range(len(s) - 1)]
    out += ["c" + s[i : i + 3] for i in range(len(s) - 2)]
    out += ["w" + w for w in rjieba.cut(s) if w.strip()]
    out += ["e" + e for e in _EMOTICON.findall(s)]
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

    def scores(self, texts: Sequence[str]) -> npt.NDArray[np.float64]:
        """P(positive) per text; NaN for a text with no feature the model knows."""
        get = self._vocabulary.get
        ids: list[int] = []
        counts: list[int] = []
        rows: list[int] = []
        for row, text in enumerate(texts):
            if not isinstance(text, str):
                raise TypeError(f"text {row} is {type(text).__name__}, expected str")
            found = Counter(map(get, features(text)))
            found.pop(None, None)
            ids.extend(found.keys())  # type: ignore[arg-type]  # None was popped just above
            counts.extend(found.values())
            rows.extend([row] * len(found))
        n = len(texts)
        idx = np.asarray(ids, dtype=np.int64)
        tf = 1.0 + np.log(np.asarray(counts, dtype=np.float64))
        row_of = np.asarray(rows, dtype=np.int64)
        norm = np.sqrt(np.bincount(row_of, weights=(tf * self._idf[idx]) ** 2, minlength=n))
        dot = np.bincount(row_of, weights=tf * self._weight[idx], minlength=n)
        # A row without known features has norm 0: its NaN is kept to mark it; exp may overflow
        # to inf for extreme texts, which rightly gives P = 0.
        with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
            z = dot / norm + self._intercept
            result: npt.NDArray[np.float64] = 1.0 / (1.0 + np.exp(-z))
        result[norm == 0] = math.nan
        return result

    def predict(self, texts: Sequence[str]) -> list[SentimentResult]:
        """One result per text, in order. Batch many texts per call: it is much faster."""
        low, high = self.neutral_band
        out = []
        for p in self.scores(texts).tolist():
            if math.isnan(p):
                out.append(SentimentResult(Sentiment.NEUTRAL, 0.5))
            elif p < low:
                out.append(SentimentResult(Sentiment.NEGATIVE, p))
            elif p > high:
                out.append(SentimentResult(Sentiment.POSITIVE, p))
            else:
                out.append(SentimentResult(Sentiment.NEUTRAL, p))
        return out
