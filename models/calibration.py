"""Probability calibration: temperature scaling and expected calibration error.

Temperature scaling (Guo et al., 2017) divides the logits by one scalar T > 0 fitted to
minimise the negative log-likelihood on a held-out split. It changes confidence, never the
arg-max, so accuracy is untouched.
"""
from __future__ import annotations

import logging

import numpy as np
from scipy.optimize import minimize_scalar
from scipy.special import log_softmax, softmax

from models.errors import ModelError

log = logging.getLogger(__name__)

_T_MIN, _T_MAX = 0.05, 20.0


def _check(logits: np.ndarray, labels: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    logits = np.asarray(logits, dtype=np.float64)
    labels = np.asarray(labels)
    if logits.ndim != 2 or len(logits) == 0:
        raise ModelError(f"Calibration needs a non-empty 2-D array of logits, got shape {logits.shape}.")
    if labels.shape != (len(logits),):
        raise ModelError(
            f"Calibration needs one integer label per row of logits: {len(logits)} rows but labels of shape {labels.shape}."
        )
    if labels.min() < 0 or labels.max() >= logits.shape[1]:
        raise ModelError(f"Calibration labels must be class indices 0..{logits.shape[1] - 1}.")
    return logits, labels.astype(np.int64)


def nll(logits: np.ndarray, labels: np.ndarray, temperature: float = 1.0) -> float:
    """Mean negative log-likelihood of ``labels`` under ``softmax(logits / temperature)``."""
    logits, labels = _check(logits, labels)
    lp = log_softmax(logits / temperature, axis=1)
    return float(-lp[np.arange(len(labels)), labels].mean())


def fit_temperature(logits: np.ndarray, labels: np.ndarray) -> float:
    """Return the temperature T in [0.05, 20] minimising the NLL of ``softmax(logits / T)``.

    Fit it on a validation split, never on the files used to report metrics.
    """
    logits, labels = _check(logits, labels)
    # NLL is smooth and (in 1/T) convex; a bounded search on log T is robust.
    res = minimize_scalar(
        lambda lt: nll(logits, labels, float(np.exp(lt))),
        bounds=(np.log(_T_MIN), np.log(_T_MAX)),
        method="bounded",
        options={"xatol": 1e-4},
    )
    t = float(np.exp(res.x))
    log.info("fitted temperature %.4f (NLL %.4f -> %.4f)", t, nll(logits, labels), nll(logits, labels, t))
    return t


def apply_temperature(logits: np.ndarray, temperature: float) -> np.ndarray:
    """Calibrated probabilities ``softmax(logits / temperature)``."""
    if not temperature > 0:
        raise ModelError(f"Temperature must be a positive number, got {temperature!r}.")
    return softmax(np.asarray(logits, dtype=np.float64) / temperature, axis=1)


def expected_calibration_error(probs: np.ndarray, labels: np.ndarray, n_bins: int = 15) -> float:
    """ECE: bin predictions by top-class confidence into ``n_bins`` equal-width bins and
    average |accuracy - confidence| weighted by the share of rows in each bin
    (:func:`models.metrics.expected_calibration_error` on the argmax's correctness)."""
    from models.metrics import expected_calibration_error as ece_of_correct

    probs, labels = _check(probs, labels)
    if n_bins < 1:
        raise ModelError(f"n_bins must be at least 1, got {n_bins}.")
    return ece_of_correct(probs, probs.argmax(axis=1) == labels, n_bins=n_bins)
