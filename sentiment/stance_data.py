"""Training examples for the target-aware stance model, built from sentence-level labelled rows.

The project's crowd sets (``models/crowd_data/crowd_train*.csv``) give one stance for all the
tickers a row names. From them come two kinds of (target-marked text, stance) examples:

- **single**: a row, once per ticker it names, with that ticker marked (:func:`mark_target`);
- **composite**: two or three rows naming disjoint tickers joined into one post ("<<PYPL>> is a
  dead fintech, april puts. Loading more NVDA before earnings."), asked about one of those tickers
  and labelled with the stance of the row that names it. Most composites join rows of different
  stances, so the model must read the words around the marked ticker rather than the post's mood.

Pure functions over DataFrames; :mod:`scripts.train_stance` trains on what they return.
"""
from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np
import pandas as pd

from sentiment.text import clean_text, mark_target
from sentiment.tickers import Linker, default_linker

_ENDS_SENTENCE = re.compile(r"[.!?]\W*$")


@dataclass(frozen=True)
class LinkedRow:
    """A labelled text with its ticker mentions as (start, end, ticker)."""

    text: str
    label: str
    mentions: tuple[tuple[int, int, str], ...]

    @property
    def tickers(self) -> frozenset[str]:
        return frozenset(t for _, _, t in self.mentions)


def linked_rows(df: pd.DataFrame, linker: Linker | None = None) -> list[LinkedRow]:
    """The rows of ``df`` (columns text, label) that name at least one ticker, cleaned and linked."""
    linker = linker or default_linker()
    out = []
    for text, label in zip(df["text"], df["label"]):
        text = clean_text(str(text))
        mentions = tuple((m.start, m.end, m.ticker) for m in linker.link(text))
        if mentions:
            out.append(LinkedRow(text, str(label), mentions))
    return out


def join_rows(rows: list[LinkedRow]) -> tuple[str, tuple[tuple[int, int, str], ...], dict[str, str]]:
    """One post made of ``rows``: the text, the shifted mentions and each ticker's stance."""
    text, mentions, stance = "", [], {}
    for row in rows:
        if text:
            text += ("" if _ENDS_SENTENCE.search(text) else ".") + " "
        offset = len(text)
        text += row.text
        mentions += [(s + offset, e + offset, t) for s, e, t in row.mentions]
        stance.update({t: row.label for t in row.tickers})
    return text, tuple(mentions), stance


def stance_examples(rows: list[LinkedRow], *, composites: int, seed: int = 13, mixed_share: float = 0.65,
                    targets_per_composite: int = 2) -> pd.DataFrame:
    """DataFrame[text, label, kind]: every single row per ticker, plus ``composites`` joined posts.

    A composite joins 2 rows (70 %) or 3, with disjoint tickers; with probability ``mixed_share``
    each added row must carry a stance not yet in the post. Up to ``targets_per_composite`` of
    its tickers become examples.
    """
    rng = np.random.default_rng(seed)
    out = [(mark_target(r.text, r.mentions, t), r.label, "single") for r in rows for t in sorted(r.tickers)]
    if len(rows) < 2:
        return pd.DataFrame(out, columns=["text", "label", "kind"])
    for _ in range(composites):
        want = 2 if rng.random() < 0.7 else 3
        picked: list[LinkedRow] = []
        used: set[str] = set()
        for _try in range(50):
            if len(picked) == want:
                break
            row = rows[int(rng.integers(len(rows)))]
            if row.tickers & used:
                continue
            if picked and rng.random() < mixed_share and row.label in {p.label for p in picked}:
                continue
            picked.append(row)
            used |= row.tickers
        if len(picked) < 2:
            continue
        text, mentions, stance = join_rows(picked)
        targets = sorted(stance)
        rng.shuffle(targets)
        out += [(mark_target(text, mentions, t), stance[t], "composite") for t in targets[:targets_per_composite]]
    return pd.DataFrame(out, columns=["text", "label", "kind"])
