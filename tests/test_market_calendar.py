"""Session assignment on the NYSE calendar: close, weekend, holiday, early close, DST."""
from __future__ import annotations

import time
from datetime import datetime

import numpy as np
import pandas as pd
import pytest

from market.calendar import CalendarError, assign_sessions, sessions_between

NY = "America/New_York"


def _one(local: str, tz: str = NY) -> pd.Timestamp:
    ts = pd.Series([pd.Timestamp(local, tz=tz)])
    return assign_sessions(ts).iloc[0]


@pytest.mark.parametrize(
    "local, session",
    [
        ("2024-03-05 15:59", "2024-03-05"),  # Tuesday before the close -> that day
        ("2024-03-05 16:01", "2024-03-06"),  # after the close -> next session
        ("2024-03-05 16:00", "2024-03-06"),  # at the close it no longer precedes it
        ("2024-03-05 03:00", "2024-03-05"),  # before the open -> that day
        ("2024-03-08 16:01", "2024-03-11"),  # Friday evening -> Monday
        ("2024-03-09 12:00", "2024-03-11"),  # Saturday -> Monday
        ("2024-03-10 23:59", "2024-03-11"),  # Sunday night -> Monday
        ("2024-07-04 12:00", "2024-07-05"),  # Independence Day holiday -> next day
        ("2024-12-25 10:00", "2024-12-26"),  # Christmas
        ("2024-03-29 12:00", "2024-04-01"),  # Good Friday (not a federal holiday) -> Monday
        ("2025-01-09 12:00", "2025-01-10"),  # national day of mourning (Carter) closure
        ("2024-07-03 12:59", "2024-07-03"),  # early close 13:00: before it -> that day
        ("2024-07-03 13:30", "2024-07-05"),  # early close: after it -> next session (skips the 4th)
        ("2024-11-29 13:30", "2024-12-02"),  # day after Thanksgiving, early close
        ("2024-12-24 13:01", "2024-12-26"),  # Christmas Eve early close
    ],
)
def test_session_rules_in_new_york_time(local, session):
    assert _one(local) == pd.Timestamp(session)


def test_daylight_saving_spring_forward():
    # 2024-03-10: clocks jump to EDT. The close on Monday 11 March is 20:00 UTC, on Friday 8 March 21:00 UTC.
    assert _one("2024-03-08 20:30", "UTC") == pd.Timestamp("2024-03-08")  # 15:30 EST
    assert _one("2024-03-11 20:30", "UTC") == pd.Timestamp("2024-03-12")  # 16:30 EDT
    assert _one("2024-03-11 19:59", "UTC") == pd.Timestamp("2024-03-11")  # 15:59 EDT
    # the skipped hour itself: 07:30 UTC on the 10th is 03:30 EDT, a Sunday -> Monday
    assert _one("2024-03-10 07:30", "UTC") == pd.Timestamp("2024-03-11")


def test_daylight_saving_fall_back():
    # 2024-11-03: back to EST. Friday 1 Nov closes 20:00 UTC, Monday 4 Nov closes 21:00 UTC.
    assert _one("2024-11-01 20:30", "UTC") == pd.Timestamp("2024-11-04")  # 16:30 EDT Friday
    assert _one("2024-11-04 20:30", "UTC") == pd.Timestamp("2024-11-04")  # 15:30 EST Monday
    assert _one("2024-11-04 21:00", "UTC") == pd.Timestamp("2024-11-05")  # 16:00 EST
    # the repeated hour, 01:30 both EDT and EST on Sunday 3 Nov -> Monday
    assert _one("2024-11-03 05:30", "UTC") == pd.Timestamp("2024-11-04")
    assert _one("2024-11-03 06:30", "UTC") == pd.Timestamp("2024-11-04")


def test_naive_input_is_utc_and_index_kept():
    s = pd.Series(pd.to_datetime(["2024-03-05 20:59", "2024-03-05 21:01", None]), index=[10, 20, 30])
    out = assign_sessions(s)
    assert list(out.index) == [10, 20, 30]
    assert out.iloc[0] == pd.Timestamp("2024-03-05")
    assert out.iloc[1] == pd.Timestamp("2024-03-06")
    assert pd.isna(out.iloc[2])
    assert out.dtype == "datetime64[ns]"


def test_accepts_lists_and_other_timezones():
    # 20:00 UTC (15:00 EST) -> that day; 21:00 UTC is the close itself -> next session
    out = assign_sessions(["2024-03-05T21:00:00+01:00", "2024-03-06T06:00:00+09:00"])
    assert list(out) == [pd.Timestamp("2024-03-05"), pd.Timestamp("2024-03-06")]


def test_garbage_is_a_one_line_error():
    with pytest.raises(CalendarError, match="timestamps"):
        assign_sessions(["not a date"])


def test_vectorised_on_a_million_rows():
    rng = np.random.default_rng(0)
    base = pd.Timestamp("2015-01-01").value
    span = pd.Timestamp("2025-01-01").value - base
    ts = pd.Series(pd.to_datetime(base + rng.integers(0, span, 1_000_000)))
    t0 = time.perf_counter()
    out = assign_sessions(ts)
    elapsed = time.perf_counter() - t0
    assert out.notna().all()
    # every session assigned is on or after the timestamp's UTC date minus one day, and a real session
    assert set(out.unique()) <= set(sessions_between("2015-01-01", "2025-01-10"))
    assert (out >= ts.dt.normalize() - pd.Timedelta(days=1)).all()
    assert elapsed < 5.0


def test_sessions_between_counts_a_known_year():
    s = sessions_between("2023-01-01", "2023-12-31")
    assert len(s) == 250
    assert pd.Timestamp("2023-07-04") not in s
    assert s[0] == pd.Timestamp("2023-01-03")
    with pytest.raises(CalendarError, match="before start"):
        sessions_between("2023-02-01", "2023-01-01")


def test_sessions_between_needs_two_dates():
    with pytest.raises(CalendarError, match="needs two dates"):
        sessions_between(None, "2024-01-01")


def test_a_timestamp_past_2262_is_left_unassigned_not_an_overflow(caplog):
    # pandas' nanosecond timestamps end in April 2262; the calendar stops with 2261.
    got = assign_sessions([datetime(3000, 1, 1), datetime(2024, 1, 2, 15), "2261-12-30 15:00Z"])
    assert got.isna().tolist() == [True, False, False]
    assert got.iloc[1:].tolist() == [pd.Timestamp("2024-01-02"), pd.Timestamp("2261-12-30")]
    assert "after the calendar's last session" in caplog.text
