"""The Ray engine on a local Ray cluster of 2 CPUs, against the local engine, on real comments.

A database of ~2,500 real r/wallstreetbets comments in whole threads (../shared/data/reddit, with
project-written thread roots that replies inherit tickers from) is scored once with the local
engine; each test scores a copy on Ray with the shipped default model and compares every table.
Slow (about 5 minutes on two busy cores): run with ``pytest -m slow tests/test_ray_engine.py``.
Skipped where ray is not installed (``pip install -e '.[ray]'``) or ../shared is absent.
"""
from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest

from crowdpulse.config import ScoreSettings
from crowdpulse.scoring import score_store
from crowdpulse.store import Store
from reddit_threads import build_thread_db, scored_tables

pytestmark = [pytest.mark.slow, pytest.mark.needs_shared]
ray = pytest.importorskip("ray", reason="the ray extra is not installed (pip install -e '.[ray]')")

ROOT = Path(__file__).resolve().parents[1]
COMMENTS = 2500
BATCH = 150  # posts per shard: ~17 shards, so a kill lands mid-run


@pytest.fixture(scope="module")
def cluster():
    ray.init(address="local", num_cpus=2, include_dashboard=False, object_store_memory=256 * 2**20,
             log_to_driver=False)
    yield
    ray.shutdown()


@pytest.fixture(scope="module")
def databases(tmp_path_factory):
    """(the unscored database, the same scored by the local engine, its tables, posts to score)."""
    folder = tmp_path_factory.mktemp("ray")
    base = folder / "base.duckdb"
    info = build_thread_db(base, COMMENTS)
    local = folder / "local.duckdb"
    shutil.copy(base, local)
    from models import load_model

    with Store.open(local) as store:
        model = load_model("default")
        todo = len(store.unscored_posts(model.model_id))
        score_store(store, model, batch_size=512, progress=False)
        tables = scored_tables(store)
    assert info["comments"] >= 2000 and todo >= 2000
    return base, local, tables, todo


def _copy(databases, tmp_path) -> Path:
    target = tmp_path / "ray.duckdb"
    shutil.copy(databases[0], target)
    return target


def assert_same_tables(got: dict[str, pd.DataFrame], want: dict[str, pd.DataFrame]) -> None:
    """Probabilities and theme scores to 1e-4; every other column (labels, tickers, via, themes) identical."""
    for table, expected in want.items():
        actual = got[table]
        assert len(actual) == len(expected), table
        floats = [c for c in expected.columns if expected[c].dtype.kind == "f"]
        others = [c for c in expected.columns if c not in floats]
        pd.testing.assert_frame_equal(actual[others], expected[others], check_dtype=False, obj=table)
        for column in floats:
            assert (actual[column] - expected[column]).abs().max() < 1e-4, (table, column)


def test_ray_scores_equal_the_local_engine(cluster, databases, tmp_path):
    from crowdpulse.ray_engine import score_store_ray

    path = _copy(databases, tmp_path)
    with Store.open(path) as store:
        counts = score_store_ray(store, "default", ScoreSettings("ray", actors=2, batch_size=BATCH), progress=False)
        assert (counts["posts"], counts["actors"], counts["cpus_per_actor"]) == (databases[3], 2, 1)
        assert counts["repeated"] == 0 and counts["shards"] == counts["batches"] > 10
        got = scored_tables(store)
        run = store.query("SELECT status, config FROM runs WHERE command = 'score' ORDER BY started_at DESC").iloc[0]
        assert run["status"] == "ok" and json.loads(run["config"])["engine"] == "ray"
    assert_same_tables(got, databases[2])
    assert (got["stances"]["via"] == "context").sum() > 100  # replies inherited their thread root's tickers
    assert not Path(f"{path}.ray").exists()  # the run's shards are gone


def test_a_killed_actor_is_retried_with_nothing_lost_or_doubled(cluster, databases, tmp_path):
    from crowdpulse.ray_engine import score_store_ray

    seen, killed = [], []

    def kill_the_actor(done: dict) -> None:
        seen.append(done)
        if not killed:  # the one actor is busy with its next shard (Ray Data keeps shards in flight)
            killed.append(done["pid"])
            os.kill(done["pid"], signal.SIGKILL)

    path = _copy(databases, tmp_path)
    with Store.open(path) as store:
        counts = score_store_ray(store, "default", ScoreSettings("ray", actors=1, batch_size=BATCH), progress=False,
                                 on_commit=kill_the_actor)
        got = scored_tables(store)
    shards = [d["shard"] for d in seen]
    assert len(shards) == len(set(shards)) == counts["shards"] > 10  # every shard committed, once
    assert sum(d["posts"] for d in seen) == counts["posts"] == databases[3]
    # Shards the actor finished before it died may still reach the driver after the kill; the rest, the
    # one it was killed in too, ran on the actor Ray restarted in its place (a new process).
    assert {d["pid"] for d in seen} - set(killed), "no shard ran on a restarted actor"
    assert_same_tables(got, databases[2])


def _own_session(pid: int) -> list[int]:
    import psutil

    out = []
    for proc in psutil.process_iter():
        try:
            if os.getsid(proc.pid) == pid:
                out.append(proc.pid)
        except (ProcessLookupError, PermissionError, psutil.Error):
            continue
    return out


def test_a_killed_driver_resumes_from_what_was_committed(cluster, databases, tmp_path):
    from crowdpulse.ray_engine import score_store_ray

    path = _copy(databases, tmp_path)
    env = {**os.environ, "PYTHONPATH": str(ROOT), "COLUMNS": "200"}
    driver = subprocess.Popen(
        [sys.executable, "-m", "crowdpulse.cli", "-v", "score", "--engine", "ray", "--db", str(path), "--actors", "1",
         "--batch-size", str(BATCH), "-q"], stderr=subprocess.PIPE, stdout=subprocess.DEVNULL, env=env, cwd=ROOT,
        start_new_session=True)  # its own session: the driver and the local Ray it starts, killed together
    try:
        deadline = time.monotonic() + 400
        for line in driver.stderr:
            if b"committed shard" in line or time.monotonic() > deadline:
                break
        assert b"committed shard" in line, "the driver committed no shard"
        os.killpg(driver.pid, signal.SIGKILL)
        driver.wait(timeout=60)
    finally:
        for pid in _own_session(driver.pid):  # whatever of that session outlived the kill
            os.kill(pid, signal.SIGKILL)
        driver.stderr.close()
    with Store.open(path) as store:
        done = databases[3] - len(store.unscored_posts(scored_tables(store)["scores"]["model_id"].iloc[0]))
        status = store.query("SELECT status FROM runs WHERE command = 'score' ORDER BY started_at DESC").iloc[0]["status"]
        assert 0 < done < databases[3] and status == "running"  # killed: its end was never recorded
        assert Path(f"{path}.ray").exists()  # the killed run's shards, removed by the next run
        counts = score_store_ray(store, "default", ScoreSettings("ray", actors=2, batch_size=BATCH), progress=False)
        assert counts["posts"] == databases[3] - done
        got = scored_tables(store)
    assert_same_tables(got, databases[2])
    assert not Path(f"{path}.ray").exists()


def test_import_dump_score_on_ray_equals_import_then_local_score(cluster, tmp_path):
    """Straight from archive dumps: the staged path stores the same posts and scores as import + score."""
    from crowdpulse.imports import import_and_score_reddit_dumps
    from reddit_threads import write_dump
    from scrapers.reddit_dump import DumpFilter

    files = write_dump(tmp_path, 400)
    results = {}
    for engine in ("local", "ray"):
        with Store.open(tmp_path / f"{engine}.duckdb") as store:
            settings = ScoreSettings(engine, actors=2 if engine == "ray" else None, batch_size=100)
            imported, counts = import_and_score_reddit_dumps(store, files, DumpFilter(subreddits=frozenset(["wallstreetbets"])),
                                                             "default", settings, progress=False)
            assert imported.inserted == store.counts()["posts"] > 400
            assert counts["posts"] == store.counts()["scores"]
            results[engine] = (scored_tables(store), store.query(
                "SELECT source, id, thread_id, parent_id, depth, created_at, title, body FROM posts ORDER BY id"))
    pd.testing.assert_frame_equal(results["ray"][1], results["local"][1])
    assert_same_tables(results["ray"][0], results["local"][0])
