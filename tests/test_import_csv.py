"""CSV export import: the real Reddit comment CSVs in shared/data/reddit, and time parsing."""
from __future__ import annotations

from datetime import datetime, timezone

import numpy as np
import pandas as pd
import pytest

from conftest import shared_path
from crowdpulse.imports import import_csv
from market.calendar import assign_sessions, sessions_between
from scrapers.csv_export import CsvColumns, CsvExportError, CsvStats, parse_times, read_csv_export, stable_id

JANASH = CsvColumns(text="comment", time="first_snapshot_date", id="comment_id", thread="post_id",
                    score="score_last", url="permalink")


@pytest.mark.needs_shared
def test_janash_day_precision_sessions_never_before_seen(fresh_store):
    path = shared_path("data", "reddit", "janash_stocks_comments_sample.csv")
    result = import_csv(fresh_store, path, JANASH, source="reddit", progress=False)
    raw = pd.read_csv(path, dtype=str, keep_default_na=False)
    assert result.files[0].precision == "day"
    assert result.inserted == raw["comment_id"].nunique() == fresh_store.counts()["posts"]
    db = fresh_store.query("SELECT id, thread_id, created_at, time_precision, score, url FROM posts")
    assert (db["time_precision"] == "day").all()
    assert (db["created_at"].dt.strftime("%H:%M:%S") == "23:59:59").all()
    merged = db.merge(raw, left_on="id", right_on="comment_id")
    assert (merged["created_at"].dt.date.astype(str) == merged["first_snapshot_date"]).all()
    assert (merged["thread_id"] == merged["post_id"]).all()
    assert merged["url"].str.startswith("https://www.reddit.com/r/stocks/comments/").all()
    # Session: the first NYSE session strictly after the day the comment was seen.
    sessions = assign_sessions(merged["created_at"])
    seen = pd.to_datetime(merged["first_snapshot_date"])
    calendar = sessions_between(seen.min(), seen.max() + pd.Timedelta(days=10))
    expected = calendar[np.searchsorted(calendar.values, seen.values, side="right")]
    assert (sessions.values == expected.values).all()
    assert (sessions > seen).all()
    # e.g. seen on Friday 2021-01-29 -> Monday 2021-02-01
    friday = sessions[merged["first_snapshot_date"] == "2021-01-29"]
    assert len(friday) and (friday == pd.Timestamp("2021-02-01")).all()


@pytest.mark.needs_shared
def test_esbenkc_exact_times_and_thread_from_permalink(fresh_store):
    path = shared_path("data", "reddit", "esbenkc_wsb_io_comments.csv")
    cols = CsvColumns(text="title", time="created_utc", id="id", thread="permalink", author="author",
                      score="score", url="permalink")
    result = import_csv(fresh_store, path, cols, source="reddit", progress=False)
    assert result.files[0].precision == "exact" and result.files[0].rows == 2100
    row = fresh_store.query("SELECT * FROM posts WHERE id = 'gjguunm'").iloc[0]
    assert row["thread_id"] == "kyju7h" and row["author"] == "SeekNDestroy-" and row["score"] == 2
    assert row["created_at"] == pd.Timestamp(datetime.fromtimestamp(1610811051, tz=timezone.utc).replace(tzinfo=None))
    assert row["body"].startswith("Sorry, fellow retard here can you ELI5")
    again = import_csv(fresh_store, path, cols, source="reddit", progress=False)  # idempotent
    assert again.inserted == 0 and again.updated == result.inserted


@pytest.mark.needs_shared
def test_dalinxz_posts_title_and_body(tmp_path):
    path = shared_path("data", "reddit", "dalinxz_stocks_posts.csv")
    cols = CsvColumns(text="Message body", time="TimeStamp", id="ID", title="Title", score="Score of Post")
    stats = CsvStats(str(path))
    posts = [p for batch in read_csv_export(path, cols, source="reddit", stats=stats) for p in batch]
    assert stats.rows == 1146 and len(posts) == 1146 and len({p.id for p in posts}) == 1129
    first = posts[0]
    assert first.id == first.thread_id == "l4b1hz" and first.depth == 0
    assert first.title == "Stocks for Socks - 1 Million Subscriber Charity Campaign"
    assert first.created_at == datetime.fromtimestamp(1611532613, tz=timezone.utc)


@pytest.mark.needs_shared
def test_missing_column_names_the_available_ones():
    path = shared_path("data", "reddit", "dalinxz_stocks_posts.csv")
    with pytest.raises(CsvExportError) as err:
        list(read_csv_export(path, CsvColumns(text="body", time="TimeStamp")))
    msg = str(err.value)
    assert "no column 'body' (given as --text-col)" in msg and "'Message body'" in msg and "\n" not in msg


def test_parse_times_all_shapes():
    values = pd.Series(["1610811051", "1610811051.5", "1610811051000", "2021-01-16T15:30:51Z",
                        "2021-01-16 10:30:51-05:00", "", "yesterday"])
    out, precision = parse_times(values)
    assert precision == "exact"
    ts = pd.Timestamp("2021-01-16 15:30:51", tz="UTC")
    assert list(out[:5]) == [ts, ts + pd.Timedelta(milliseconds=500), ts, ts, ts]
    assert out[5:].isna().all()
    days, precision = parse_times(pd.Series(["2021-01-29", "2021-02-01"]))
    assert precision == "day"
    assert list(days) == [pd.Timestamp("2021-01-29 23:59:59", tz="UTC"), pd.Timestamp("2021-02-01 23:59:59", tz="UTC")]
    forced, _ = parse_times(pd.Series(["1610811051"]), "day")
    assert forced[0] == pd.Timestamp("2021-01-16 23:59:59", tz="UTC")
    with pytest.raises(CsvExportError, match="not one of: exact, day"):
        parse_times(values, "hour")


def test_no_id_column_gets_a_stable_hash_and_bad_rows_are_counted(tmp_path):
    path = tmp_path / "export.csv"
    path.write_text("when,text,who\n1610811051,IWM to the moon,a\nnot a time,lost row,b\n1610811052,,c\n"
                    "1610811053,\"TLT, long bonds\",d\n", encoding="utf-8")
    stats = CsvStats(str(path))
    posts = [p for b in read_csv_export(path, CsvColumns(text="text", time="when", author="who"),
                                        source="forum", stats=stats) for p in b]
    assert [p.body for p in posts] == ["IWM to the moon", "TLT, long bonds"]
    assert stats.rows == 4 and stats.bad_time == 1 and stats.bad_time_rows == [2] and stats.empty == 1
    assert posts[0].id == stable_id("forum", "\nIWM to the moon", posts[0].created_at)
    again = [p for b in read_csv_export(path, CsvColumns(text="text", time="when"), source="forum") for p in b]
    assert [p.id for p in again] == [p.id for p in posts]
    assert posts[0].id != posts[1].id and posts[0].thread_id == posts[0].id


def test_an_empty_text_column_name_or_a_score_column_of_words_is_refused(tmp_path):
    f = tmp_path / "p.csv"
    f.write_text("id,text,time,score\na1,IWM to the moon,2024-03-04T15:00:00Z,3\na2,TLT down,2024-03-04T16:00:00Z,x\n")
    with pytest.raises(CsvExportError, match="--text-col must name a column"):
        list(read_csv_export(f, CsvColumns(text="", time="time")))
    with pytest.raises(CsvExportError, match="holds no numbers"):
        list(read_csv_export(f, CsvColumns(text="text", time="time", score="text")))
    posts = [p for chunk in read_csv_export(f, CsvColumns(text="text", time="time", id="id", score="score")) for p in chunk]
    assert [p.score for p in posts] == [3, None]  # a stray word in a number column is one missing score
