"""Glue between market/ prices and the store's prices table: load, cache incrementally, read back."""
from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import pandas as pd

from crowdpulse.store import Store

log = logging.getLogger(__name__)


def cached_range(store: Store, ticker: str) -> tuple[pd.Timestamp | None, pd.Timestamp | None]:
    """First and last cached session for ``ticker`` (None, None when nothing is cached)."""
    row = store.query("SELECT min(date) AS lo, max(date) AS hi FROM prices WHERE ticker = ?", [ticker]).iloc[0]
    if pd.isna(row["lo"]):
        return None, None
    return pd.Timestamp(row["lo"]), pd.Timestamp(row["hi"])


def _last_complete_session(end: pd.Timestamp | None) -> pd.Timestamp:
    from market.calendar import assign_sessions, sessions_between

    now = pd.Timestamp.now(tz="UTC")
    current = assign_sessions(pd.Series([now])).iloc[0]  # the session still open (or next)
    done = sessions_between(current - pd.Timedelta(days=10), current)
    last = done[done < current][-1]
    return min(last, end) if end is not None else last


def update_prices(store: Store, tickers: list[str], start: Any = "2020-01-01", end: Any = None,
                  csv_dir: str | Path | None = None, session: Any = None, refresh: bool = False) -> dict[str, Any]:
    """Load prices (CSV folder or Yahoo) into the prices table; Yahoo fetches only what is missing.

    With Yahoo, a ticker whose cache already reaches back to ``start`` is fetched from the day
    after its last cached session; ``refresh=True`` refetches the whole range (adjusted closes
    change after each dividend). Returns ``{"rows", "inserted", "updated", "fetched", "skipped",
    "provider", "stale", "unreachable"}``: when Yahoo fails (offline) for tickers the cache already
    holds, they keep their cached prices, ``stale`` maps each to its last cached date and
    ``unreachable`` says why (:func:`stale_note`); a ticker with nothing cached, or
    ``refresh=True``, still raises.
    """
    from market.errors import PriceDataError
    from market.prices import _date_or_none, fetch_yahoo, load_csv_prices, normalize_tickers

    symbols = normalize_tickers(tickers)
    lo, hi = _date_or_none(start, "start"), _date_or_none(end, "end")
    if csv_dir is not None:
        df = load_csv_prices(csv_dir, symbols, start=lo, end=hi)
        count = store.upsert("prices", df)
        return {"rows": len(df), "inserted": count.inserted, "updated": count.updated,
                "fetched": symbols, "skipped": [], "provider": "csv", "stale": {}, "unreachable": None}
    if lo is None:
        from crowdpulse.errors import CrowdpulseError

        raise CrowdpulseError("prices need a start date (--start YYYY-MM-DD)")
    last_needed = _last_complete_session(hi)
    plan: dict[pd.Timestamp, list[str]] = {}
    skipped = []
    for t in symbols:
        first, last = cached_range(store, t)
        if refresh or first is None or first > lo + pd.Timedelta(days=5):
            plan.setdefault(lo, []).append(t)
        elif last >= last_needed:
            skipped.append(t)
        else:
            plan.setdefault(last + pd.Timedelta(days=1), []).append(t)
    rows, inserted, updated = 0, 0, 0
    stale: dict[str, str] = {}
    unreachable = None
    for since, group in plan.items():
        log.info("Yahoo: %s from %s", ",".join(group), since.date())
        try:
            df = fetch_yahoo(group, start=since, end=hi, session=session)
        except PriceDataError as exc:  # offline: the cache serves what it holds, saying how old
            last = {t: cached_range(store, t)[1] for t in group}
            if refresh or any(v is None for v in last.values()):
                raise
            log.info("%s; using the cached prices of %s", exc.reason, ", ".join(group))
            stale.update({t: str(v.date()) for t, v in last.items()})
            unreachable = exc.reason
            continue
        count = store.upsert("prices", df)
        rows, inserted, updated = rows + len(df), inserted + count.inserted, updated + count.updated
    fetched = [t for g in plan.values() for t in g if t not in stale]
    return {"rows": rows, "inserted": inserted, "updated": updated, "fetched": fetched,
            "skipped": skipped, "provider": "yahoo", "stale": stale, "unreachable": unreachable}


def stale_note(got: dict[str, Any]) -> str | None:
    """What :func:`update_prices` fell back to when Yahoo failed: the cached tickers and their age."""
    if not got.get("stale"):
        return None
    today = pd.Timestamp.now(tz="UTC").tz_localize(None).normalize()
    ages = ", ".join(f"{t} through {d} ({(today - pd.Timestamp(d)).days:,} days old)" for t, d in got["stale"].items())
    return f"{got['unreachable']}; using the prices already in the database: {ages}"


def read_prices(store: Store, tickers: list[str] | None = None, start: Any = None, end: Any = None) -> pd.DataFrame:
    """Cached prices as ``DataFrame[ticker, date, open, high, low, close, adj_close, volume, provider]``."""
    sql, params = "SELECT * FROM prices WHERE 1=1", []
    if tickers:
        sql += f" AND ticker IN ({', '.join('?' for _ in tickers)})"
        params += [t.upper() for t in tickers]
    if start is not None:
        sql += " AND date >= ?"
        params.append(pd.Timestamp(start).date())
    if end is not None:
        sql += " AND date <= ?"
        params.append(pd.Timestamp(end).date())
    df = store.query(sql + " ORDER BY ticker, date", params)
    df["date"] = pd.to_datetime(df["date"]).astype("datetime64[ns]")
    return df
