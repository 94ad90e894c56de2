"""Training examples for the target-aware stance model, built from sentence-level labelled rows.

The project's crowd sets (``models/crowd_data/crowd_train*.csv``) give one stance for all the
tickers a row names. From them come two kinds of (target-marked text, stance) examples:

- **single**: a row, once per ticker it names, with that ticker marked (:func:`mark_target`);
- **composite**: two or three rows naming disjoint tickers joined into one post ("<<PYPL>> is a
  dead fintech, april puts. Loading more NVDA before earnings."), asked about one of those tickers
  and labelled with the stance of the row that names it. Most composites join rows of different
  stances, so the model must read the words around the marked ticker rather than the post's mood.

The project's stance sets (``models/crowd_data/stance_train*.csv``, columns ``text, stances``) are
whole multi-ticker posts written for crowdpulse with one stance per ticker
(``"TLT:bullish|IWM:bearish"``); :func:`pair_examples` asks each post about each of its tickers,
as the analyzer does.

Pure functions over DataFrames; :mod:`scripts.train_stance` trains on what they return.
"""
from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np
import pandas as pd

from models.labels import LABELS
from sentiment.errors import StanceSetError
from sentiment.text import clean_text, mark_target, target_text
from sentiment.tickers import Linker, default_linker

_ENDS_SENTENCE = re.compile(r"[.!?]\W*$")


def _cleaned_and_linked(text: object, linker: Linker) -> tuple[str, tuple[tuple[int, int, str], ...]]:
    """``text`` as the analyzer reads it (:func:`clean_text`) and its mentions as (start, end, ticker)."""
    text = clean_text(str(text))
    return text, tuple((m.start, m.end, m.ticker) for m in linker.link(text))


def parse_stances(value: str) -> dict[str, str]:
    """``"TLT:bullish|IWM:bearish"`` as ``{"TLT": "bullish", "IWM": "bearish"}``; :class:`StanceSetError` when malformed."""
    out = {}
    for part in str(value).split("|"):
        ticker, sep, label = part.strip().partition(":")
        if not sep or not ticker or label not in LABELS or ticker in out:
            raise StanceSetError(f"not a stance list ('TICKER:bullish|TICKER:bearish'): {value!r}")
        out[ticker] = label
    return out


def read_stance_posts(path) -> pd.DataFrame:
    """A stance set (CSV with ``text, stances`` columns) as DataFrame[text, stances: dict]."""
    df = pd.read_csv(path, dtype=str, keep_default_na=False)
    if list(df.columns) != ["text", "stances"]:
        raise StanceSetError(f"{path}: expected the columns text,stances, got {','.join(df.columns)}")
    return df.assign(stances=[parse_stances(v) for v in df["stances"]])


def pair_examples(posts: pd.DataFrame, linker: Linker | None = None) -> pd.DataFrame:
    """DataFrame[text, label, kind="pair"]: every post of ``posts`` (text, stances dict) asked about each
    labelled ticker the linker finds in it, marked as the analyzer marks it (:func:`target_text`).
    A labelled ticker the linker does not find is skipped: the analyzer could never ask about it."""
    linker = linker or default_linker()
    out = []
    for text, stances in zip(posts["text"], posts["stances"]):
        text, mentions = _cleaned_and_linked(text, linker)
        found = {t for _, _, t in mentions}
        out += [(target_text(text, mentions, t), label, "pair") for t, label in stances.items() if t in found]
    return pd.DataFrame(out, columns=["text", "label", "kind"])


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
        text, mentions = _cleaned_and_linked(text, linker)
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


#: The project's labels of real Reddit comments (ids and labels only; the text stays in ../shared).
REDDIT_FILES = {"janash_wallstreetbets": "janash_wallstreetbets_comments_sample.csv",
                "janash_stocks": "janash_stocks_comments_sample.csv"}
REDDIT_LABEL_COLUMNS = ["dataset", "comment_id", "post_id", "draw", "reader", "ticker", "stance", "comment_label"]


def read_reddit_stances(labels_csv, reddit_dir, reader: str = "first") -> pd.DataFrame:
    """The labelled real comments as DataFrame[dataset, comment_id, post_id, draw, text, stances, comment_label].

    ``labels_csv`` (models/crowd_data/reddit_stance_labels.csv) holds one row per (comment, ticker the
    linker found, reader): the stance (bullish, bearish, neutral, or not_a_ticker where the linker was
    wrong) and the comment's overall label (bullish, bearish, neutral or mixed). The comment text is
    joined from ``reddit_dir`` (../shared/data/reddit) by id. ``stances`` keeps the real tickers only;
    ``reader`` picks whose labels (``first``; ``second`` for the blind re-read of a tenth).
    """
    from pathlib import Path

    labels = pd.read_csv(labels_csv, dtype=str, keep_default_na=False)
    if list(labels.columns) != REDDIT_LABEL_COLUMNS:
        raise StanceSetError(f"{labels_csv}: expected the columns {','.join(REDDIT_LABEL_COLUMNS)}, "
                             f"got {','.join(labels.columns)}")
    bad = set(labels["stance"]) - {*LABELS, "not_a_ticker"} | set(labels["comment_label"]) - {*LABELS, "mixed"}
    if bad:
        raise StanceSetError(f"{labels_csv}: unknown label(s) {sorted(bad)}")
    labels = labels[labels["reader"] == reader]
    texts = []
    for dataset, name in REDDIT_FILES.items():
        path = Path(reddit_dir) / name
        if not path.is_file():
            raise StanceSetError(f"{path} is not there: the labels hold ids only, the text comes from ../shared")
        df = pd.read_csv(path, usecols=["comment_id", "comment"], dtype=str, keep_default_na=False)
        texts.append(df.assign(dataset=dataset))
    text = pd.concat(texts).drop_duplicates(["dataset", "comment_id"]).rename(columns={"comment": "text"})
    rows = []
    for (dataset, cid), g in labels.groupby(["dataset", "comment_id"], sort=False):
        first = g.iloc[0]
        rows.append({"dataset": dataset, "comment_id": cid, "post_id": first["post_id"], "draw": first["draw"],
                     "comment_label": first["comment_label"],
                     "stances": {t: s for t, s in zip(g["ticker"], g["stance"]) if s != "not_a_ticker"}})
    out = pd.DataFrame(rows).merge(text, on=["dataset", "comment_id"], how="left")
    if out["text"].isna().any():
        raise StanceSetError(f"{int(out['text'].isna().sum())} labelled comments are not in {reddit_dir}")
    return out[["dataset", "comment_id", "post_id", "draw", "text", "stances", "comment_label"]]
