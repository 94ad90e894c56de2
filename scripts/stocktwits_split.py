#!/usr/bin/env python
"""Write the held-out split of the author-tagged StockTwits set, for measurement only.

    python scripts/stocktwits_split.py --write-test /tmp/stocktwits_test.csv
    crowdpulse models eval --model default --data /tmp/stocktwits_test.csv

The split is fixed by each message's own text (models/stocktwits.py: deduplicated on normalised text,
the md5 of it divisible by 5 = test); scripts/train_default.py trains only on the other part. The file
written holds real message text, so keep it outside the repository.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from models.stocktwits import read_author_tagged  # noqa: E402

DEFAULT = REPO.parent / "shared" / "data" / "stocktwits" / "amoooma_stocktwits_labelled.csv"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", type=Path, default=DEFAULT, help="the amoooma file (default: ../shared/data/stocktwits/...)")
    ap.add_argument("--write-test", type=Path, required=True, metavar="FILE", help="CSV (text,label) to write")
    ap.add_argument("--split", choices=["test", "train"], default="test")
    args = ap.parse_args()
    if not args.data.is_file():
        ap.error(f"{args.data} is not there (the set lives in ../shared/data/stocktwits)")
    if args.write_test.resolve().is_relative_to(REPO):
        ap.error("--write-test must lie outside the repository: the file holds message text")
    df = read_author_tagged(args.data)
    part = df[df["split"] == args.split]
    part[["text", "label"]].to_csv(args.write_test, index=False)
    counts = part["label"].value_counts()
    print(f"wrote {args.write_test}: {len(part)} messages of the {args.split} split "
          f"(bullish {counts.get('bullish', 0)}, bearish {counts.get('bearish', 0)}) of {len(df)} after deduplication")


if __name__ == "__main__":
    main()
