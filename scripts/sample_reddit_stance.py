#!/usr/bin/env python
"""Draw the real Reddit comments that the project labels for stance training, and write the
annotators' batches (with text) to a folder outside the repository.

    python scripts/sample_reddit_stance.py --out /tmp/labelling

The pool is every comment of ../shared/data/reddit/janash_{wallstreetbets,stocks}_comments_sample.csv
that
- is not an evaluation comment (eval/sentiment/labels.csv) and sits in none of their threads
  (the same ``post_id``): nothing of an evaluation thread is ever trained on;
- is 20-500 characters (``--min-chars``/``--max-chars``; a third round drew 501-1,200), not ``[deleted]``/``[removed]``, and not a repeat of an earlier
  comment's normalised text;
- names at least one ticker the linker finds (``sentiment.tickers``), after
  :func:`sentiment.text.clean_text`: only such (comment, ticker) pairs reach the stance model.

Three draws, each uniform at random within its own pool (seed ``--seed``), none repeating a comment:
- ``bearish_vocab``: comments with bearish vocabulary (:data:`BEARISH_VOCAB`: puts, short, crash,
  drill, bagholding, rug pull, dead cat, dump, tank, bubble, overvalued, bear);
- ``multi_ticker``: comments naming two or more tickers (most of the evaluation pairs sit in such posts);
- ``random``: any comment of the pool;
- ``bearish_vocab_model`` (a second round, ``--exclude`` naming the first round's sample.csv): comments
  with bearish vocabulary (:data:`BEARISH_VOCAB` or :data:`STRONG_BEARISH`) and no squeeze or moon talk
  that the shipped default model also reads as bearish (its p_bearish over 0.3 or a bearish stance
  toward a ticker). The first round's bearish-vocabulary draw held only 21 % bearish pairs (squeeze
  talk, "short" as in short sellers); this draw lifts the bearish share of the labels to the quarter
  the issue asks for;
- ``model_bearish`` (second round): comments of a random ``--model-screen`` of the rest of the pool, whatever
  their words, that the default reads as bearish (as above): bearish talk without the listed vocabulary;
- ``screened_bearish`` (a fourth round): the comments of the rest of the pool that a TF-IDF logistic
  regression, fitted on the comment labels of the earlier rounds (models/crowd_data/reddit_stance_labels.csv,
  bearish against the rest), ranks most bearish: the earlier draws ended just short of a quarter bearish.
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


STRONG_BEARISH = re.compile(
    r"\b(?:overvalued|to zero|going to 0|dump(?:s|ed|ing)?|bag ?hold(?:ing|er|ers)?|rug ?pull|dead cat|puts on"
    r"|bought puts|my puts|crash(?:es|ed|ing)?|bubble|tank(?:s|ed|ing)?|drill(?:s|ed|ing)?|avoid|scam|fraud"
    r"|bankrupt(?:cy)?|bearish|worthless|short(?:ing)? it|sell(?:ing)? (?:it|now|everything))\b", re.IGNORECASE)
NOT_BEARISH = re.compile(r"squeeze|gamma|moon|tendies", re.IGNORECASE)


def normalised(text: str) -> str:
    return re.sub(r"[^a-z0-9$]+", " ", text.lower()).strip()


def pool(shared: Path = SHARED, chars: tuple[int, int] = (20, 500)) -> pd.DataFrame:
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
        df = df[df["comment"].str.len().between(*chars)]
        parts.append(df.assign(dataset=dataset))
    df = pd.concat(parts, ignore_index=True)
    df = df[~df["comment"].map(normalised).duplicated()]
    df["tickers_found"] = [list(dict.fromkeys(m.ticker for m in linker.link(clean_text(t)))) for t in df["comment"]]
    df = df[df["tickers_found"].map(len) > 0].reset_index(drop=True)
    df["bearish_vocab"] = df["comment"].str.contains(BEARISH_VOCAB)
    return df


def model_reads_bearish(df: pd.DataFrame, spec: str = "default") -> np.ndarray:
    """Whether the model ``spec`` reads each comment as bearish: p_bearish over 0.3 or a bearish ticker stance."""
    from models import load_model
    from sentiment.analyze import analyze_posts

    posts = pd.DataFrame({"source": df["dataset"], "id": df["comment_id"], "body": df["comment"]})
    got = analyze_posts(posts, load_model(spec), themes=False, progress=True)
    bear = set(zip(got.scores["source"][got.scores["p_bearish"] > 0.3], got.scores["post_id"][got.scores["p_bearish"] > 0.3]))
    st = got.stances[got.stances["label"] == "bearish"]
    bear |= set(zip(st["source"], st["post_id"]))
    return np.array([(d, c) in bear for d, c in zip(df["dataset"], df["comment_id"])])


def bearish_ranking(df: pd.DataFrame) -> np.ndarray:
    """Positions of ``df``'s comments from most to least bearish by a TF-IDF logistic regression fitted on
    the labelled comments so far (their own label: bearish against bullish, neutral and mixed)."""
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import LogisticRegression

    from sentiment.stance_data import read_reddit_stances

    seen = read_reddit_stances(REPO / "models" / "crowd_data" / "reddit_stance_labels.csv", SHARED)
    vec = TfidfVectorizer(ngram_range=(1, 2), min_df=2, sublinear_tf=True)
    fit = LogisticRegression(max_iter=2000, C=4.0, class_weight="balanced").fit(
        vec.fit_transform(seen["text"]), seen["comment_label"] == "bearish")
    return np.argsort(-fit.predict_proba(vec.transform(df["comment"]))[:, 1], kind="stable")


def draw(df: pd.DataFrame, sizes: dict[str, int], seed: int, screen_size: int = 8000) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    taken = np.zeros(len(df), dtype=bool)
    picks = []
    wants = {"bearish_vocab": lambda: df["bearish_vocab"].to_numpy(),
             "multi_ticker": lambda: (df["tickers_found"].map(len) >= 2).to_numpy(),
             "random": lambda: np.ones(len(df), dtype=bool)}
    for name, n in sizes.items():
        if not n:
            continue
        if name == "bearish_vocab_model":
            strong = ((df["bearish_vocab"] | df["comment"].str.contains(STRONG_BEARISH))
                      & ~df["comment"].str.contains(NOT_BEARISH)).to_numpy()
            wanted = strong.copy()
            wanted[strong] = model_reads_bearish(df[strong])
        elif name == "screened_bearish":
            wanted = np.zeros(len(df), dtype=bool)
            free = np.flatnonzero(~taken)
            rank = bearish_ranking(df.iloc[free])
            wanted[free[rank[:n]]] = True
        elif name == "model_bearish":
            wanted = np.zeros(len(df), dtype=bool)
            free = np.flatnonzero(~taken)
            screen = rng.choice(free, size=min(screen_size, len(free)), replace=False)
            wanted[screen] = model_reads_bearish(df.iloc[screen])
        else:
            wanted = wants[name]()
        idx = np.flatnonzero(wanted & ~taken)
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
    ap.add_argument("--bearish-vocab-model", type=int, default=0)
    ap.add_argument("--model-bearish", type=int, default=0)
    ap.add_argument("--screened-bearish", type=int, default=0)
    ap.add_argument("--model-screen", type=int, default=8000, help="comments the model reads for the model_bearish draw")
    ap.add_argument("--exclude", type=Path, nargs="+", help="earlier rounds' sample files: none of their comments is drawn again")
    ap.add_argument("--min-chars", type=int, default=20)
    ap.add_argument("--max-chars", type=int, default=500)
    ap.add_argument("--first-batch", type=int, default=0, help="number of the first batch file written")
    ap.add_argument("--batches", type=int, default=8)
    ap.add_argument("--second-share", type=float, default=0.10)
    ap.add_argument("--seed", type=int, default=2026)
    args = ap.parse_args()
    if args.out.resolve().is_relative_to(REPO):
        ap.error("--out must lie outside the repository: the batches hold comment text")

    df = pool(chars=(args.min_chars, args.max_chars))
    if args.exclude:
        done = pd.concat([pd.read_csv(p, dtype=str) for p in args.exclude])
        df = df[~pd.MultiIndex.from_frame(df[["dataset", "comment_id"]]).isin(
            pd.MultiIndex.from_frame(done[["dataset", "comment_id"]]))].reset_index(drop=True)
    sample = draw(df, {"bearish_vocab": args.bearish_vocab, "multi_ticker": args.multi_ticker,
                       "random": args.random, "bearish_vocab_model": args.bearish_vocab_model,
                       "model_bearish": args.model_bearish, "screened_bearish": args.screened_bearish},
                  args.seed, args.model_screen)
    rng = np.random.default_rng(args.seed + 1)
    sample = sample.iloc[rng.permutation(len(sample))].reset_index(drop=True)
    first = args.first_batch
    sample["batch"] = first + np.arange(len(sample)) % args.batches
    second = rng.random(len(sample)) < args.second_share
    sample["second_batch"] = np.where(
        second, first + (sample["batch"] - first + 1 + rng.integers(0, args.batches - 1, len(sample))) % args.batches, -1)
    args.out.mkdir(parents=True, exist_ok=True)
    for b in range(first, first + args.batches):
        rows = sample[(sample["batch"] == b) | (sample["second_batch"] == b)]
        rows = rows.iloc[rng.permutation(len(rows))]
        with open(args.out / f"batch_{b:02d}.jsonl", "w", encoding="utf-8") as f:
            for r in rows.itertuples():
                f.write(json.dumps({"dataset": r.dataset, "comment_id": r.comment_id, "text": r.comment,
                                    "tickers": r.tickers_found}, ensure_ascii=False) + "\n")
    name = "sample.csv" if not first else f"sample_from_{first:02d}.csv"
    sample[["dataset", "comment_id", "post_id", "draw", "batch", "second_batch"]].to_csv(args.out / name, index=False)
    pairs = sample["tickers_found"].map(len)
    print(f"pool {len(df)} comments ({int(df['bearish_vocab'].sum())} with bearish vocabulary); drew {len(sample)}: "
          + ", ".join(f"{k} {v}" for k, v in sample["draw"].value_counts().items())
          + f"; {int(pairs.sum())} (comment, ticker) pairs to judge; {int(second.sum())} comments read twice")


if __name__ == "__main__":
    main()
