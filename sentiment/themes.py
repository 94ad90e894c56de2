"""Themes: multi-label detection from sentence embeddings plus phrase patterns.

The taxonomy lives in ``sentiment/data/themes.toml`` (users add themes there). A post's score
for a theme is a match on a 0-1 scale::

    score = (similarity + pattern_bonus * pattern_hit) / (1 + pattern_bonus)

where ``similarity`` is the largest cosine similarity between the post's cue sentences and the
theme's description and example phrases (clipped to 0-1) and ``pattern_hit`` is 1 when one of
the theme's patterns matches. 1 is a pattern match in a sentence that says what an example
says; a pattern match alone is ``pattern_bonus / (1 + pattern_bonus)`` (1/3 with the shipped
0.5). It is not a probability. The post shows the theme when the score reaches the theme's
threshold (on the same scale). The stored, exported and printed scores are this value.
"""
from __future__ import annotations

import logging
import re
import tomllib
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Sequence

import numpy as np

from sentiment.errors import SentimentError

log = logging.getLogger(__name__)

THEMES_FILE = Path(__file__).resolve().parent / "data" / "themes.toml"
#: The threshold of a theme that names none, on the 0-1 score scale (0.55 before the scale was 0-1: 0.55 / 1.5).
DEFAULT_THRESHOLD = 0.3667


class ThemeFileError(SentimentError):
    """The themes file is missing or malformed."""


@dataclass(frozen=True)
class Theme:
    id: str
    description: str
    examples: tuple[str, ...]
    patterns: tuple[re.Pattern, ...]
    threshold: float


@dataclass(frozen=True)
class Taxonomy:
    themes: tuple[Theme, ...]
    pattern_bonus: float
    cue_words: tuple[re.Pattern, ...] = ()
    default_threshold: float = DEFAULT_THRESHOLD

    @property
    def ids(self) -> list[str]:
        return [t.id for t in self.themes]


def load_taxonomy(path: str | Path = THEMES_FILE) -> Taxonomy:
    """Read and validate a themes file (TOML with ``[[theme]]`` tables)."""
    path = Path(path)
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ThemeFileError(f"cannot read themes file {path}: {exc.strerror}") from None
    except tomllib.TOMLDecodeError as exc:
        raise ThemeFileError(f"themes file {path} is not valid TOML: {exc}") from None
    default = float(data.get("default_threshold", DEFAULT_THRESHOLD))
    bonus = float(data.get("pattern_bonus", 0.5))
    if bonus < 0:
        raise ThemeFileError(f"pattern_bonus in {path} must be 0 or more; got {bonus}")
    themes = []
    for i, t in enumerate(data.get("theme", [])):
        if not t.get("id") or not t.get("description"):
            raise ThemeFileError(f"theme #{i + 1} in {path} needs an id and a description")
        try:
            pats = tuple(re.compile(p, re.IGNORECASE) for p in t.get("patterns", []))
        except re.error as exc:
            raise ThemeFileError(f"theme {t['id']} in {path} has a bad pattern: {exc}") from None
        threshold = float(t.get("threshold", default))
        if not 0.0 < threshold <= 1.0:
            raise ThemeFileError(f"theme {t['id']} in {path} has threshold {threshold}; scores run 0-1, so give a "
                                 "threshold above 0 and at most 1")
        themes.append(Theme(t["id"], t["description"], tuple(t.get("examples", [])), pats, threshold))
    if not themes:
        raise ThemeFileError(f"themes file {path} defines no [[theme]] tables")
    if len({t.id for t in themes}) != len(themes):
        raise ThemeFileError(f"themes file {path} repeats a theme id")
    try:
        cues = tuple(re.compile(p, re.IGNORECASE) for p in data.get("cue_words", []))
    except re.error as exc:
        raise ThemeFileError(f"cue_words in {path} has a bad pattern: {exc}") from None
    return Taxonomy(tuple(themes), bonus, cues, default)


@lru_cache(maxsize=1)
def default_taxonomy() -> Taxonomy:
    return load_taxonomy(THEMES_FILE)


class ThemeScorer:
    """Scores texts against a taxonomy with one encoder call per batch of texts."""

    def __init__(self, taxonomy: Taxonomy | None = None, encoder=None) -> None:
        self.taxonomy = taxonomy or default_taxonomy()
        self.encoder = encoder
        self._proto: np.ndarray | None = None
        self._owner: np.ndarray | None = None

    def _prototypes(self) -> tuple[np.ndarray, np.ndarray]:
        if self._proto is None:
            texts, owner = [], []
            for k, t in enumerate(self.taxonomy.themes):
                for s in (t.description, *t.examples):
                    texts.append(s)
                    owner.append(k)
            self._proto = np.asarray(self.encoder.encode(texts), dtype=np.float32)
            self._owner = np.asarray(owner)
        return self._proto, self._owner

    def pattern_hits(self, texts: Sequence[str]) -> np.ndarray:
        """(n_texts, n_themes) booleans: does any pattern of the theme match the text."""
        hits = np.zeros((len(texts), len(self.taxonomy.themes)), dtype=bool)
        for k, theme in enumerate(self.taxonomy.themes):
            if not theme.patterns:
                continue
            joined = re.compile("|".join(f"(?:{p.pattern})" for p in theme.patterns), re.IGNORECASE)
            for i, text in enumerate(texts):
                hits[i, k] = joined.search(text) is not None
        return hits

    def _cue_re(self) -> re.Pattern:
        if getattr(self, "_cue", None) is None:
            parts = [p.pattern for t in self.taxonomy.themes for p in t.patterns]
            parts += [p.pattern for p in self.taxonomy.cue_words]
            self._cue = re.compile("|".join(f"(?:{p})" for p in parts) or r"(?!)", re.IGNORECASE)
        return self._cue

    def cue_sentences(self, text: str) -> list[str]:
        """The sentences of ``text`` that carry a theme pattern or a cue word (at most 300 chars each)."""
        from sentiment.text import split_sentences

        cue = self._cue_re()
        out = []
        for sp in split_sentences(text):
            sentence = text[sp.start:sp.end]
            if cue.search(sentence):
                out.append(sentence[:300])
        return out

    def similarity(self, texts: Sequence[str]) -> np.ndarray:
        """(n_texts, n_themes) largest cosine similarity of a cue sentence to the theme's
        description/examples; 0 for a text without cue sentences. One encoder call."""
        n, m = len(texts), len(self.taxonomy.themes)
        out = np.zeros((n, m), dtype=np.float32)
        if self.encoder is None or n == 0:
            return out
        owner_text, sentences, index = [], [], {}
        for i, text in enumerate(texts):
            for s in self.cue_sentences(text):
                if s not in index:
                    index[s] = len(sentences)
                    sentences.append(s)
                owner_text.append((i, index[s]))
        if not sentences:
            return out
        proto, owner = self._prototypes()
        emb = np.asarray(self.encoder.encode(sentences), dtype=np.float32)
        sims = emb @ proto.T
        per_sentence = np.stack([sims[:, owner == k].max(axis=1) for k in range(m)], axis=1)
        out[:] = -1.0
        seen = np.zeros(n, dtype=bool)
        for i, j in owner_text:
            out[i] = np.maximum(out[i], per_sentence[j])
            seen[i] = True
        out[~seen] = 0.0
        return out

    def scores(self, texts: Sequence[str]) -> np.ndarray:
        """(n_texts, n_themes) theme scores on a 0-1 scale: (similarity clipped to 0-1 + pattern_bonus
        if a pattern matches) / (1 + pattern_bonus)."""
        texts = [t or "" for t in texts]
        bonus = self.taxonomy.pattern_bonus
        sim = np.clip(self.similarity(texts), 0.0, 1.0)
        return (sim + bonus * self.pattern_hits(texts)) / (1.0 + bonus)

    def thresholds(self) -> np.ndarray:
        return np.array([t.threshold for t in self.taxonomy.themes], dtype=np.float32)

    def detect(self, texts: Sequence[str]) -> list[list[tuple[str, float]]]:
        """Per text, the (theme, score) pairs at or above their threshold, best first."""
        scores = self.scores(texts)
        keep = scores >= self.thresholds()
        ids = self.taxonomy.ids
        out = []
        for i in range(len(texts)):
            row = [(ids[k], float(scores[i, k])) for k in np.flatnonzero(keep[i])]
            out.append(sorted(row, key=lambda r: -r[1]))
        return out
