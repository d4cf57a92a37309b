"""Train the shipped sentiment model on weibo2018 and print its held-out figures.

Usage: uv run --frozen python scripts/train_sentiment.py [--data DIR] [--out FILE] [--c C]
Deterministic: the same data and arguments give a byte-identical model file.
"""

from __future__ import annotations

import argparse
import csv
import hashlib
import io
import json
import os
import sys
import zipfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:  # run as a script, the repo root is not on the path
    sys.path.insert(0, str(REPO))

from analysis.sentiment import (  # noqa: E402  # needs the sys.path line above
    DEFAULT_MODEL,
    FEATURE_VERSION,
    FORMAT,
    SentimentModel,
    features,
)

DEFAULT_DATA = REPO.parent / "shared" / "data" / "sentiment"
TRAIN_FILE = "weibo2018_train.csv"
SPLIT_SALT = "yuqing-sentiment-heldout-v1"
HELDOUT_PER_MILLE = 200  # 20 % of the texts, chosen by a salted hash of the text
C_GRID = (1.0, 2.0, 4.0, 8.0)
# Neutral is where the model is close to a coin flip: the widest band around 0.5 within which
# out-of-fold predictions were right at most this often.
NEUTRAL_MAX_ACCURACY = 0.55
MIN_DF = 2

Rows = list[tuple[str, int]]


class DataError(Exception):
    """The training data is missing or malformed."""


def load_rows(path: Path) -> Rows:
    """(text, label) rows of a `label,text` CSV, label 1 positive and 0 negative."""
    try:
        with path.open(encoding="utf-8", newline="") as handle:
            reader = csv.DictReader(handle)
            if reader.fieldnames is None or not {"label", "text"} <= set(reader.fieldnames):
                raise DataError(f"{path}: expected a header with columns label,text")
            rows: Rows = []
            for line, record in enumerate(reader, start=2):
                if record["label"] not in ("0", "1") or not record["text"]:
                    raise DataError(f"{path}:{line}: label must be 0 or 1 and text non-empty")
                rows.append((record["text"], int(record["label"])))
    except OSError as exc:
        raise DataError(f"cannot read {path}: {exc}") from exc
    if not rows:
        raise DataError(f"{path}: no rows")
    return rows


def is_heldout(text: str) -> bool:
    """The fixed held-out split: by the text itself, so duplicates fall on one side."""
    digest = hashlib.sha256((SPLIT_SALT + text).encode("utf-8")).digest()
    return int.from_bytes(digest[:8], "big") % 1000 < HELDOUT_PER_MILLE


def split(rows: Rows) -> tuple[Rows, Rows]:
    """(train, held-out)."""
    train = [r for r in rows if not is_heldout(r[0])]
    heldout = [r for r in rows if is_heldout(r[0])]
    return train, heldout


def _fit(tokens: Sequence[list[str]], labels: npt.NDArray[np.int64], c: float, seed: int) -> Any:
    """TF-IDF, then naive-Bayes log-count ratios (NB-LR, Wang & Manning 2012), then LR."""
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import LogisticRegression

    vectorizer = TfidfVectorizer(
        analyzer=lambda toks: toks, sublinear_tf=True, min_df=MIN_DF, dtype=np.float64
    )
    x = vectorizer.fit_transform(tokens)
    present = x > 0
    pos = np.asarray(present[labels == 1].sum(axis=0)).ravel() + 1.0
    neg = np.asarray(present[labels == 0].sum(axis=0)).ravel() + 1.0
    ratio = np.log((pos / pos.sum()) / (neg / neg.sum()))
    classifier = LogisticRegression(C=c, solver="liblinear", max_iter=5000, random_state=seed)
    classifier.fit(x.multiply(ratio).tocsr(), labels)
    return vectorizer, ratio, classifier


def _proba(model: Any, tokens: Sequence[list[str]]) -> npt.NDArray[np.float64]:
    vectorizer, ratio, classifier = model
    x = vectorizer.transform(tokens).multiply(ratio).tocsr()
    result: npt.NDArray[np.float64] = classifier.predict_proba(x)[:, 1]
    return result


def cross_validate(
    tokens: list[list[str]], labels: npt.NDArray[np.int64], grid: Sequence[float], seed: int
) -> tuple[float, dict[float, float], npt.NDArray[np.float64]]:
    """5-fold CV on the training part only: best C, accuracy per C, out-of-fold P(positive)."""
    from sklearn.model_selection import StratifiedKFold

    folds = list(StratifiedKFold(5, shuffle=True, random_state=seed).split(tokens, labels))
    accuracy: dict[float, float] = {}
    oof: dict[float, npt.NDArray[np.float64]] = {}
    for c in grid:
        p = np.zeros(len(tokens))
        for fit_idx, val_idx in folds:
            model = _fit([tokens[i] for i in fit_idx], labels[fit_idx], c, seed)
            p[val_idx] = _proba(model, [tokens[i] for i in val_idx])
        accuracy[c] = float(np.mean((p >= 0.5) == labels))
        oof[c] = p
        print(f"  cv C={c:g}: accuracy {accuracy[c]:.4f}", flush=True)
    best = max(grid, key=lambda c: (accuracy[c], -c))
    return best, accuracy, oof[best]


def neutral_band(p: npt.NDArray[np.float64], labels: npt.NDArray[np.int64]) -> float:
    """Half-width of the widest band around 0.5 where predictions are near chance."""
    right = (p >= 0.5) == labels
    chosen = 0.0
    for step in range(1, 26):
        half = step / 100
        inside = np.abs(p - 0.5) <= half
        if not inside.any():
            continue
        if step % 5 == 0:
            print(
                f"  band 0.5±{half:.2f}: {inside.mean():.1%} of texts, "
                f"{right[inside].mean():.3f} right inside"
            )
        if right[inside].mean() <= NEUTRAL_MAX_ACCURACY:
            chosen = half
    return chosen


def write_model(path: Path, arrays: dict[str, npt.NDArray[Any]]) -> None:
    """An .npz (np.load reads it) with fixed timestamps, so equal models are equal bytes."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for name, array in arrays.items():
            member = io.BytesIO()
            np.lib.format.write_array(member, array, allow_pickle=False)
            info = zipfile.ZipInfo(name + ".npy", date_time=(1980, 1, 1, 0, 0, 0))
            info.compress_type = zipfile.ZIP_DEFLATED
            archive.writestr(info, member.getvalue())
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_suffix(path.suffix + ".partial")
    partial.write_bytes(buffer.getvalue())
    os.replace(partial, path)


def export(model: Any, path: Path, band: float, meta: dict[str, Any]) -> None:
    """Fold idf, NB ratio and LR coefficient into one weight per feature (see sentiment.py)."""
    vectorizer, ratio, classifier = model
    vocab = [""] * len(vectorizer.vocabulary_)
    for feature, column in vectorizer.vocabulary_.items():
        vocab[column] = feature
    idf = vectorizer.idf_.astype(np.float64)
    weight = idf * ratio * classifier.coef_[0]
    meta = {
        **meta,
        "format": FORMAT,
        "feature_version": FEATURE_VERSION,
        "neutral_low": round(0.5 - band, 4),
        "neutral_high": round(0.5 + band, 4),
        "features": len(vocab),
    }
    write_model(
        path,
        {
            "meta": np.frombuffer(json.dumps(meta, sort_keys=True).encode("utf-8"), np.uint8),
            "vocab": np.frombuffer("\n".join(vocab).encode("utf-8"), np.uint8),
            "idf": idf.astype(np.float32),
            "weight": weight.astype(np.float32),
            "intercept": np.asarray([classifier.intercept_[0]], dtype=np.float64),
        },
    )


def evaluate(model: SentimentModel, rows: Rows) -> dict[str, float]:
    """Binary figures (score >= 0.5 is positive) and three-way ones (neutral counts as wrong)."""
    scores = model.scores([t for t, _ in rows])
    labels = np.asarray([y for _, y in rows])
    score = np.where(np.isnan(scores), 0.5, scores)
    binary = (score >= 0.5).astype(int)
    results = model.predict([t for t, _ in rows])
    three = np.asarray([{"negative": 0, "positive": 1}.get(r.label.value, -1) for r in results])

    def neg_f1(pred: npt.NDArray[Any]) -> float:
        tp = float(np.sum((pred == 0) & (labels == 0)))
        denominator = float(np.sum(pred == 0) + np.sum(labels == 0))
        return 2 * tp / denominator if denominator else 0.0

    return {
        "n": float(len(rows)),
        "accuracy": float(np.mean(binary == labels)),
        "negative_f1": neg_f1(binary),
        "neutral_share": float(np.mean(three == -1)),
        "accuracy_3way": float(np.mean(three == labels)),
        "negative_f1_3way": neg_f1(three),
        "accuracy_decided": float(np.mean(three[three != -1] == labels[three != -1]))
        if np.any(three != -1)
        else 0.0,
    }


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--data",
        type=Path,
        default=DEFAULT_DATA,
        help=f"folder holding {TRAIN_FILE} (default: {DEFAULT_DATA})",
    )
    parser.add_argument(
        "--out",
        type=Path,
        default=REPO / "analysis" / "models" / DEFAULT_MODEL,
        help="model file to write (default: the shipped one)",
    )
    parser.add_argument(
        "--c", type=float, default=None, help="fix the regularisation C and skip cross-validation"
    )
    parser.add_argument("--seed", type=int, default=20181, help="seed of CV folds and solver")
    parser.add_argument("--report", type=Path, default=None, help="also write figures as JSON")
    args = parser.parse_args(argv)
    try:
        rows = load_rows(args.data / TRAIN_FILE)
    except DataError as exc:
        print(f"train_sentiment: {exc}", file=sys.stderr)
        return 2
    train, heldout = split(rows)
    if len({y for _, y in train}) < 2 or not heldout:
        print(
            "train_sentiment: need both labels in training and a non-empty held-out part",
            file=sys.stderr,
        )
        return 2
    print(f"{TRAIN_FILE}: {len(rows)} rows -> train {len(train)}, held-out {len(heldout)}")
    tokens = [features(t) for t, _ in train]
    labels = np.asarray([y for _, y in train], dtype=np.int64)
    meta: dict[str, Any] = {"train_rows": len(train), "seed": args.seed, "min_df": MIN_DF}
    if args.c is None:
        c, cv_accuracy, oof = cross_validate(tokens, labels, C_GRID, args.seed)
        band = neutral_band(oof, labels)
        meta["cv_accuracy"] = round(cv_accuracy[c], 4)
    else:
        c, band = args.c, 0.0
    meta["c"] = c
    print(f"C={c:g}, neutral band {0.5 - band:.2f}..{0.5 + band:.2f}")
    export(_fit(tokens, labels, c, args.seed), args.out, band, meta)
    figures = evaluate(SentimentModel.load(args.out), heldout)
    print(f"wrote {args.out} ({args.out.stat().st_size / 1e6:.1f} MB, {meta} )")
    print(
        f"held-out ({int(figures['n'])} texts): accuracy {figures['accuracy']:.4f}, "
        f"negative F1 {figures['negative_f1']:.4f} (score >= 0.5 is positive)\n"
        f"  with the neutral band: {figures['neutral_share']:.1%} neutral, "
        f"accuracy {figures['accuracy_3way']:.4f} and negative F1 "
        f"{figures['negative_f1_3way']:.4f} counting neutral as wrong, "
        f"accuracy {figures['accuracy_decided']:.4f} on the rest"
    )
    if args.report:
        args.report.write_text(json.dumps({**meta, **figures}, indent=2) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
