#!/usr/bin/env python
"""Draw the real Reddit comments that the project labels for stance training, and write the
annotators' batches (with text) to a folder outside the repository.

    python scripts/sample_reddit_stance.py --out /tmp/labelling

The pool is every comment of ../shared/data/reddit/janash_{wallstreetbets,stocks}_comments_sample.csv
that
- is not an evaluation comment (eval/sentiment/labels.csv) and sits in none of their threads
  (the same ``post_id``): nothing of an evaluation thread is ever trained on;
- is 20-500 characters, not ``[deleted]``/``[removed]``, and not a repeat of an earlier
  comment's normalised text;
- names at least one ticker the linker finds (``sentiment.tickers``), after
  :func:`sentiment.text.clean_text`: only such (comment, ticker) pairs reach the stance model.

Three draws, each uniform at random within its own pool (seed ``--seed``), none repeating a comment:
- ``bearish_vocab``: comments with bearish vocabulary (:data:`BEARISH_VOCAB`: puts, short, crash,
  drill, bagholding, rug pull, dead cat, dump, tank, bubble, overvalued, bear);
- ``multi_ticker``: comments naming two or more tickers (most of the evaluation pairs sit in such posts);
- ``random``: any comment of the pool.
A random ``--second-share`` of the drawn comments is also given, blind, to a second annotator (in
another batch), so agreement can be measured.

Writes ``OUT/batch_NN.jsonl`` (one object per comment: key, text, tickers to judge) and
``OUT/sample.csv`` (dataset, comment_id, post_id, draw, batch, second_batch: ids only; the
label file ``models/crowd_data/reddit_stance_labels.csv`` keeps the draw of every row).
"""
from __future__ import annotations

import argparse
import json
import re
import sys
from pathlib import Path

import numpy as np
import pandas as pd

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from sentiment.text import clean_text  # noqa: E402
from sentiment.tickers import default_linker  # noqa: E402

SHARED = REPO.parent / "shared" / "data" / "reddit"
FILES = {"janash_wallstreetbets": "janash_wallstreetbets_comments_sample.csv",
         "janash_stocks": "janash_stocks_comments_sample.csv"}
EVAL = REPO / "eval" / "sentiment" / "labels.csv"
BEARISH_VOCAB = re.compile(
    r"\b(?:puts?|shorts?|shorting|shorted|crash(?:es|ed|ing)?|drill(?:s|ed|ing)?|bag ?hold(?:ing|er|ers)?"
    r"|rug ?pull(?:ed|s)?|dead cat|dump(?:s|ed|ing)?|tank(?:s|ed|ing)?|bubble|overvalued|bear(?:s|ish)?)\b",
    re.IGNORECASE)


def normalised(text: str) -> str:
    return re.sub(r"[^a-z0-9$]+", " ", text.lower()).strip()


def pool(shared: Path = SHARED) -> pd.DataFrame:
    """The comments that may be drawn, with the tickers the linker finds in each."""
    labels = pd.read_csv(EVAL, dtype=str, keep_default_na=False)
    linker = default_linker()
    parts = []
    for dataset, file in FILES.items():
        df = pd.read_csv(shared / file, dtype=str)
        held = set(labels.loc[labels["dataset"] == dataset, "comment_id"])
        threads = set(df.loc[df["comment_id"].isin(held), "post_id"])
        df = df[~df["comment_id"].isin(held) & ~df["post_id"].isin(threads) & df["comment"].notna()]
        df = df[~df["comment"].str.strip().isin(["[deleted]", "[removed]"])]
        df = df[df["comment"].str.len().between(20, 500)]
        parts.append(df.assign(dataset=dataset))
    df = pd.concat(parts, ignore_index=True)
    df = df[~df["comment"].map(normalised).duplicated()]
    df["tickers_found"] = [list(dict.fromkeys(m.ticker for m in linker.link(clean_text(t)))) for t in df["comment"]]
    df = df[df["tickers_found"].map(len) > 0].reset_index(drop=True)
    df["bearish_vocab"] = df["comment"].str.contains(BEARISH_VOCAB)
    return df


def draw(df: pd.DataFrame, sizes: dict[str, int], seed: int) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    taken = np.zeros(len(df), dtype=bool)
    picks = []
    wants = {"bearish_vocab": df["bearish_vocab"].to_numpy(),
             "multi_ticker": (df["tickers_found"].map(len) >= 2).to_numpy(),
             "random": np.ones(len(df), dtype=bool)}
    for name, n in sizes.items():
        idx = np.flatnonzero(wants[name] & ~taken)
        got = rng.choice(idx, size=min(n, len(idx)), replace=False)
        taken[got] = True
        picks.append(df.iloc[got].assign(draw=name))
    return pd.concat(picks, ignore_index=True)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", required=True, type=Path, help="folder for the batches (outside the repository)")
    ap.add_argument("--bearish-vocab", type=int, default=1200)
    ap.add_argument("--multi-ticker", type=int, default=500)
    ap.add_argument("--random", type=int, default=700)
    ap.add_argument("--batches", type=int, default=8)
    ap.add_argument("--second-share", type=float, default=0.10)
    ap.add_argument("--seed", type=int, default=2026)
    args = ap.parse_args()
    if args.out.resolve().is_relative_to(REPO):
        ap.error("--out must lie outside the repository: the batches hold comment text")

    df = pool()
    sample = draw(df, {"bearish_vocab": args.bearish_vocab, "multi_ticker": args.multi_ticker,
                       "random": args.random}, args.seed)
    rng = np.random.default_rng(args.seed + 1)
    sample = sample.iloc[rng.permutation(len(sample))].reset_index(drop=True)
    sample["batch"] = np.arange(len(sample)) % args.batches
    second = rng.random(len(sample)) < args.second_share
    sample["second_batch"] = np.where(second, (sample["batch"] + 1 + rng.integers(0, args.batches - 1, len(sample)))
                                      % args.batches, -1)
    args.out.mkdir(parents=True, exist_ok=True)
    for b in range(args.batches):
        rows = sample[(sample["batch"] == b) | (sample["second_batch"] == b)]
        rows = rows.iloc[rng.permutation(len(rows))]
        with open(args.out / f"batch_{b:02d}.jsonl", "w", encoding="utf-8") as f:
            for r in rows.itertuples():
                f.write(json.dumps({"dataset": r.dataset, "comment_id": r.comment_id, "text": r.comment,
                                    "tickers": r.tickers_found}, ensure_ascii=False) + "\n")
    sample[["dataset", "comment_id", "post_id", "draw", "batch", "second_batch"]].to_csv(args.out / "sample.csv",
                                                                                         index=False)
    pairs = sample["tickers_found"].map(len)
    print(f"pool {len(df)} comments ({int(df['bearish_vocab'].sum())} with bearish vocabulary); drew {len(sample)}: "
          + ", ".join(f"{k} {v}" for k, v in sample["draw"].value_counts().items())
          + f"; {int(pairs.sum())} (comment, ticker) pairs to judge; {int(second.sum())} comments read twice")


if __name__ == "__main__":
    main()
