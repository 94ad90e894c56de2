"""Baseline scorers: VADER (lexicon) and TF-IDF + logistic regression (fitted by the project).

Both follow the SentimentModel contract: ``model_id``, ``labels``, ``predict_proba`` (n, 3) in
LABELS order, ``predict``. Rebuild the shipped TF-IDF pipeline with ``python scripts/build_tfidf.py``.
"""
from __future__ import annotations

import hashlib
import logging
import os
from pathlib import Path
from typing import Sequence

import numpy as np
import pandas as pd

from models.errors import ModelError
from models.labels import LABELS
from models.texts import as_texts

logger = logging.getLogger(__name__)

#: The shipped TF-IDF pipeline (fitted on Twitter Financial News sent_train.csv, MIT).
TFIDF_PATH = Path(__file__).with_name("tfidf.joblib")


def file_hash(path: str | os.PathLike, n: int = 8) -> str:
    """First ``n`` hex digits of a file's sha256."""
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()[:n]


class VaderModel:
    """VADER's compound score turned into three probabilities.

    The logits are ``[k(c - 0.05), k(-c - 0.05), 0]`` for compound score ``c``, so the argmax is
    VADER's own rule (bullish when c >= 0.05, bearish when c <= -0.05, else neutral). The
    probabilities are a smooth monotone map of ``c``, not calibrated.
    """

    labels = LABELS

    def __init__(self, sharpness: float = 5.0) -> None:
        self.sharpness = sharpness
        self._analyzer = None
        self.model_id = "vader"

    def load(self) -> "VaderModel":
        import vaderSentiment
        from vaderSentiment.vaderSentiment import SentimentIntensityAnalyzer

        lexicon = Path(vaderSentiment.__file__).with_name("vader_lexicon.txt")
        self._analyzer = SentimentIntensityAnalyzer()
        self.model_id = f"vader@{file_hash(lexicon)}"
        return self

    def compound(self, texts: Sequence[str]) -> np.ndarray:
        if self._analyzer is None:
            self.load()
        return np.array([self._analyzer.polarity_scores(t)["compound"] for t in as_texts(texts)], dtype=float)

    def predict_proba(self, texts: Sequence[str], *, progress: bool = False) -> np.ndarray:
        c = self.compound(texts)
        k = self.sharpness
        logits = np.stack([k * (c - 0.05), k * (-c - 0.05), np.zeros_like(c)], axis=1)
        logits -= logits.max(axis=1, keepdims=True) if len(c) else 0
        e = np.exp(logits)
        return e / e.sum(axis=1, keepdims=True) if len(c) else np.zeros((0, 3))

    def predict(self, texts: Sequence[str], *, progress: bool = False) -> list[str]:
        return [LABELS[i] for i in self.predict_proba(texts).argmax(axis=1)]


def build_tfidf_pipeline(seed: int = 13):
    """An unfitted TF-IDF (word 1-2 grams + char 2-5 grams) -> logistic regression pipeline."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline, make_union
    from sklearn.feature_extraction.text import TfidfVectorizer

    features = make_union(
        TfidfVectorizer(ngram_range=(1, 2), min_df=2, max_features=40000, sublinear_tf=True, lowercase=True),
        TfidfVectorizer(analyzer="char_wb", ngram_range=(2, 5), min_df=3, max_features=60000, sublinear_tf=True),
    )
    return make_pipeline(features, LogisticRegression(C=8.0, max_iter=3000, random_state=seed))


def fit_tfidf(data: pd.DataFrame, seed: int = 13):
    """Fit the TF-IDF baseline on ``DataFrame[text, label]`` (labels in LABELS names)."""
    bad = set(data["label"]) - set(LABELS)
    if bad:
        raise ModelError(f"training labels must be {', '.join(LABELS)}; found {sorted(bad)}")
    pipe = build_tfidf_pipeline(seed)
    pipe.fit(data["text"].astype(str).tolist(), data["label"].tolist())
    return pipe


class TfidfModel:
    """The project's TF-IDF + logistic-regression baseline, loaded from a joblib file."""

    labels = LABELS

    def __init__(self, path: str | os.PathLike | None = None) -> None:
        self.path = Path(path) if path else TFIDF_PATH
        self.pipeline_ = None
        self.model_id = "tfidf"

    def load(self) -> "TfidfModel":
        import joblib

        if not self.path.exists():
            raise ModelError(
                f"the TF-IDF baseline {self.path} is missing; rebuild it with: python scripts/build_tfidf.py"
            )
        self.pipeline_ = joblib.load(self.path)
        classes = list(self.pipeline_.classes_)
        if sorted(classes) != sorted(LABELS):
            raise ModelError(f"the TF-IDF baseline {self.path} has classes {classes}, expected {list(LABELS)}")
        self._order = [classes.index(name) for name in LABELS]
        self.model_id = f"tfidf@{file_hash(self.path)}"
        return self

    def predict_proba(self, texts: Sequence[str], *, progress: bool = False) -> np.ndarray:
        if self.pipeline_ is None:
            self.load()
        texts = as_texts(texts)
        if not texts:
            return np.zeros((0, 3))
        return np.asarray(self.pipeline_.predict_proba(texts))[:, self._order]

    def predict(self, texts: Sequence[str], *, progress: bool = False) -> list[str]:
        return [LABELS[i] for i in self.predict_proba(texts).argmax(axis=1)]
