"""Rebuild the shipped TF-IDF baseline (models/tfidf.joblib).

Trains on Twitter Financial News sent_train.csv (MIT; labels 0=bearish 1=bullish 2=neutral)
and prints its accuracy on sent_valid.csv.

    python scripts/build_tfidf.py [--train ../shared/data/twitter_fin_news/sent_train.csv]
"""
from __future__ import annotations

import argparse
from pathlib import Path

import joblib

from models.baselines import TFIDF_PATH, fit_tfidf
from models.data import read_labeled

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT.parent / "shared" / "data" / "twitter_fin_news"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--train", type=Path, default=DATA / "sent_train.csv")
    ap.add_argument("--valid", type=Path, default=DATA / "sent_valid.csv")
    ap.add_argument("--out", type=Path, default=TFIDF_PATH)
    args = ap.parse_args()
    train = read_labeled(args.train)
    pipe = fit_tfidf(train)
    joblib.dump(pipe, args.out, compress=3)
    print(f"wrote {args.out} ({args.out.stat().st_size / 1e6:.2f} MB) from {len(train)} rows of {args.train}")
    if args.valid.exists():
        valid = read_labeled(args.valid)
        acc = (pipe.predict(valid["text"].tolist()) == valid["label"].to_numpy()).mean()
        print(f"accuracy on {args.valid.name}: {acc:.4f} ({len(valid)} rows)")


if __name__ == "__main__":
    main()
