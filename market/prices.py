"""Daily prices from Yahoo Finance (through yfinance) or from CSV files, as one tidy frame.

Every provider returns ``DataFrame[ticker, date, open, high, low, close, adj_close, volume,
provider]``, one row per (ticker, session), sorted. ``adj_close`` is the split- and
dividend-adjusted close that returns are computed from.
"""
from __future__ import annotations

import logging
import re
import warnings
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterable, Iterator

import numpy as np
import pandas as pd

from market.errors import MarketError, PriceDataError

log = logging.getLogger(__name__)

PRICE_COLUMNS = ["ticker", "date", "open", "high", "low", "close", "adj_close", "volume", "provider"]
YAHOO_CSV_COLUMNS = ["Date", "Open", "High", "Low", "Close", "Adj Close", "Volume"]
ADJUSTED_CSV_COLUMNS = ["Date", "Close", "High", "Low", "Open", "Volume"]
_TICKER_RE = re.compile(r"^[A-Z0-9^][A-Z0-9.\-=^]{0,14}$")
DEFAULT_TIMEOUT_S = 10


def to_datetime_quiet(values: Any, **kwargs: Any) -> Any:
    """``pd.to_datetime`` without pandas' "Could not infer format" warning: dates that are not all in
    one format still parse one by one, as before, but no two-line warning lands above a user's error."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="Could not infer format", category=UserWarning)
        return pd.to_datetime(values, **kwargs)


def session_dates(values: Any, what: str = "dates") -> pd.Series:
    """Session dates (naive, midnight) from dates, strings or timestamps.

    A timestamp with a zone is read on New York's clock, where sessions are dated (20:00 in New York
    is that day's date, not the next day's as in UTC); a missing or unreadable date is a
    :class:`~market.errors.MarketError` naming it, never a NaT that computes on.
    """
    col = pd.Series(values)
    try:
        d = to_datetime_quiet(col, errors="coerce", format="mixed")
        if d.dt.tz is not None:
            d = d.dt.tz_convert("America/New_York").dt.tz_localize(None)
    except (ValueError, TypeError):  # zones and naive values mixed: one by one, each on its own clock
        d = pd.Series([_new_york_naive(v) for v in col], index=col.index, dtype="datetime64[ns]")
    bad = d.isna()
    if bad.any():
        first = col[bad].iloc[0]
        raise MarketError(f"{what}: {int(bad.sum())} missing or unreadable, e.g. {first!r}; use YYYY-MM-DD")
    return d.dt.normalize().astype("datetime64[ns]")


def _new_york_naive(value: Any) -> pd.Timestamp:
    try:
        ts = pd.Timestamp(value)
    except (ValueError, TypeError):
        return pd.NaT
    if ts is pd.NaT or ts.tzinfo is None:
        return ts
    return ts.tz_convert("America/New_York").tz_localize(None)


def ticker_column(col: pd.Series) -> pd.Series:
    """A column of tickers as symbols: trimmed, without a leading ``$``, upper-case."""
    return col.astype(str).str.strip().str.lstrip("$").str.upper()


def normalize_tickers(tickers: str | Iterable[str]) -> list[str]:
    """Upper-case, de-duplicated ticker symbols; a comma-separated string is split."""
    items = tickers.split(",") if isinstance(tickers, str) else list(tickers)
    out: list[str] = []
    for item in items:
        t = str(item).strip().upper()
        if not t:
            continue
        if not _TICKER_RE.match(t):
            raise PriceDataError(f"{item!r} is not a ticker symbol; use letters, digits, '.', '-', '^' or '=' (e.g. IWM)")
        if t not in out:
            out.append(t)
    if not out:
        raise PriceDataError("no tickers given; name at least one, e.g. IWM")
    return out


def _date_or_none(value: Any, name: str) -> pd.Timestamp | None:
    if value is None or value == "":
        return None
    try:
        ts = pd.Timestamp(value)
    except (ValueError, TypeError) as exc:
        raise PriceDataError(f"{name} {value!r} is not a date; use YYYY-MM-DD") from exc
    if ts.tzinfo is not None:
        ts = ts.tz_convert("UTC").tz_localize(None)
    return ts.normalize()


def _date_range(start: Any, end: Any) -> tuple[pd.Timestamp | None, pd.Timestamp | None]:
    lo, hi = _date_or_none(start, "start"), _date_or_none(end, "end")
    if lo is not None and hi is not None and hi < lo:
        raise PriceDataError(f"end {hi.date()} is before start {lo.date()}")
    return lo, hi


def _finish(df: pd.DataFrame, start: pd.Timestamp | None, end: pd.Timestamp | None) -> pd.DataFrame:
    """Common clean-up: types, date window, drop rows without a usable close, sort, de-duplicate."""
    df = df.copy()
    df["date"] = pd.to_datetime(df["date"]).dt.tz_localize(None).dt.normalize().astype("datetime64[ns]")
    for col in ("open", "high", "low", "close", "adj_close", "volume"):
        df[col] = pd.to_numeric(df[col], errors="coerce").astype(float)
    if start is not None:
        df = df[df["date"] >= start]
    if end is not None:
        df = df[df["date"] <= end]
    bad = df["adj_close"].isna() | ~(df["adj_close"] > 0)
    if bad.any():
        log.warning("dropping %d price rows without a positive adjusted close", int(bad.sum()))
    df = df[~bad]
    repeated = int(df.duplicated(["ticker", "date"]).sum())
    if repeated:
        log.warning("dropping %d price rows that repeat a date (the last one of each date is kept)", repeated)
    df = df.drop_duplicates(["ticker", "date"], keep="last").sort_values(["ticker", "date"])
    return df[PRICE_COLUMNS].reset_index(drop=True)


def _csv_file(folder: Path, ticker: str) -> Path:
    exact = folder / f"{ticker}.csv"
    if exact.is_file():
        return exact
    for path in folder.glob("*.csv"):
        if path.stem.upper() == ticker:
            return path
    available = sorted(p.stem for p in folder.glob("*.csv"))
    raise PriceDataError(
        f"no price file for {ticker} in {folder}: expected {ticker}.csv; "
        f"found {', '.join(available[:12]) or 'no CSV files'}"
    )


def read_price_csv(path: str | Path, ticker: str | None = None) -> pd.DataFrame:
    """One CSV file in either Yahoo layout, as the tidy price frame (no date filter).

    Accepts Yahoo's download layout ``Date,Open,High,Low,Close,Adj Close,Volume`` and the
    yfinance ``auto_adjust=True`` layout ``Date,Close,High,Low,Open,Volume`` in which Close is
    already adjusted (then ``adj_close = close``). Yahoo writes ``null`` for missing values.
    """
    path = Path(path)
    ticker = (ticker or path.stem).upper()
    try:
        raw = pd.read_csv(path, na_values=["null", "NaN", ""])
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as exc:
        raise PriceDataError(f"cannot read {path} as CSV: {str(exc).splitlines()[0] if str(exc) else exc}") from exc
    cols = {c.strip(): c for c in raw.columns}
    if {"Date", "Close"} - set(cols):
        raise PriceDataError(
            f"{path} has columns {', '.join(map(str, raw.columns))}; expected "
            f"{','.join(YAHOO_CSV_COLUMNS)} or {','.join(ADJUSTED_CSV_COLUMNS)}"
        )
    raw = raw.rename(columns={v: k for k, v in cols.items()})
    adjusted_layout = "Adj Close" not in raw.columns
    df = pd.DataFrame({
        "ticker": ticker,
        "date": to_datetime_quiet(raw["Date"], errors="coerce", utc=True).dt.tz_localize(None),
        "open": raw.get("Open"),
        "high": raw.get("High"),
        "low": raw.get("Low"),
        "close": raw["Close"],
        "adj_close": raw["Close"] if adjusted_layout else raw["Adj Close"],
        "volume": raw.get("Volume"),
        "provider": "csv-adjusted" if adjusted_layout else "csv",
    })
    n_bad_dates = int(df["date"].isna().sum())
    if n_bad_dates == len(df) and len(df):
        raise PriceDataError(f"{path}: no readable dates in column Date (expected YYYY-MM-DD)")
    if n_bad_dates:
        log.warning("%s: skipping %d rows with unreadable dates", path, n_bad_dates)
    return df.dropna(subset=["date"])


def load_csv_prices(folder: str | Path, tickers: str | Iterable[str], start: Any = None,
                    end: Any = None) -> pd.DataFrame:
    """Prices for ``tickers`` from ``folder/TICKER.csv`` files, between ``start`` and ``end`` inclusive.

    Example:
        >>> load_csv_prices("../shared/data/market/adjusted_2026", ["IWM", "TLT"], start="2020-01-01")
    """
    folder = Path(folder)
    if not folder.is_dir():
        raise PriceDataError(f"price folder {folder} does not exist or is not a folder; give a folder of TICKER.csv files")
    lo, hi = _date_range(start, end)
    frames = []
    for ticker in normalize_tickers(tickers):
        df = _finish(read_price_csv(_csv_file(folder, ticker), ticker), lo, hi)
        if df.empty:
            raise PriceDataError(f"{folder / (ticker + '.csv')} has no prices between "
                                 f"{lo.date() if lo is not None else 'its first row'} and {hi.date() if hi is not None else 'its last row'}")
        frames.append(df)
    return pd.concat(frames, ignore_index=True)


class _Capture(logging.Handler):
    def __init__(self) -> None:
        super().__init__(level=logging.DEBUG)
        self.messages: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        if record.levelno >= logging.WARNING:
            self.messages.append(record.getMessage())


@contextmanager
def _quiet_yfinance() -> Iterator[_Capture]:
    """Collect yfinance's warnings/errors (it reports failures only by logging) instead of printing them."""
    logger = logging.getLogger("yfinance")
    handler = _Capture()
    old_propagate = logger.propagate
    logger.addHandler(handler)
    logger.propagate = False
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # yfinance 1.7 + pandas 3 emit many deprecation warnings
            yield handler
    finally:
        logger.removeHandler(handler)
        logger.propagate = old_propagate


def _reason(ticker: str, messages: list[str]) -> str:
    """A short reason for one ticker's failure, from yfinance's log lines."""
    mine = [m for m in messages if f"'{ticker}'" in m or f"${ticker}" in m] or messages
    text = " ".join(mine)
    if re.search(r"resolve host|DNSError|ConnectionError|ConnectError|Timeout|timed out|Failed to perform|Connection refused", text):
        return "Yahoo Finance could not be reached (no network connection?)"
    if "Too Many Requests" in text or "RateLimit" in text:
        return "Yahoo Finance is rate-limiting requests; try again later"
    if re.search(r"delisted|No data found|no price data|no timezone found|404 Client Error|Not Found", text):
        return "Yahoo Finance has no data for it (symbol unknown or delisted?)"
    if mine:
        last = mine[-1].strip().splitlines()[-1]
        return f"Yahoo Finance returned no prices ({last[:160]})"
    return "Yahoo Finance returned no prices"


def _yahoo_frame(data: pd.DataFrame, ticker: str) -> pd.DataFrame:
    if isinstance(data.columns, pd.MultiIndex):
        level = "Ticker" if "Ticker" in data.columns.names else 1
        if ticker not in data.columns.get_level_values(level):
            return pd.DataFrame()
        sub = data.xs(ticker, axis=1, level=level)
    else:
        sub = data
    sub = sub.dropna(how="all")
    if sub.empty or "Close" not in sub.columns or sub["Close"].isna().all():
        return pd.DataFrame()
    adj = sub["Adj Close"] if "Adj Close" in sub.columns else sub["Close"]
    return pd.DataFrame({
        "ticker": ticker, "date": pd.DatetimeIndex(sub.index).tz_localize(None) if getattr(sub.index, "tz", None) else sub.index,
        "open": sub.get("Open"), "high": sub.get("High"), "low": sub.get("Low"), "close": sub["Close"],
        "adj_close": adj, "volume": sub.get("Volume"), "provider": "yahoo",
    }).reset_index(drop=True)


def fetch_yahoo(tickers: str | Iterable[str], start: Any, end: Any = None, session: Any = None,
                timeout: float = DEFAULT_TIMEOUT_S) -> pd.DataFrame:
    """Daily bars from Yahoo Finance via ``yfinance.download`` (raw OHLC plus Adj Close).

    Args:
        tickers: symbols, e.g. ``["IWM", "TLT"]`` or ``"IWM,TLT"``.
        start, end: first and last date wanted (inclusive); ``end=None`` means up to today.
        session: a ``requests.Session`` (or curl_cffi session) for yfinance to use; ``None`` lets
            yfinance use its own. Tests pass a session whose adapter serves recorded responses.
        timeout: seconds per request.

    Raises:
        PriceDataError: one line naming every ticker Yahoo gave nothing for, and why.
    """
    import yfinance as yf

    symbols = normalize_tickers(tickers)
    lo, hi = _date_range(start, end)
    if lo is None:
        raise PriceDataError("fetch_yahoo needs a start date (YYYY-MM-DD)")
    kwargs: dict[str, Any] = dict(
        start=lo.strftime("%Y-%m-%d"),
        end=(hi + pd.Timedelta(days=1)).strftime("%Y-%m-%d") if hi is not None else None,
        interval="1d", auto_adjust=False, actions=False, progress=False, threads=False,
        group_by="column", timeout=timeout,
    )
    if session is not None:
        kwargs["session"] = session
    log.info("fetching %s from Yahoo Finance, %s to %s", ",".join(symbols), kwargs["start"], kwargs["end"] or "today")
    with _quiet_yfinance() as captured:
        try:
            data = yf.download(symbols, **kwargs)
        except Exception as exc:  # yfinance raises a wide range (rate limit, HTTP, parse errors)
            captured.messages.append(repr(exc))
            data = pd.DataFrame()
    frames, failed = [], []
    for t in symbols:
        df = _yahoo_frame(data, t) if data is not None and not data.empty else pd.DataFrame()
        (frames.append(df) if not df.empty else failed.append(t))
    if failed:
        reasons: dict[str, list[str]] = {}
        for t in failed:
            reasons.setdefault(_reason(t, captured.messages), []).append(t)
        parts = [f"{', '.join(ts)}: {why}" for why, ts in reasons.items()]
        raise PriceDataError(f"no prices from Yahoo Finance for {'; '.join(parts)}",
                             hint="TICKER.csv files in Yahoo's layout can be read instead "
                                  "(crowdpulse prices --csv DIR; --prices-csv DIR on demo and correlate; csv = \"DIR\" in the prices table of a run config)")
    for m in captured.messages:
        log.debug("yfinance: %s", m)
    out = _finish(pd.concat(frames, ignore_index=True), lo, hi)
    if out.empty:
        raise PriceDataError(f"Yahoo Finance returned no prices for {', '.join(symbols)} between {lo.date()} and {hi.date() if hi is not None else 'today'}")
    return out
