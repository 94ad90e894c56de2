"""A database of real r/wallstreetbets comments in whole threads, for the scoring engine tests.

The comments are the janash sample in ../shared/data/reddit (thread = the post they were written
under). The project writes one root post for some threads, naming tickers, so that replies that
name none inherit them (``via = context``); the roots are scored before the comments, so a scoring
run reads them as context only.
"""
from __future__ import annotations

from pathlib import Path

import pandas as pd

from conftest import shared_path

COMMENTS = ("data", "reddit", "janash_wallstreetbets_comments_sample.csv")
ROOT_TITLES = (
    "Daily Discussion Thread: IWM and TLT into the Fed",
    "Is $TLT the hedge if the Russell 2000 rolls over?",
    "IWM calls or SPY puts for the CPI print",
    "Small caps ($IWM) vs long bonds: what is your play",
)


def real_threads(n_comments: int, max_thread: int = 60) -> pd.DataFrame:
    """About ``n_comments`` janash comments from the largest threads, whole threads (at most ``max_thread`` each)."""
    raw = pd.read_csv(shared_path(*COMMENTS), dtype=str, keep_default_na=False)
    raw = raw[raw["comment"].str.strip() != ""].drop_duplicates("comment_id")
    sizes = raw.groupby("post_id").size().sort_values(ascending=False, kind="stable")
    keep, total = [], 0
    for post_id, size in sizes.items():
        if total >= n_comments:
            break
        keep.append(post_id)
        total += min(int(size), max_thread)
    picked = raw[raw["post_id"].isin(keep)]
    return picked.groupby("post_id", sort=False).head(max_thread)


def build_thread_db(path: Path, n_comments: int, roots: int = 12) -> dict:
    """Write the database at ``path``: real comments in whole threads, project-written roots (scored with
    the local engine and a real model); returns {"comments", "roots", "threads"}."""
    from crowdpulse.imports import import_csv
    from crowdpulse.scoring import score_store
    from crowdpulse.store import Store
    from models import load_model
    from scrapers.csv_export import CsvColumns

    comments = real_threads(n_comments)
    csv = path.with_suffix(".csv")
    comments.to_csv(csv, index=False)
    threads = list(dict.fromkeys(comments["post_id"]))
    root_rows = [{"source": "reddit", "id": t, "thread_id": t, "parent_id": None, "depth": 0,
                  "title": ROOT_TITLES[i % len(ROOT_TITLES)], "body": "Discuss.", "created_at": "2021-02-01T14:30:00Z",
                  "time_precision": "exact"} for i, t in enumerate(threads[:roots])]
    with Store.open(path) as store:
        store.upsert_posts(pd.DataFrame(root_rows))
        score_store(store, load_model("default"), progress=False)
        import_csv(store, csv, CsvColumns(text="comment", time="first_snapshot_date", id="comment_id",
                                          thread="post_id", score="score_last", url="permalink"),
                   source="reddit", progress=False)
    csv.unlink()
    return {"comments": len(comments), "roots": len(root_rows), "threads": len(threads)}


def scored_tables(store) -> dict[str, pd.DataFrame]:
    """The scores, stances and themes tables, sorted by key (scored_at left out: it is the time of the run)."""
    from crowdpulse.store import TABLES

    out = {}
    for table in ("scores", "stances", "themes"):
        keys = list(TABLES[table][1])
        frame = store.query(f"SELECT * FROM {table}")
        out[table] = frame.drop(columns=["scored_at"], errors="ignore").sort_values(keys).reset_index(drop=True)
    return out
