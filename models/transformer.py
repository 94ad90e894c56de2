"""The fast transformer scorer: length-sorted dynamic-padded batches, sentence windows, temperature.

``TransformerScorer`` wraps any sequence-classification model (the shipped default, a
saved crowdpulse folder, a Hugging Face model) and returns probabilities in LABELS order.

* Texts that fit in ``max_length`` tokens are scored as one window, exactly as the model sees
  them with ``tokenizer(text)``.
* Longer texts are split into windows on sentence boundaries (a sentence longer than a window
  is cut at token boundaries); the text's probabilities are the token-count-weighted mean of its
  windows' probabilities. Nothing is silently truncated.
* All windows of a call are sorted by length and batched with padding only to the longest
  window of each batch, under ``torch.inference_mode``; input order is restored.
* Logits are divided by the model's temperature before the softmax (calibration).
"""
from __future__ import annotations

import bisect
import logging
import os
import re
from dataclasses import dataclass
from typing import Any, Sequence

import numpy as np

from models.errors import ModelError
from models.labels import LABELS
from models.texts import as_texts

logger = logging.getLogger(__name__)

_SENTENCE_END = re.compile(r"(?<=[.!?…])\s+|\n+")


@dataclass(frozen=True)
class Windows:
    """Token windows of a batch of texts: ``ids[k]`` belongs to text ``owner[k]`` with weight ``weight[k]``."""

    ids: list[list[int]]
    owner: np.ndarray
    weight: np.ndarray


def label_matrix(model_labels: Sequence[str]) -> np.ndarray:
    """Matrix M (n_model_labels x 3) with ``probs_model @ M`` = probabilities in LABELS order."""
    m = np.zeros((len(model_labels), len(LABELS)), dtype=np.float64)
    for i, name in enumerate(model_labels):
        m[i, LABELS.index(name)] = 1.0
    return m


def special_affixes(tokenizer: Any) -> tuple[list[int], list[int]]:
    """The special token ids a tokenizer puts before and after a single text (e.g. [CLS] / [SEP])."""
    body = tokenizer("a", add_special_tokens=False)["input_ids"]
    full = tokenizer("a", add_special_tokens=True)["input_ids"]
    for i in range(len(full) - len(body) + 1):
        if full[i : i + len(body)] == body:
            return list(full[:i]), list(full[i + len(body) :])
    raise ModelError("cannot find where the tokenizer puts its special tokens")


def default_threads() -> int:
    """Threads for CPU inference: ``$CROWDPULSE_THREADS`` when set (a Ray actor sets it to the CPUs it
    was given, since Ray does not pin actors to cores), else the cores this process may use."""
    raw = os.environ.get("CROWDPULSE_THREADS")
    if raw:
        try:
            threads = int(raw)
        except ValueError:
            threads = 0
        if threads < 1:
            raise ModelError(f"CROWDPULSE_THREADS must be a positive whole number, got {raw!r}")
        return threads
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # pragma: no cover - not Linux
        return max(1, os.cpu_count() or 1)


class TransformerScorer:
    """Score texts with a sequence-classification transformer.

    Args:
        model: a ``transformers`` sequence-classification model (eval mode) or an ONNX session wrapper
            with the same ``__call__(input_ids, attention_mask) -> logits`` contract (see models.onnx).
        tokenizer: its fast tokenizer.
        model_labels: for each output index of the model, the LABELS name it means.
        model_id: name + short weights hash, e.g. ``default@3f2a9c1d``.
        temperature: logits are divided by this before the softmax (1.0 = uncalibrated).
        max_length: tokens per window, special tokens included.
        batch_size: windows per forward pass.
        device: torch device string for torch models (``None`` = cpu).

    ``stance_model``: the scorer that judges one marked ticker of a text (``<<IWM>>``), set by
    :func:`models.spec.load_model`: another scorer when the folder names a stance model, this scorer
    itself when the model was trained on ticker-marked text too (``stance_self`` in its metadata); ``None``
    otherwise. ``stance_weight`` and ``stance_scope`` say how :func:`sentiment.analyze.analyze_posts`
    uses it (``None``: its defaults).
    """

    labels = LABELS
    stance_model: "TransformerScorer | None" = None
    stance_weight: float | None = None
    stance_scope: str | None = None

    def __init__(
        self,
        model: Any,
        tokenizer: Any,
        model_labels: Sequence[str],
        *,
        model_id: str,
        temperature: float = 1.0,
        max_length: int = 128,
        batch_size: int = 64,
        device: str | None = None,
        backend: str = "torch",
    ) -> None:
        self.model = model
        self.tokenizer = tokenizer
        self.model_labels = tuple(model_labels)
        self.model_id = model_id
        self.temperature = float(temperature)
        self.max_length = int(max_length)
        self.batch_size = int(batch_size)
        self.device = device or "cpu"
        self.backend = backend
        if self.temperature <= 0:
            raise ModelError(f"model {model_id}: temperature must be positive, got {temperature}")
        if self.batch_size < 1:
            raise ModelError(f"batch_size must be at least 1, got {batch_size}")
        if self.max_length < 8:
            raise ModelError(f"model {model_id}: max_length must be at least 8 tokens, got {max_length}")
        self._matrix = label_matrix(self.model_labels)
        self._prefix, self._suffix = special_affixes(tokenizer)
        self._n_special = len(self._prefix) + len(self._suffix)

    # -- windows -------------------------------------------------------------------------
    def _split_long(self, text: str, body: int) -> list[list[int]]:
        """Token windows of at most ``body`` tokens, cut at sentence ends where possible."""
        enc = self.tokenizer(text, add_special_tokens=False, return_offsets_mapping=True, verbose=False)
        ids, offsets = enc["input_ids"], enc["offset_mapping"]
        token_starts = [a for a, _ in offsets]
        # token index at which each sentence starts: the first token at or after the sentence end
        starts = {bisect.bisect_left(token_starts, m.end()) for m in _SENTENCE_END.finditer(text)}
        bounds = sorted({0, len(ids)} | {k for k in starts if 0 < k < len(ids)})
        sentences = [ids[a:b] for a, b in zip(bounds[:-1], bounds[1:]) if b > a]
        windows: list[list[int]] = []
        current: list[int] = []
        for sent in sentences:
            while len(sent) > body:  # one sentence longer than a window: cut it
                if current:
                    windows.append(current)
                    current = []
                windows.append(sent[:body])
                sent = sent[body:]
            if len(current) + len(sent) > body:
                windows.append(current)
                current = []
            current = current + sent
        if current:
            windows.append(current)
        return windows

    def windows(self, texts: Sequence[str]) -> Windows:
        """Tokenise ``texts`` into scoring windows (special tokens added)."""
        body = self.max_length - self._n_special
        encoded = self.tokenizer(list(texts), add_special_tokens=False, verbose=False)["input_ids"]
        ids: list[list[int]] = []
        owner: list[int] = []
        weight: list[float] = []
        for i, (text, toks) in enumerate(zip(texts, encoded)):
            chunks = [toks] if len(toks) <= body else self._split_long(text, body)
            for chunk in chunks:
                ids.append(self._prefix + list(chunk) + self._suffix)
                owner.append(i)
                weight.append(max(len(chunk), 1))
        return Windows(ids, np.asarray(owner, dtype=np.int64), np.asarray(weight, dtype=np.float64))

    # -- forward -------------------------------------------------------------------------
    def _logits(self, batch: list[list[int]]) -> np.ndarray:
        width = max(len(x) for x in batch)
        pad = self.tokenizer.pad_token_id or 0
        input_ids = np.full((len(batch), width), pad, dtype=np.int64)
        mask = np.zeros((len(batch), width), dtype=np.int64)
        for r, row in enumerate(batch):
            input_ids[r, : len(row)] = row
            mask[r, : len(row)] = 1
        if self.backend == "onnx":
            return np.asarray(self.model(input_ids, mask), dtype=np.float64)
        import torch

        with torch.inference_mode():
            out = self.model(
                input_ids=torch.from_numpy(input_ids).to(self.device),
                attention_mask=torch.from_numpy(mask).to(self.device),
            )
            return out.logits.float().cpu().numpy().astype(np.float64)

    def window_probs(self, ids: list[list[int]], *, progress: bool = False) -> np.ndarray:
        """Probabilities (in the model's own label order) for each window, in input order."""
        order = np.argsort([len(x) for x in ids], kind="stable")
        probs = np.zeros((len(ids), len(self.model_labels)), dtype=np.float64)
        starts = range(0, len(order), self.batch_size)
        bar = None
        if progress:
            from tqdm.auto import tqdm

            bar = tqdm(total=len(ids), desc=f"scoring ({self.model_id})", unit="win")
        for s in starts:
            idx = order[s : s + self.batch_size]
            logits = self._logits([ids[k] for k in idx]) / self.temperature
            logits -= logits.max(axis=1, keepdims=True)
            e = np.exp(logits)
            probs[idx] = e / e.sum(axis=1, keepdims=True)
            if bar is not None:
                bar.update(len(idx))
        if bar is not None:
            bar.close()
        return probs

    # -- public --------------------------------------------------------------------------
    def predict_proba(self, texts: Sequence[str], *, progress: bool = False) -> np.ndarray:
        """Probabilities (n, 3) in LABELS order; rows sum to 1."""
        texts = as_texts(texts)
        if not texts:
            return np.zeros((0, len(LABELS)))
        win = self.windows(texts)
        wp = self.window_probs(win.ids, progress=progress) @ self._matrix
        pooled = np.zeros((len(texts), len(LABELS)))
        np.add.at(pooled, win.owner, wp * win.weight[:, None])
        pooled /= pooled.sum(axis=1, keepdims=True)
        return pooled

    def predict(self, texts: Sequence[str], *, progress: bool = False) -> list[str]:
        """The most probable label of each text."""
        return [LABELS[i] for i in self.predict_proba(texts, progress=progress).argmax(axis=1)]

    def __repr__(self) -> str:
        return f"TransformerScorer({self.model_id!r}, backend={self.backend!r}, max_length={self.max_length})"
