"""Bullish / bearish / neutral classifiers: load any model, batch inference, train, evaluate.

>>> from models import load_model                 # doctest: +SKIP
>>> load_model("vader").predict(["to the moon"])   # doctest: +SKIP
['bullish']
"""
from __future__ import annotations

from typing import Mapping, Protocol, Sequence, runtime_checkable

import numpy as np

from models.labels import LABELS


@runtime_checkable
class SentimentModel(Protocol):
    """What every scorer offers: ``model_id``, ``labels`` (== LABELS), ``predict_proba``, ``predict``."""

    model_id: str
    labels: tuple[str, ...]

    def predict_proba(self, texts: Sequence[str], *, progress: bool = False) -> np.ndarray: ...

    def predict(self, texts: Sequence[str]) -> list[str]: ...


def load_model(
    spec: str = "default",
    *,
    device: str | None = None,
    batch_size: int = 64,
    backend: str = "auto",
    label_map: str | Mapping[str, str] | None = None,
) -> SentimentModel:
    """Load the model a spec names: default, vader, tfidf, a local folder or a Hugging Face name.

    See :func:`models.spec.load_model`. Raises :class:`models.errors.ModelSpecError` with one line.
    """
    from models.spec import load_model as _load

    return _load(spec, device=device, batch_size=batch_size, backend=backend, label_map=label_map)


__all__ = ["LABELS", "SentimentModel", "load_model"]
