"""Session returns from adjusted closes: ret(t) = adj_close(t) / adj_close(t-1) - 1."""
from __future__ import annotations

import logging

import numpy as np
import pandas as pd

from market.errors import MarketError, PriceDataError
from market.prices import session_dates, ticker_column

log = logging.getLogger(__name__)

RETURN_COLUMNS = ["ticker", "date", "adj_close", "ret", "log_ret"]


def session_returns(prices: pd.DataFrame) -> pd.DataFrame:
    """Simple and log returns per ticker and session from adjusted closes.

    Args:
        prices: frame with at least ``ticker``, ``date`` and ``adj_close`` (as from
            :func:`market.prices.load_csv_prices` or the store's prices table).

    Returns:
        ``DataFrame[ticker, date, adj_close, ret, log_ret]`` sorted by ticker and date; each
        ticker's first session has no previous close and is left out.

    Example:
        >>> p = pd.DataFrame({"ticker": "IWM", "date": pd.to_datetime(["2024-01-02", "2024-01-03"]),
        ...                   "adj_close": [100.0, 101.0]})
        >>> session_returns(p)[["date", "ret"]].to_dict("records")
        [{'date': Timestamp('2024-01-03 00:00:00'), 'ret': 0.01...}]
    """
    missing = {"ticker", "date", "adj_close"} - set(prices.columns)
    if missing:
        raise PriceDataError(f"prices need columns ticker, date, adj_close; missing {', '.join(sorted(missing))}")
    df = prices[["ticker", "date", "adj_close"]].copy()
    df["ticker"] = ticker_column(df["ticker"])
    try:
        df["date"] = session_dates(df["date"], "price dates")
    except MarketError as exc:
        raise PriceDataError(str(exc)) from None
    df["adj_close"] = pd.to_numeric(df["adj_close"], errors="coerce").astype(float)
    df = df.dropna(subset=["adj_close"])
    df = df[df["adj_close"] > 0]
    df = df.drop_duplicates(["ticker", "date"], keep="last").sort_values(["ticker", "date"])
    prev = df.groupby("ticker", sort=False)["adj_close"].shift(1)
    df["ret"] = df["adj_close"] / prev - 1.0
    df["log_ret"] = np.log(df["adj_close"] / prev)
    out = df.dropna(subset=["ret"]).reset_index(drop=True)
    return out[RETURN_COLUMNS]


def returns_wide(returns: pd.DataFrame, column: str = "ret") -> pd.DataFrame:
    """Returns as a session x ticker table (NaN where a ticker has no bar that session)."""
    return returns.pivot(index="date", columns="ticker", values=column).sort_index()
