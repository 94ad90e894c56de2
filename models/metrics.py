"""Evaluation of a scorer on labeled data: accuracy, macro-F1, per-class P/R, confusion, ECE.

On binary bullish/bearish data (no neutral rows) the scorer is judged on bullish vs bearish
only: ``p_bullish`` and ``p_bearish`` are renormalised to sum to 1 and neutral is never predicted.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Sequence

import numpy as np
import pandas as pd

from models.errors import ModelError
from models.labels import LABELS


def expected_calibration_error(probs: np.ndarray, correct: np.ndarray, n_bins: int = 15) -> float:
    """ECE: the bin-size-weighted mean |accuracy - confidence| over equal-width confidence bins.

    Args:
        probs: (n, k) probabilities; the confidence of a row is its maximum.
        correct: (n,) booleans, whether the argmax was right.
    """
    conf = np.asarray(probs, dtype=float).max(axis=1)
    correct = np.asarray(correct, dtype=float)
    if len(conf) == 0:
        return float("nan")
    edges = np.linspace(0.0, 1.0, n_bins + 1)
    which = np.clip(np.digitize(conf, edges[1:-1], right=True), 0, n_bins - 1)
    ece = 0.0
    for b in range(n_bins):
        in_bin = which == b
        if in_bin.any():
            ece += in_bin.mean() * abs(correct[in_bin].mean() - conf[in_bin].mean())
    return float(ece)


@dataclass(frozen=True)
class EvalResult:
    """Metrics of one model on one labeled set."""

    model_id: str
    n: int
    labels: tuple[str, ...]
    binary: bool
    accuracy: float
    macro_f1: float
    per_class: dict[str, dict[str, float]]
    confusion: pd.DataFrame = field(repr=False)
    ece: float
    data: str = ""

    def to_dict(self) -> dict[str, Any]:
        return {
            "model_id": self.model_id, "data": self.data, "n": self.n, "labels": list(self.labels),
            "binary": self.binary, "accuracy": self.accuracy, "macro_f1": self.macro_f1,
            "ece": self.ece, "per_class": self.per_class,
            "confusion": {"rows_true_cols_pred": list(self.labels),
                          "matrix": self.confusion.to_numpy().tolist()},
        }

    def summary(self) -> str:
        """A plain-text report."""
        lines = [
            f"model {self.model_id} on {self.data or 'data'}: n={self.n}"
            + (" (binary bullish/bearish: p_bullish, p_bearish renormalised)" if self.binary else ""),
            f"accuracy {self.accuracy:.4f}  macro-F1 {self.macro_f1:.4f}  ECE {self.ece:.4f}",
            "class      precision  recall  f1      support",
        ]
        for name, m in self.per_class.items():
            lines.append(f"{name:<10} {m['precision']:.4f}     {m['recall']:.4f}  {m['f1']:.4f}  {int(m['support'])}")
        lines.append("confusion (rows = true, columns = predicted):")
        lines.append(self.confusion.to_string())
        return "\n".join(lines)


def evaluate(
    y_true: Sequence[str], probs: np.ndarray, *, model_id: str = "", data: str = "", binary: bool | None = None,
    n_bins: int = 15,
) -> EvalResult:
    """Score probabilities (n, 3) in LABELS order against true LABELS names.

    Args:
        binary: judge bullish vs bearish only; ``None`` = when the true labels have no neutral.
    """
    from sklearn.metrics import confusion_matrix, precision_recall_fscore_support

    y = np.asarray(list(y_true), dtype=object)
    probs = np.asarray(probs, dtype=float)
    if probs.shape != (len(y), len(LABELS)):
        raise ModelError(f"probabilities have shape {probs.shape}; expected ({len(y)}, {len(LABELS)})")
    bad = set(y) - set(LABELS)
    if bad:
        raise ModelError(f"true labels must be {', '.join(LABELS)}; found {sorted(bad)}")
    if binary is None:
        binary = len(y) > 0 and "neutral" not in set(y)
    if binary:
        if "neutral" in set(y):
            raise ModelError("binary evaluation needs data without neutral rows")
        labels = ("bullish", "bearish")
        p = probs[:, :2]
        total = p.sum(axis=1, keepdims=True)
        p = np.where(total > 0, p / np.where(total > 0, total, 1), 0.5)
    else:
        labels, p = LABELS, probs
    pred = np.asarray(labels, dtype=object)[p.argmax(axis=1)]
    prec, rec, f1, sup = precision_recall_fscore_support(y, pred, labels=list(labels), zero_division=0)
    cm = confusion_matrix(y, pred, labels=list(labels))
    per_class = {
        name: {"precision": float(prec[i]), "recall": float(rec[i]), "f1": float(f1[i]), "support": int(sup[i])}
        for i, name in enumerate(labels)
    }
    correct = pred == y
    return EvalResult(
        model_id=model_id, n=len(y), labels=tuple(labels), binary=bool(binary),
        accuracy=float(correct.mean()) if len(y) else float("nan"),
        macro_f1=float(np.mean(f1)) if len(y) else float("nan"),
        per_class=per_class,
        confusion=pd.DataFrame(cm, index=pd.Index(labels, name="true"), columns=pd.Index(labels, name="pred")),
        ece=expected_calibration_error(p, correct, n_bins=n_bins), data=data,
    )


def evaluate_model(model: Any, data: pd.DataFrame, *, name: str = "", batch_progress: bool = False) -> EvalResult:
    """Run ``model.predict_proba`` over ``DataFrame[text, label]`` and evaluate it."""
    probs = model.predict_proba(data["text"].tolist(), progress=batch_progress)
    return evaluate(data["label"].tolist(), probs, model_id=getattr(model, "model_id", ""), data=name)
