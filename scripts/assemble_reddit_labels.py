#!/usr/bin/env python
"""Join the annotators' label files into models/crowd_data/reddit_stance_labels.csv (ids and labels only).

    python scripts/assemble_reddit_labels.py --labelling /tmp/labelling

``--labelling`` is the folder scripts/sample_reddit_stance.py wrote (``sample*.csv``: which comment is in
which batch, and which batch re-reads it blind) and where each annotator wrote ``labels_NN.csv``
(``dataset,comment_id,ticker,stance,comment_label``, one row per (comment, ticker the linker found)).
A comment's labels from the batch it was drawn into are the ``first`` reader's; from the batch that
re-read it, the ``second``'s. Prints the counts per draw and the two readers' agreement.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

import pandas as pd

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from sentiment.stance_data import REDDIT_LABEL_COLUMNS  # noqa: E402

OUT = REPO / "models" / "crowd_data" / "reddit_stance_labels.csv"


def assemble(folder: Path) -> pd.DataFrame:
    sample = pd.concat([pd.read_csv(p, dtype=str) for p in sorted(folder.glob("sample*.csv"))], ignore_index=True)
    if sample.duplicated(["dataset", "comment_id"]).any():
        raise SystemExit("a comment is drawn twice across the sample files")
    parts = []
    for p in sorted(folder.glob("labels_*.csv")):
        parts.append(pd.read_csv(p, dtype=str, keep_default_na=False).assign(annotated=p.stem.split("_")[1].lstrip("0") or "0"))
    labels = pd.concat(parts, ignore_index=True).merge(sample, on=["dataset", "comment_id"], how="left")
    if labels["draw"].isna().any():
        raise SystemExit(f"{int(labels['draw'].isna().sum())} labelled rows are of comments in no sample file")
    first = labels["annotated"] == labels["batch"]
    second = labels["annotated"] == labels["second_batch"]
    if not (first | second).all():
        raise SystemExit("a comment was labelled in a batch that neither drew nor re-read it")
    labels["reader"] = ["first" if f else "second" for f in first]
    drawn = sample.assign(key=sample["dataset"] + "/" + sample["comment_id"])
    got = set(labels.loc[first, "dataset"] + "/" + labels.loc[first, "comment_id"])
    missing = set(drawn["key"]) - got
    if missing:
        raise SystemExit(f"{len(missing)} drawn comments have no first-reader labels, e.g. {sorted(missing)[:3]}")
    out = labels[REDDIT_LABEL_COLUMNS].sort_values(["reader", "dataset", "comment_id", "ticker"])
    return out.reset_index(drop=True)


def agreement(df: pd.DataFrame) -> dict:
    from sklearn.metrics import accuracy_score, cohen_kappa_score, f1_score

    key = ["dataset", "comment_id", "ticker"]
    both = df[df["reader"] == "first"].merge(df[df["reader"] == "second"], on=key, suffixes=("_1", "_2"))
    both = both[(both["stance_1"] != "not_a_ticker") & (both["stance_2"] != "not_a_ticker")]
    a, b = both["stance_1"], both["stance_2"]
    return {"pairs": len(both), "comments": both[["dataset", "comment_id"]].drop_duplicates().shape[0],
            "accuracy": accuracy_score(a, b), "macro_f1": f1_score(a, b, average="macro"),
            "kappa": cohen_kappa_score(a, b), "confusion": pd.crosstab(a.rename("first"), b.rename("second"))}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--labelling", type=Path, required=True)
    ap.add_argument("--out", type=Path, default=OUT)
    args = ap.parse_args()
    df = assemble(args.labelling)
    df.to_csv(args.out, index=False)
    first = df[(df["reader"] == "first") & (df["stance"] != "not_a_ticker")]
    print(f"wrote {args.out}: {df[df['reader'] == 'first'][['dataset', 'comment_id']].drop_duplicates().shape[0]} comments, "
          f"{len(first)} (comment, ticker) pairs, {int((df['stance'] == 'not_a_ticker').sum())} linker errors marked")
    print(pd.crosstab(first["draw"], first["stance"], margins=True).to_string())
    print(f"bearish share: {(first['stance'] == 'bearish').mean():.3f}")
    ag = agreement(df)
    print(f"second reader: {ag['pairs']} pairs of {ag['comments']} comments; accuracy {ag['accuracy']:.3f}, "
          f"macro-F1 {ag['macro_f1']:.3f}, Cohen's kappa {ag['kappa']:.3f}")
    print(ag["confusion"].to_string())


if __name__ == "__main__":
    main()
