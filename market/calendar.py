"""The NYSE trading calendar: which session a UTC timestamp belongs to.

A post belongs to the trading session whose close it precedes (``../shared/DESIGN.md``,
"Market time"): 15:59 New York time on a trading day is that day's session; 16:01, a weekend
or a holiday is the next session; on an early-close day (13:00) 13:30 is the next session.
The calendar (holidays, early closes, daylight saving) comes from ``exchange_calendars``
("XNYS"); assignment is one ``searchsorted`` over the session closes, so millions of rows
take well under a second.
"""
from __future__ import annotations

import logging
from functools import lru_cache
from typing import Any

import numpy as np
import pandas as pd

from market.errors import MarketError

log = logging.getLogger(__name__)

CALENDAR = "XNYS"
# The calendar built by default spans these years; inputs outside widen it.
_DEFAULT_FIRST_YEAR = 1990
_YEARS_AHEAD = 2
# pandas' nanosecond timestamps end on 2262-04-11: the calendar stops with the year before.
LAST_YEAR = 2261


class CalendarError(MarketError):
    """A timestamp or date range the trading calendar cannot place."""


@lru_cache(maxsize=8)
def _calendar(first_year: int, last_year: int) -> Any:
    import exchange_calendars as xcals

    log.info("building %s calendar %d-%d", CALENDAR, first_year, last_year)
    return xcals.get_calendar(CALENDAR, start=f"{first_year}-01-01", end=f"{last_year}-12-31")


def get_calendar(first_year: int | None = None, last_year: int | None = None) -> Any:
    """The exchange_calendars XNYS calendar covering at least ``first_year``..``last_year``."""
    this_year = pd.Timestamp.now(tz="UTC").year
    lo = min(_DEFAULT_FIRST_YEAR, first_year or _DEFAULT_FIRST_YEAR)
    hi = min(max(this_year + _YEARS_AHEAD, last_year or this_year), LAST_YEAR)
    if lo < 1885:
        raise CalendarError(f"the NYSE calendar starts in 1885; got a date in {lo}")
    return _calendar(lo, hi)


def session_closes(first_year: int | None = None, last_year: int | None = None) -> pd.Series:
    """Session close times (UTC, tz-aware) indexed by session date (naive, midnight)."""
    return get_calendar(first_year, last_year).closes


def _to_utc_index(ts: Any) -> tuple[pd.DatetimeIndex, pd.Index | None]:
    """Timestamps as a UTC DatetimeIndex (naive input is read as UTC), plus the input's index."""
    index = ts.index if isinstance(ts, pd.Series) else None
    values = ts.array if isinstance(ts, pd.Series) else ts
    try:
        # utc=True reads naive values as UTC and converts aware ones (mixed zones included).
        dti = pd.DatetimeIndex(pd.to_datetime(values, utc=True))
    except (ValueError, TypeError) as exc:
        first_line = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise CalendarError(f"cannot read these values as timestamps: {first_line}") from exc
    return dti, index


def assign_sessions(ts: Any) -> pd.Series:
    """The NYSE session each UTC timestamp belongs to.

    Args:
        ts: Series, DatetimeIndex or array-like of datetimes. Tz-aware values are converted to
            UTC; naive values are read as UTC. NaT stays NaT.

    Returns:
        Series of session dates (``datetime64[ns]``, midnight, no tz), with the input Series'
        index (or a RangeIndex). A timestamp at or after a session's close belongs to the next
        session; exactly at the close it is already the next session (it no longer precedes it).

    Example:
        >>> assign_sessions(pd.Series(pd.to_datetime(["2024-07-03 16:59Z", "2024-07-03 17:01Z"])))
        0   2024-07-03
        1   2024-07-05
        dtype: datetime64[ns]
    """
    dti, index = _to_utc_index(ts)
    out = np.full(len(dti), np.datetime64("NaT"), dtype="datetime64[ns]")
    valid = ~dti.isna()
    if valid.any():
        years = dti[valid].year
        closes = session_closes(int(years.min()), int(years.max()) + 1)
        # Compared in microseconds: a timestamp after 2262 does not fit in nanoseconds.
        close_us = closes.dt.tz_convert("UTC").dt.tz_localize(None).to_numpy().astype("datetime64[us]").view("int64")
        sessions = closes.index.to_numpy().astype("datetime64[ns]")
        t_us = dti[valid].tz_localize(None).to_numpy().astype("datetime64[us]").view("int64")
        # First close strictly after the timestamp: the session the timestamp precedes.
        pos = np.searchsorted(close_us, t_us, side="right")
        inside = pos < len(sessions)
        picked = np.full(len(t_us), np.datetime64("NaT"), dtype="datetime64[ns]")
        picked[inside] = sessions[pos[inside]]
        if (~inside).any():
            log.warning("%d timestamps fall after the calendar's last session; left as NaT", int((~inside).sum()))
        out[np.asarray(valid)] = picked
    return pd.Series(out, index=index if index is not None else pd.RangeIndex(len(out)), name="session")


def sessions_between(start: Any, end: Any) -> pd.DatetimeIndex:
    """NYSE session dates from ``start`` to ``end`` inclusive (naive midnight DatetimeIndex)."""
    try:
        lo, hi = pd.Timestamp(start), pd.Timestamp(end)
    except (ValueError, TypeError) as exc:
        raise CalendarError(f"sessions_between needs two dates; got {start!r} and {end!r}") from exc
    if lo is pd.NaT or hi is pd.NaT:
        raise CalendarError(f"sessions_between needs two dates; got {start!r} and {end!r}")
    if lo.tzinfo is not None:
        lo = lo.tz_convert("UTC").tz_localize(None)
    if hi.tzinfo is not None:
        hi = hi.tz_convert("UTC").tz_localize(None)
    if hi < lo:
        raise CalendarError(f"end {hi.date()} is before start {lo.date()}")
    cal = get_calendar(lo.year, hi.year)
    sessions = cal.sessions
    return sessions[(sessions >= lo.normalize()) & (sessions <= hi.normalize())]


def session_gaps(dates: Any, min_missing: int) -> pd.DataFrame:
    """Where a dated series has a gap: more than ``min_missing`` NYSE sessions without a date.

    ``dates``: the dates that hold data (any order; duplicates and NaT are ignored). Returns
    ``DataFrame[start, end, missing]``, one row per gap: ``start`` is the last date with data before
    it, ``end`` the first after it, ``missing`` the sessions strictly between them. Days that are
    not sessions (weekends, holidays) never count, so weekly or daily series read alike.

    Example:
        >>> session_gaps(["2021-08-02", "2021-08-03", "2023-03-01"], 10)[["start", "end"]]
               start        end
        0 2021-08-03 2023-03-01
    """
    if min_missing < 0:
        raise CalendarError(f"min_missing must be 0 or more sessions; got {min_missing}")
    cols = ["start", "end", "missing"]
    try:
        d = pd.DatetimeIndex(pd.to_datetime(pd.Index(dates), errors="raise"))
    except (ValueError, TypeError) as exc:
        raise CalendarError(f"cannot read these values as dates: {str(exc).splitlines()[0]}") from exc
    if d.tz is not None:
        d = d.tz_convert("America/New_York").tz_localize(None)
    d = d.dropna().normalize().unique().sort_values()
    if len(d) < 2:
        return pd.DataFrame(columns=cols)
    sessions = get_calendar(d[0].year, d[-1].year).sessions
    sessions = sessions.tz_localize(None) if sessions.tz is not None else sessions
    # sessions strictly between consecutive dates: those after the earlier, before the later
    after = sessions.searchsorted(d[:-1], side="right")
    before = sessions.searchsorted(d[1:], side="left")
    missing = before - after
    gap = np.flatnonzero(missing > min_missing)
    return pd.DataFrame({"start": d[:-1][gap], "end": d[1:][gap], "missing": missing[gap].astype(int)}, columns=cols)
