"""The DuckDB store: idempotent upserts, crash safety, one writer, schema versions."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from datetime import datetime, timezone

import duckdb
import pytest

from crowdpulse.store import SCHEMA_VERSION, SchemaVersionError, Store, StoreError, StoreLockedError
from scrapers.records import Post


def _thread(n: int, thread: str = "t1") -> list[Post]:
    base = datetime(2024, 3, 1, 15, 0, tzinfo=timezone.utc)
    posts = [Post("reddit", thread, thread, None, 0, "op", base, "IWM vs TLT", "Russell up, bonds down", 10)]
    for i in range(n):
        posts.append(Post("reddit", f"{thread}c{i}", thread, thread, 1, f"user{i}", base, None, f"comment {i}", i))
    return posts


def test_upserting_twice_stores_nothing_twice(fresh_store):
    first = fresh_store.upsert_posts(_thread(20))
    second = fresh_store.upsert_posts(_thread(20))
    assert (first.inserted, first.updated) == (21, 0)
    assert (second.inserted, second.updated) == (0, 21)
    assert fresh_store.counts()["posts"] == 21


def test_upsert_updates_changed_fields(fresh_store):
    posts = _thread(1)
    fresh_store.upsert_posts(posts)
    posts[1].score = 99
    fresh_store.upsert_posts(posts)
    score = fresh_store.query("SELECT score FROM posts WHERE id = 't1c0'").iloc[0, 0]
    assert score == 99


def test_timestamps_are_stored_as_utc(fresh_store):
    from zoneinfo import ZoneInfo

    ny = datetime(2024, 3, 1, 15, 59, tzinfo=ZoneInfo("America/New_York"))
    fresh_store.upsert_posts([Post("reddit", "x", "x", created_at=ny, body="b")])
    stored = fresh_store.query("SELECT created_at FROM posts").iloc[0, 0]
    assert stored.to_pydatetime() == datetime(2024, 3, 1, 20, 59)


def test_save_page_keeps_posts_and_cursor_together(fresh_store):
    fresh_store.save_page("reddit", "r/stocks", _thread(3), {"after": "t3_abc"})
    assert fresh_store.get_cursor("reddit", "r/stocks") == {"after": "t3_abc"}
    assert fresh_store.counts()["posts"] == 4


def test_failed_transaction_rolls_back(fresh_store):
    with pytest.raises(RuntimeError):
        with fresh_store.transaction():
            fresh_store.upsert_posts(_thread(2))
            raise RuntimeError("boom")
    assert fresh_store.counts()["posts"] == 0


WRITER = textwrap.dedent(
    """
    import sys, time
    from datetime import datetime, timezone
    from crowdpulse.store import Store
    from scrapers.records import Post
    store = Store.open(sys.argv[1])
    for batch in range(10_000):
        posts = [Post("reddit", f"b{batch}_{i}", f"b{batch}", body="x" * 50,
                      created_at=datetime.now(timezone.utc)) for i in range(100)]
        store.save_page("reddit", "r/test", posts, {"batch": batch})
        print(batch, flush=True)
        time.sleep(0.02)
    """
)


def _start_writer(db) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-c", WRITER, str(db)], stdout=subprocess.PIPE, text=True)


def test_killed_writer_leaves_every_committed_batch(tmp_path):
    db = tmp_path / "killed.duckdb"
    proc = _start_writer(db)
    last = None
    for line in proc.stdout:  # wait until a handful of batches are committed
        last = int(line)
        if last >= 5:
            break
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=30)
    with Store.open(db) as store:
        cursor = store.get_cursor("reddit", "r/test")
        n_posts = store.counts()["posts"]
        batches = store.query("SELECT count(DISTINCT thread_id) AS n FROM posts").iloc[0, 0]
    # Every batch the writer reported as committed is there, complete, with its cursor.
    assert cursor["batch"] >= last
    assert n_posts == (cursor["batch"] + 1) * 100
    assert batches == cursor["batch"] + 1


def test_second_writer_gets_a_clear_error(tmp_path):
    db = tmp_path / "busy.duckdb"
    proc = _start_writer(db)
    try:
        proc.stdout.readline()  # the writer holds the file now
        with pytest.raises(StoreLockedError, match="in use by another crowdpulse process"):
            Store.open(db)
    finally:
        proc.kill()
        proc.wait(timeout=30)


def test_second_writer_on_the_cli_gets_one_line(tmp_path):
    db = tmp_path / "busy.duckdb"
    proc = _start_writer(db)
    try:
        proc.stdout.readline()
        out = subprocess.run([sys.executable, "-m", "crowdpulse.cli", "db", "stats", "--db", str(db)],
                             capture_output=True, text=True, timeout=120)
    finally:
        proc.kill()
        proc.wait(timeout=30)
    assert out.returncode == 2
    assert out.stderr.strip().count("\n") == 0
    assert "in use by another crowdpulse process" in out.stderr
    assert "Traceback" not in out.stderr


def _make_v1_file(path) -> None:
    """A database as schema version 1 wrote it: no time_precision column, no labels table."""
    con = duckdb.connect(str(path))
    con.execute("CREATE TABLE meta (key VARCHAR PRIMARY KEY, value VARCHAR)")
    con.execute("INSERT INTO meta VALUES ('schema_version', '1')")
    con.execute(
        """CREATE TABLE posts (source VARCHAR NOT NULL, id VARCHAR NOT NULL, thread_id VARCHAR,
        parent_id VARCHAR, depth INTEGER, author VARCHAR, created_at TIMESTAMP, title VARCHAR,
        body VARCHAR, score BIGINT, url VARCHAR, user_label VARCHAR, lang VARCHAR, raw VARCHAR,
        fetched_at TIMESTAMP, PRIMARY KEY (source, id))"""
    )
    con.execute("INSERT INTO posts (source, id, thread_id, body) VALUES ('reddit', 'old1', 'old1', 'kept')")
    con.close()


def test_older_schema_is_upgraded_in_place(tmp_path):
    db = tmp_path / "v1.duckdb"
    _make_v1_file(db)
    with Store.open(db) as store:
        assert store.schema_version() == SCHEMA_VERSION
        assert "time_precision" in store.columns("posts")
        assert store.counts()["labels"] == 0
        assert store.query("SELECT body FROM posts").iloc[0, 0] == "kept"
        store.upsert_posts(_thread(1))
        assert store.counts()["posts"] == 3


def test_a_version_2_file_gets_its_theme_scores_on_the_0_1_scale(tmp_path):
    db = tmp_path / "v2.duckdb"
    with Store.open(db) as store:
        store.con.execute("INSERT INTO themes VALUES ('reddit', 'p1', 'm@1', 'rate_cuts', 1.2)")
        store.con.execute("UPDATE meta SET value = '2' WHERE key = 'schema_version'")
    with Store.open(db) as store:
        assert store.schema_version() == SCHEMA_VERSION
        assert store.query("SELECT score FROM themes").iloc[0, 0] == pytest.approx(0.8)
    with Store.open(db) as store:  # once only
        assert store.query("SELECT score FROM themes").iloc[0, 0] == pytest.approx(0.8)


def test_older_schema_read_only_is_refused_clearly(tmp_path):
    db = tmp_path / "v1.duckdb"
    _make_v1_file(db)
    with pytest.raises(SchemaVersionError, match="open it once read-write"):
        Store.open(db, read_only=True)


def test_newer_schema_is_refused_clearly(tmp_path):
    db = tmp_path / "future.duckdb"
    Store.open(db).close()
    con = duckdb.connect(str(db))
    con.execute("UPDATE meta SET value = ? WHERE key = 'schema_version'", [str(SCHEMA_VERSION + 1)])
    con.close()
    with pytest.raises(SchemaVersionError, match="newer crowdpulse"):
        Store.open(db)


def test_foreign_duckdb_file_is_refused(tmp_path):
    db = tmp_path / "other.duckdb"
    con = duckdb.connect(str(db))
    con.execute("CREATE TABLE sales (x INTEGER)")
    con.close()
    with pytest.raises(SchemaVersionError, match="not a crowdpulse database"):
        Store.open(db)


def _read_only_folder(tmp_path):
    """A folder nobody may write: mode 555, or for root (who ignores modes) read-only sysfs."""
    if os.geteuid() == 0:
        return "/sys"
    folder = tmp_path / "ro"
    folder.mkdir()
    folder.chmod(0o555)
    return str(folder)


def test_read_only_folder_is_a_clear_error(tmp_path):
    with pytest.raises(StoreError, match="not writable"):
        Store.open(os.path.join(_read_only_folder(tmp_path), "x.duckdb"))


def test_missing_folder_is_a_clear_error(tmp_path):
    with pytest.raises(StoreError, match="does not exist"):
        Store.open(tmp_path / "nope" / "x.duckdb")


def test_recorded_run_records_how_the_body_ended(tmp_path):
    store = Store.open(tmp_path / "runs.duckdb")
    with store.recorded_run("ok-run", "test", {"a": 1}, {"n": 0}) as run:
        assert store.query("SELECT status FROM runs WHERE run_id = 'ok-run'").iloc[0, 0] == "running"
        run.counts["n"] = 3
        run.status = "partial"
    with pytest.raises(ValueError):
        with store.recorded_run("bad-run", "test", counts=lambda: {"n": 7}):
            raise ValueError("boom")
    with pytest.raises(KeyboardInterrupt):
        with store.recorded_run("stopped-run", "test"):
            raise KeyboardInterrupt
    runs = store.query("SELECT run_id, status, counts FROM runs ORDER BY run_id").set_index("run_id")
    assert runs.loc["ok-run", "status"] == "partial" and json.loads(runs.loc["ok-run", "counts"]) == {"n": 3}
    assert runs.loc["bad-run", "status"] == "error" and json.loads(runs.loc["bad-run", "counts"]) == {"n": 7}
    assert runs.loc["stopped-run", "status"] == "interrupted"
    store.close()


def test_upsert_converts_offset_strings_to_utc_and_names_bad_values():
    import pandas as pd

    from crowdpulse.store import Store, StoreError

    s = Store.open(":memory:")
    s.upsert("posts", pd.DataFrame({"source": ["x"], "id": ["q"], "thread_id": ["z"],
                                    "created_at": ["2024-01-02T10:00:00-05:00"]}))
    assert str(s.query("SELECT created_at FROM posts")["created_at"].iloc[0]) == "2024-01-02 15:00:00"
    with pytest.raises(StoreError, match="'notadate' is not a timestamp"):
        s.upsert("posts", pd.DataFrame({"source": ["x"], "id": ["r"], "thread_id": ["z"], "created_at": ["notadate"]}))
    with pytest.raises(StoreError, match="score"):  # the cause, not "transaction is aborted"
        s.upsert("posts", pd.DataFrame({"source": ["x"], "id": ["r"], "thread_id": ["z"], "score": ["lots"]}))
    assert s.query("SELECT count(*) AS n FROM posts")["n"].iloc[0] == 1


def test_an_unknown_depth_never_blanks_a_known_one():
    import pandas as pd

    from crowdpulse.store import Store

    s = Store.open(":memory:")
    row = {"source": "reddit", "id": "c1", "thread_id": "t", "body": "x"}
    s.upsert("posts", pd.DataFrame([{**row, "depth": 10}]))
    s.upsert("posts", pd.DataFrame([{**row, "depth": None, "body": "edited"}]))
    got = s.query("SELECT depth, body FROM posts").iloc[0]
    assert got["depth"] == 10 and got["body"] == "edited"
    s.upsert("posts", pd.DataFrame([{**row, "depth": 3}]))
    assert s.query("SELECT depth FROM posts")["depth"].iloc[0] == 3
