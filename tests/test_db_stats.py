"""`crowdpulse db stats` on a database where a run was killed (kill -9: its row still says running)."""
from __future__ import annotations

import os
import subprocess
import sys
import textwrap

from crowdpulse.store import Store


def cli(*args: str, cwd) -> subprocess.CompletedProcess:
    env = {**os.environ, "COLUMNS": "250", "NO_COLOR": "1"}
    return subprocess.run([sys.executable, "-m", "crowdpulse.cli", *args], capture_output=True, text=True,
                          cwd=cwd, timeout=120, env=env)


def killed_run(db, run_id: str, command: str = "scrape") -> None:
    """A process that starts a run and is killed by SIGKILL before it can record the end."""
    code = textwrap.dedent(f"""
        import os, signal
        from crowdpulse.store import Store
        store = Store.open({str(db)!r})
        store.start_run({run_id!r}, {command!r}, {{"site": "stocktwits", "target": "IWM"}})
        store.con.execute("CHECKPOINT")
        os.kill(os.getpid(), signal.SIGKILL)
    """)
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert out.returncode == -9, out.stderr


def status(db, run_id: str) -> str:
    with Store.open(db, read_only=True) as store:
        return store.query("SELECT status FROM runs WHERE run_id = ?", [run_id]).iloc[0, 0]


def test_db_stats_shows_a_killed_run_as_interrupted(tmp_path):
    db = tmp_path / "k.duckdb"
    killed_run(db, "scrape-killed")
    assert status(db, "scrape-killed") == "running"
    out = cli("db", "stats", "--db", str(db), cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    assert "Traceback" not in out.stderr
    row = next(line for line in out.stdout.splitlines() if "scrape-killed" in line)
    assert "interrupted (never finished)" in row and "running" not in row


def test_the_next_run_of_the_same_job_marks_a_killed_one_interrupted(tmp_path):
    db = tmp_path / "k.duckdb"
    killed_run(db, "scrape-killed")
    killed_run(db, "score-killed", command="score")
    with Store.open(db) as store:
        with store.recorded_run("scrape-next", "scrape", {"site": "stocktwits", "target": "IWM"}):
            assert store.query("SELECT status FROM runs WHERE run_id = 'scrape-killed'").iloc[0, 0] == "interrupted"
    assert status(db, "scrape-next") == "ok"
    assert status(db, "score-killed") == "running"  # another job's row waits for a run of its own job


def test_a_run_this_store_started_is_not_taken_for_a_killed_one(fresh_store):
    with fresh_store.recorded_run("run-outer", "run"):
        with fresh_store.recorded_run("run-inner", "run"):
            pass
        assert fresh_store.query("SELECT status FROM runs WHERE run_id = 'run-outer'").iloc[0, 0] == "running"
    assert fresh_store.query("SELECT status FROM runs WHERE run_id = 'run-outer'").iloc[0, 0] == "ok"
