"""A database of real r/wallstreetbets comments in whole threads, for the scoring engine tests.

The comments are the janash sample in ../shared/data/reddit (thread = the post they were written
under). The project writes one root post for some threads, naming tickers, so that replies that
name none inherit them (``via = context``); the roots are scored before the comments, so a scoring
run reads them as context only.
"""
from __future__ import annotations

from pathlib import Path

import pandas as pd

COMMENTS = ("data", "reddit", "janash_wallstreetbets_comments_sample.csv")
ROOT_TITLES = (
    "Daily Discussion Thread: IWM and TLT into the Fed",
    "Is $TLT the hedge if the Russell 2000 rolls over?",
    "IWM calls or SPY puts for the CPI print",
    "Small caps ($IWM) vs long bonds: what is your play",
)


def comments_csv() -> Path:
    """The janash r/wallstreetbets sample (the test skips where ../shared is absent)."""
    from conftest import shared_path

    return shared_path(*COMMENTS)


def real_threads(n_comments: int, max_thread: int = 60, path: Path | None = None) -> pd.DataFrame:
    """About ``n_comments`` janash comments (from ``path``, default :func:`comments_csv`) from the largest
    threads, whole threads (at most ``max_thread`` each)."""
    raw = pd.read_csv(path or comments_csv(), dtype=str, keep_default_na=False)
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


def build_thread_db(path: Path, n_comments: int, roots: int = 12, source: Path | None = None) -> dict:
    """Write the database at ``path``: real comments in whole threads, project-written roots (scored with
    the local engine and a real model); returns {"comments", "roots", "threads"}."""
    from crowdpulse.imports import import_csv
    from crowdpulse.scoring import score_store
    from crowdpulse.store import Store
    from models import load_model
    from scrapers.csv_export import CsvColumns

    comments = real_threads(n_comments, path=source)
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


def write_dump(folder: Path, n_comments: int, roots: int = 6) -> list[Path]:
    """Real comments as a Pushshift-style comment dump (RC_, each a top-level reply in its thread, plus
    every tenth line again in another subreddit, for the filter to drop) and the project-written roots
    of some threads as a submission dump (RS_); zstd with the archives' long window."""
    import json
    from datetime import datetime, timezone

    import zstandard

    comments = real_threads(n_comments)
    threads = list(dict.fromkeys(comments["post_id"]))
    day = {d: int(datetime.fromisoformat(d).replace(tzinfo=timezone.utc).timestamp())
           for d in comments["first_snapshot_date"].unique()}
    subs = [{"id": t, "subreddit": "wallstreetbets", "title": ROOT_TITLES[i % len(ROOT_TITLES)], "selftext": "Discuss.",
             "created_utc": min(day.values()) - 3600, "author": "crowdpulse-test", "score": 1}
            for i, t in enumerate(threads[:roots])]
    lines = []
    for n, row in enumerate(comments.itertuples()):
        obj = {"id": row.comment_id, "subreddit": "wallstreetbets", "body": row.comment, "author": f"u{n % 97}",
               "created_utc": day[row.first_snapshot_date] + n, "link_id": f"t3_{row.post_id}",
               "parent_id": f"t3_{row.post_id}", "score": int(float(row.score_last or 0))}
        lines.append(obj)
        if n % 10 == 0:
            lines.append({**obj, "id": f"x{row.comment_id}", "subreddit": "pics"})
    params = zstandard.ZstdCompressionParameters.from_level(3, window_log=31, write_content_size=False)
    out = []
    for name, objs in (("RS_2021-02.zst", subs), ("RC_2021-02.zst", lines)):
        data = b"".join(json.dumps(o, ensure_ascii=False).encode() + b"\n" for o in objs)
        (folder / name).write_bytes(zstandard.ZstdCompressor(compression_params=params).compress(data))
        out.append(folder / name)
    return out
