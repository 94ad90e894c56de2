"""Tiny deterministic stand-ins for the classifier and the encoder, for the sentiment tests."""
from __future__ import annotations

import re
import zlib

import numpy as np

BULL = re.compile(r"\b(up|moon|rally|rallies|buy|calls|rip|higher|squeeze)\b", re.I)
BEAR = re.compile(r"\b(down|drop|crash|puts|dump|lower|fall)\b", re.I)


class KeywordModel:
    """Bullish/bearish by keyword count; records every call so tests can count model calls."""

    model_id = "keywords@test"

    def __init__(self):
        self.calls: list[list[str]] = []

    def predict_proba(self, texts, *, progress=False):
        self.calls.append(list(texts))
        out = []
        for t in texts:
            b, s = len(BULL.findall(t)), len(BEAR.findall(t))
            if b > s:
                out.append([0.8, 0.1, 0.1])
            elif s > b:
                out.append([0.1, 0.8, 0.1])
            else:
                out.append([0.1, 0.1, 0.8])
        return np.asarray(out, dtype=float).reshape(len(texts), 3)


class HashEncoder:
    """Bag-of-words hashed into 256 dims, L2-normalised."""

    def encode(self, texts):
        out = np.zeros((len(texts), 256), dtype=np.float32)
        for i, t in enumerate(texts):
            for w in re.findall(r"[a-z]+", t.lower()):
                out[i, zlib.crc32(w.encode()) % 256] += 1
        norms = np.linalg.norm(out, axis=1, keepdims=True)
        return out / np.where(norms == 0, 1, norms)
