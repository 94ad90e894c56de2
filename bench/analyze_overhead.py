"""How much `crowdpulse analyze` adds on top of the model: model-only vs full analysis.

Reads N real comments from ../shared/data/reddit/janash_*_comments_sample.csv and times
1. the model alone: ``model.predict_proba(texts)`` on the raw comment texts;
2. the full analysis: ``sentiment.analyze.analyze_posts`` (cleaning, ticker linking, ONE model call
   over the posts plus, for posts naming several tickers, their ticker clauses or, for a model that
   judges tickers itself (the default), each ticker-marked post; one more call where the model carries a
   separate stance model; aggregation; theme embedding + patterns).
Prints both, the ratio, and the split of the overhead. Target: ratio <= 1.5.

    nice -n 10 python bench/analyze_overhead.py --n 10000 --model default
"""
from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
SHARED = ROOT.parent / "shared" / "data" / "reddit"


def comments(n: int, seed: int = 0) -> pd.DataFrame:
    frames = []
    for name in ("janash_wallstreetbets", "janash_stocks"):
        path = SHARED / f"{name}_comments_sample.csv"
        df = pd.read_csv(path, usecols=["post_id", "comment_id", "comment"], dtype=str).dropna()
        frames.append(df.assign(source=name))
    df = pd.concat(frames).sample(n=n, random_state=seed)
    return pd.DataFrame({"source": df["source"], "id": df["comment_id"], "thread_id": df["post_id"],
                         "parent_id": df["post_id"], "title": None, "body": df["comment"]})


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--n", type=int, default=10000, help="number of comments (default 10000)")
    ap.add_argument("--model", default="default", help="model spec (default: default)")
    args = ap.parse_args()
    if not SHARED.exists():
        print(f"skipped: {SHARED} is not available")
        return 0
    from models import load_model
    from models.encoder import default_encoder as get_encoder
    from sentiment.analyze import analyze_posts
    from sentiment.text import clean_text
    from sentiment.themes import ThemeScorer
    from sentiment.tickers import default_linker

    posts = comments(args.n)
    texts = posts["body"].tolist()
    model = load_model(args.model)
    encoder = get_encoder()
    model.predict_proba(texts[:64])  # warm up all (and export to ONNX on first use)
    encoder.encode(texts[:64])
    stance_time, stance_texts = [0.0], [0]
    judge = getattr(model, "stance_model", None)
    own = judge is model  # the model reads its own ticker-marked texts inside its one call: count them
    if own:
        judge = None
    if judge is not None:
        judge.predict_proba(texts[:64])
        inner = judge.predict_proba

        def timed(batch, **kw):
            t = time.perf_counter()
            try:
                return inner(batch, **kw)
            finally:
                stance_time[0] += time.perf_counter() - t
                stance_texts[0] += len(batch)

        judge.predict_proba = timed

    t0 = time.perf_counter()
    model.predict_proba(texts)
    t_model = time.perf_counter() - t0

    t0 = time.perf_counter()
    result = analyze_posts(posts, model, encoder=encoder)
    t_full = time.perf_counter() - t0

    cleaned = [clean_text(t) for t in texts]
    t0 = time.perf_counter()
    linker = default_linker()
    for t in cleaned:
        linker.link(t)
    t_link = time.perf_counter() - t0
    t0 = time.perf_counter()
    ThemeScorer(encoder=encoder).scores(cleaned)
    t_themes = time.perf_counter() - t0

    print(f"comments: {len(posts):,} from {SHARED} (seed 0); model {model.model_id}; "
          f"CPU threads {os.cpu_count()}")
    print(f"model only (predict_proba on the texts): {t_model:8.2f} s")
    print(f"full analyze_posts:                      {t_full:8.2f} s")
    print(f"ratio full / model:                      {t_full / t_model:8.2f}  (target <= 1.5)")
    print(f"  of which ticker linking alone:         {t_link:8.2f} s")
    print(f"  of which themes (embed + patterns):    {t_themes:8.2f} s")
    if judge is not None:
        print(f"  of which the stance model:             {stance_time[0]:8.2f} s  ({stance_texts[0]:,} (post, ticker) texts)")
    if own:
        least = 2 if getattr(model, "stance_scope", "all") == "multi" else 1
        marked = sum(n for n in (len({m.ticker for m in linker.link(t)}) for t in cleaned) if n >= least)
        print(f"  the model judges tickers itself:       {marked:,} ticker-marked texts in its one call "
              f"(scope {getattr(model, 'stance_scope', 'all')}, weight {getattr(model, 'stance_weight', None)})")
    print(f"rows: {len(result.scores):,} scores, {len(result.stances):,} stances, {len(result.themes):,} themes")
    print(f"rerun: nice -n 10 python bench/analyze_overhead.py --n {args.n} --model {args.model}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
