"""What is in a database: counts per table, per source, and the latest runs."""
from __future__ import annotations

from dataclasses import dataclass

import pandas as pd

from crowdpulse.store import Store


#: How a run shows whose process died without recording its end (its row still says running).
KILLED = "interrupted (never finished)"


@dataclass(frozen=True)
class DatabaseStats:
    schema_version: int
    counts: dict[str, int]
    by_source: pd.DataFrame
    runs: pd.DataFrame


def database_stats(store: Store, n_runs: int = 5) -> DatabaseStats:
    by_source = store.query(
        """SELECT p.source, count(*) AS posts, count(DISTINCT p.thread_id) AS threads,
                  min(p.created_at) AS first, max(p.created_at) AS last,
                  (SELECT count(*) FROM scores s WHERE s.source = p.source) AS scores
           FROM posts p GROUP BY p.source ORDER BY p.source"""
    )
    runs = store.query(
        "SELECT run_id, command, status, started_at, finished_at, counts FROM runs "
        "ORDER BY started_at DESC LIMIT ?",
        [n_runs],
    )
    killed = runs["run_id"].isin(store.killed_runs())
    runs.loc[killed, "status"] = KILLED
    return DatabaseStats(store.schema_version(), store.counts(), by_source, runs)
