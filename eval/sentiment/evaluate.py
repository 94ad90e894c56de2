"""Evaluate ticker linking, per-ticker stance and themes on the hand-labelled reddit comments.

The labels (eval/sentiment/labels.csv) hold ids only; the text is read from
../shared/data/reddit/janash_*_comments_sample.csv. Each row: dataset, comment_id, split
(tune | test, by md5 of the id), tickers ("IWM:bullish|TLT:bearish", empty = names no ticker),
themes ("rate_cuts|recession", empty = no theme). See docs/labelling_guide.md.
eval/sentiment/labels_second.csv holds a second annotator's stance of the same pairs, labelled
blind; the report prints their agreement beside the model's stance figures.

    python eval/sentiment/evaluate.py                 # report the test split with the default model
    python eval/sentiment/evaluate.py --model vader   # another model
    python eval/sentiment/evaluate.py --tune          # tune theme thresholds on the tune split, write themes.toml

It first checks the linker on eval/sentiment/cashtags_written.csv, messages written for the project
with one cashtag form each ($amrn, $Roku, $ENB.CA, $BRK.B, $IWM.Then, and money such as $5k or $usd).

Figures are reported on the test split; theme thresholds are tuned on the tune split only.
"""
from __future__ import annotations

import argparse
import re
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))
from models.labels import LABELS  # noqa: E402  (after the path insert)

SHARED = ROOT.parent / "shared" / "data" / "reddit"
LABELS_CSV = Path(__file__).resolve().parent / "labels.csv"
#: A second annotator's stances on the same (comment, ticker) pairs, labelled blind to labels.csv.
SECOND_CSV = Path(__file__).resolve().parent / "labels_second.csv"
STANCES = list(LABELS)
#: The project's own written multi-ticker posts, one stance per ticker, held out from all training.
WRITTEN_CSV = ROOT / "models" / "crowd_data" / "stance_test_mixed.csv"
#: Messages written for the project, one per cashtag form, with the tickers each must link.
CASHTAGS_CSV = Path(__file__).resolve().parent / "cashtags_written.csv"
FILES = {"janash_wallstreetbets": "janash_wallstreetbets_comments_sample.csv",
         "janash_stocks": "janash_stocks_comments_sample.csv"}


def load() -> pd.DataFrame | None:
    labels = pd.read_csv(LABELS_CSV, dtype=str, keep_default_na=False)
    texts = []
    for name, file in FILES.items():
        path = SHARED / file
        if not path.exists():
            return None
        df = pd.read_csv(path, usecols=["comment_id", "comment"], dtype=str)
        texts.append(df.assign(dataset=name))
    text = pd.concat(texts).drop_duplicates(["dataset", "comment_id"])
    out = labels.merge(text, on=["dataset", "comment_id"], how="left")
    missing = out["comment"].isna().sum()
    if missing:
        raise SystemExit(f"{missing} labelled comments are not in {SHARED}")
    return out


def gold_pairs(row) -> dict[str, str]:
    return dict(x.split(":") for x in row.tickers.split("|") if x)


def linking_scores(df: pd.DataFrame) -> dict:
    return link_counts((row.comment_id, row.comment, set(gold_pairs(row))) for row in df.itertuples())


def link_counts(items) -> dict:
    """Precision and recall of the linker over ``(id, text, gold tickers)`` items; ``errors`` lists
    ``(id, extra, missed)`` for every text whose linked tickers differ from its gold ones."""
    from sentiment.tickers import tickers_in
    from sentiment.text import clean_text

    tp = fp = fn = 0
    errors = []
    for key, text, gold in items:
        pred = set(tickers_in(clean_text(text)))
        tp += len(gold & pred)
        fp += len(pred - gold)
        fn += len(gold - pred)
        if gold != pred:
            errors.append((key, sorted(pred - gold), sorted(gold - pred)))
    return {"precision": tp / max(tp + fp, 1), "recall": tp / max(tp + fn, 1), "tp": tp, "fp": fp, "fn": fn,
            "errors": errors}


def written_cashtags(path: Path = CASHTAGS_CSV) -> dict:
    """Linking on the project's written cashtag messages (lower case, mixed case, exchange and class
    suffixes, and money that is no ticker), one row per message with its tickers ("A|B", empty = none)."""
    rows = pd.read_csv(path, dtype=str, keep_default_na=False)
    got = link_counts((f"{i + 2}: {r.text}", r.text, set(filter(None, r.tickers.split("|"))))
                      for i, r in enumerate(rows.itertuples()))
    return {"messages": len(rows), "forms": sorted(set(rows["form"])), **got}


def run_analysis(df: pd.DataFrame, model, encoder, stance_model=None, stance_weight: float | None = None,
                 stance_scope: str | None = None):
    from sentiment.analyze import analyze_posts

    posts = pd.DataFrame({"source": df["dataset"], "id": df["comment_id"], "thread_id": None,
                          "parent_id": None, "title": None, "body": df["comment"]})
    return analyze_posts(posts, model, encoder=encoder, themes=False, stance_model=stance_model,
                         stance_weight=stance_weight, stance_scope=stance_scope)


def stance_scores(df: pd.DataFrame, analysis) -> dict:
    from sklearn.metrics import accuracy_score, f1_score

    st = {(r.post_id, r.ticker): r.label for r in analysis.stances.itertuples()}
    post = {r.post_id: r.label for r in analysis.scores.itertuples()}
    y, p, linked = [], [], []
    for row in df.itertuples():
        for ticker, label in gold_pairs(row).items():
            y.append(label)
            got = st.get((row.comment_id, ticker))
            linked.append(got is not None)
            p.append(got if got is not None else post[row.comment_id])
    y, p, linked = np.array(y), np.array(p), np.array(linked)
    labels = STANCES
    return {
        "n": len(y), "accuracy": accuracy_score(y, p), "macro_f1": f1_score(y, p, labels=labels, average="macro"),
        "n_linked": int(linked.sum()),
        "accuracy_linked": accuracy_score(y[linked], p[linked]),
        "macro_f1_linked": f1_score(y[linked], p[linked], labels=labels, average="macro"),
        "gold_counts": pd.Series(y).value_counts().to_dict(),
        "per_label_f1": dict(zip(labels, f1_score(y, p, labels=labels, average=None))),
    }


def written_stance(model, stance_model, stance_weight: float | None, stance_scope: str | None = None) -> dict:
    """Per-ticker stance on :data:`WRITTEN_CSV` through ``analyze_posts``, scored as the reddit pairs are."""
    from sentiment.stance_data import read_stance_posts

    written = read_stance_posts(WRITTEN_CSV)
    df = pd.DataFrame({"dataset": "written", "comment_id": [str(i) for i in range(len(written))],
                       "comment": written["text"],
                       "tickers": ["|".join(f"{t}:{lab}" for t, lab in s.items()) for s in written["stances"]]})
    analysis = run_analysis(df, model, None, stance_model=stance_model, stance_weight=stance_weight,
                            stance_scope=stance_scope)
    return {"posts": len(written), **stance_scores(df, analysis)}


def agreement(df: pd.DataFrame) -> dict:
    """How far a second annotator (eval/sentiment/labels_second.csv, blind to the first) agrees
    with labels.csv on the stance of the (comment, ticker) pairs of ``df``: accuracy, macro-F1
    (the first annotator as reference, as the model is scored), Cohen's kappa, confusion."""
    from sklearn.metrics import accuracy_score, cohen_kappa_score, f1_score

    second = pd.read_csv(SECOND_CSV, dtype=str, keep_default_na=False)
    by_pair = {(d, c, t): s for d, c, t, s in second[["dataset", "comment_id", "ticker", "stance"]].itertuples(index=False)}
    first, other = [], []
    for row in df.itertuples():
        for ticker, label in gold_pairs(row).items():
            got = by_pair.get((row.dataset, row.comment_id, ticker))
            if got is None:
                raise SystemExit(f"{SECOND_CSV.name} has no stance for {row.dataset} {row.comment_id} {ticker}")
            first.append(label)
            other.append(got)
    return {"n": len(first), "accuracy": accuracy_score(first, other),
            "macro_f1": f1_score(first, other, labels=STANCES, average="macro"),
            "kappa": cohen_kappa_score(first, other),
            "per_label_f1": dict(zip(STANCES, f1_score(first, other, labels=STANCES, average=None))),
            "confusion": pd.crosstab(pd.Series(first, name="first"), pd.Series(other, name="second"))}


def theme_matrix(df: pd.DataFrame, ids: list[str]) -> np.ndarray:
    gold = np.zeros((len(df), len(ids)), dtype=bool)
    for i, themes in enumerate(df["themes"]):
        for t in filter(None, themes.split("|")):
            gold[i, ids.index(t)] = True
    return gold


def theme_scores(df: pd.DataFrame, scores: np.ndarray, thresholds: np.ndarray, ids: list[str]) -> tuple[pd.DataFrame, dict]:
    gold = theme_matrix(df, ids)
    pred = scores >= thresholds
    rows = []
    for k, t in enumerate(ids):
        tp = int((pred[:, k] & gold[:, k]).sum())
        fp = int((pred[:, k] & ~gold[:, k]).sum())
        fn = int((~pred[:, k] & gold[:, k]).sum())
        rows.append({"theme": t, "gold": int(gold[:, k].sum()), "tp": tp, "fp": fp, "fn": fn,
                     "precision": tp / (tp + fp) if tp + fp else float("nan"),
                     "recall": tp / (tp + fn) if tp + fn else float("nan")})
    tab = pd.DataFrame(rows)
    tp, fp, fn = tab.tp.sum(), tab.fp.sum(), tab.fn.sum()
    micro = {"precision": tp / max(tp + fp, 1), "recall": tp / max(tp + fn, 1),
             "f1": 2 * tp / max(2 * tp + fp + fn, 1), "judgements": gold.size, "positives": int(gold.sum())}
    return tab, micro


# theme scores run 0-1 (sentiment.themes): the 0.40-0.90 grid of the former similarity + 0.5 scale, divided by 1.5
GRID = np.round(np.arange(0.40, 0.901, 0.05) / 1.5, 4)
MIN_POSITIVES = 3


def tune_thresholds(scores: np.ndarray, gold: np.ndarray, default: float) -> np.ndarray:
    """Per theme, the grid threshold (0.267..0.600) with the best F1 on the tune split.

    Ties go to the threshold nearest the default; a theme with fewer than three positives in the
    tune split keeps the default (too few to tune on).
    """
    out = np.full(scores.shape[1], default)
    for k in range(scores.shape[1]):
        if gold[:, k].sum() < MIN_POSITIVES:
            continue
        best = None
        for th in GRID:
            pred = scores[:, k] >= th
            tp = (pred & gold[:, k]).sum()
            f1 = 2 * tp / max(2 * tp + (pred & ~gold[:, k]).sum() + (~pred & gold[:, k]).sum(), 1)
            key = (f1, -abs(th - default))
            if best is None or key > best[0]:
                best = (key, float(th))
        out[k] = best[1]
    return out


def write_thresholds(path: Path, ids: list[str], thresholds: np.ndarray) -> None:
    text = path.read_text(encoding="utf-8")
    for t, th in zip(ids, thresholds):
        pattern = re.compile(rf'(id = "{re.escape(t)}"(?:(?!\[\[theme\]\]).)*?threshold = )[0-9.]+', re.S)
        text, n = pattern.subn(rf"\g<1>{th:.4f}", text, count=1)
        if n != 1:
            raise SystemExit(f"could not set the threshold of {t} in {path}")
    path.write_text(text, encoding="utf-8")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", default="default", help="model spec for the stance evaluation (default: default)")
    ap.add_argument("--split", default="test", choices=["test", "tune", "all"], help="split to report")
    ap.add_argument("--tune", action="store_true", help="tune theme thresholds on the tune split and write them")
    ap.add_argument("--errors", action="store_true", help="list linking errors of the reported split")
    ap.add_argument("--stance-weight", type=float, default=None,
                    help="share of the stance model in a ticker's stance (default: sentiment.analyze.STANCE_WEIGHT); "
                         "compare values on --split tune")
    ap.add_argument("--no-stance-model", action="store_true",
                    help="judge tickers by the clause mean even where the model carries a target-aware stance model")
    ap.add_argument("--self-stance", action="store_true",
                    help="the model judges each ticker itself on the ticker-marked post (a model trained on marked text)")
    ap.add_argument("--stance-scope", choices=["all", "multi"], default=None,
                    help="which posts the stance model reads: every named ticker, or only posts naming two or more "
                         "(default: what the model carries, else all)")
    args = ap.parse_args()

    written = written_cashtags()
    print(f"written cashtag messages ({CASHTAGS_CSV.relative_to(ROOT)}, {written['messages']} messages: "
          f"{', '.join(written['forms'])}): precision {written['precision']:.3f}  recall {written['recall']:.3f}  "
          f"(tp {written['tp']}, fp {written['fp']}, fn {written['fn']})")
    for line, extra, missed in written["errors"]:
        print(f"  line {line}: extra {extra} missed {missed}")
    df = load()
    if df is None:
        print(f"skipped: {SHARED} is not available (the labels hold ids only)")
        return 0
    from models.encoder import default_encoder as get_encoder
    from sentiment.themes import THEMES_FILE, ThemeScorer, load_taxonomy

    taxonomy = load_taxonomy(THEMES_FILE)
    scorer = ThemeScorer(taxonomy, get_encoder())
    ids = taxonomy.ids
    from sentiment.text import clean_text

    all_scores = scorer.scores([clean_text(t) for t in df["comment"]])
    if args.tune:
        tune = (df["split"] == "tune").to_numpy()
        th = tune_thresholds(all_scores[tune], theme_matrix(df[tune], ids), taxonomy.default_threshold)
        write_thresholds(THEMES_FILE, ids, th)
        print("tuned on the tune split (%d comments) and wrote %s:" % (tune.sum(), THEMES_FILE))
        for t, v in zip(ids, th):
            print(f"  {t:24s} {v:.3f}")
        taxonomy = load_taxonomy(THEMES_FILE)
        scorer = ThemeScorer(taxonomy, get_encoder())

    part = df if args.split == "all" else df[df["split"] == args.split]
    mask = df.index.isin(part.index)
    print(f"split: {args.split} ({len(part)} comments; labels {LABELS_CSV.relative_to(ROOT)})\n")

    link = linking_scores(part)
    print(f"ticker linking: precision {link['precision']:.3f}  recall {link['recall']:.3f}  "
          f"(tp {link['tp']}, fp {link['fp']}, fn {link['fn']})")
    if args.errors:
        for cid, extra, missed in link["errors"]:
            print(f"  {cid}: extra {extra} missed {missed}")

    tab, micro = theme_scores(part, all_scores[mask], scorer.thresholds(), ids)
    print(f"\nthemes ({micro['judgements']} judgements, {micro['positives']} positive): micro precision "
          f"{micro['precision']:.3f}  recall {micro['recall']:.3f}  F1 {micro['f1']:.3f}")
    print(tab.to_string(index=False, float_format=lambda v: f"{v:.2f}"))

    from models import load_model
    from sentiment.analyze import STANCE_WEIGHT

    model = load_model(args.model)
    t0 = time.perf_counter()
    judge = False if args.no_stance_model else model if args.self_stance else getattr(model, "stance_model", None)
    weight = args.stance_weight if args.stance_weight is not None else getattr(judge or model, "stance_weight", None) \
        or STANCE_WEIGHT
    scope = args.stance_scope or getattr(judge or model, "stance_scope", None) or "all"
    analysis = run_analysis(part, model, get_encoder(), stance_model=judge, stance_weight=weight, stance_scope=scope)
    st = stance_scores(part, analysis)
    how = (("the model itself on ticker-marked posts" if judge is model else "target-aware stance model")
           + f", weight {weight}, scope {scope}") if judge else "clause mean"
    print(f"\nstance ({model.model_id}, {how}, {st['n']} (comment, ticker) pairs, gold {st['gold_counts']}, "
          f"{time.perf_counter() - t0:.1f}s):")
    print(f"  all gold pairs:    accuracy {st['accuracy']:.3f}  macro-F1 {st['macro_f1']:.3f}  "
          f"(a ticker the linker missed gets the post's label)")
    print(f"  linked pairs only: accuracy {st['accuracy_linked']:.3f}  macro-F1 {st['macro_f1_linked']:.3f}  "
          f"(n={st['n_linked']})")
    print("  per-label F1: " + ", ".join(f"{k} {v:.3f}" for k, v in st["per_label_f1"].items()))
    agree = agreement(part)
    print(f"  a second annotator on the same pairs: accuracy {agree['accuracy']:.3f}  macro-F1 {agree['macro_f1']:.3f}  "
          f"Cohen's kappa {agree['kappa']:.3f}  (per-label F1: "
          + ", ".join(f"{k} {v:.3f}" for k, v in agree["per_label_f1"].items()) + ")")
    w = written_stance(model, judge, weight, scope)
    print(f"  the project's written multi-ticker test posts ({WRITTEN_CSV.relative_to(ROOT)}, {w['posts']} posts, "
          f"{w['n']} pairs, any split): accuracy {w['accuracy']:.3f}  macro-F1 {w['macro_f1']:.3f}  (per-label F1: "
          + ", ".join(f"{k} {v:.3f}" for k, v in w["per_label_f1"].items()) + ")")
    print("\nrerun: python eval/sentiment/evaluate.py --model %s --split %s%s"
          % (args.model, args.split, " --no-stance-model" if args.no_stance_model
             else (" --self-stance" if args.self_stance else "")
             + (f" --stance-weight {args.stance_weight}" if args.stance_weight is not None else "")
             + (f" --stance-scope {args.stance_scope}" if args.stance_scope else "")))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
