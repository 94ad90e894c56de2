"""The daily sentiment index from the store: stances and themes placed in trading sessions.

Sessions come from market/'s NYSE calendar (a post belongs to the session whose
close it precedes); the index arithmetic is sentiment/'s.
"""
from __future__ import annotations

import pandas as pd

from crowdpulse.store import Store


def _with_sessions(df: pd.DataFrame) -> pd.DataFrame:
    from market.calendar import assign_sessions

    df = df.dropna(subset=["created_at"]).copy()
    if df.empty:
        return df.assign(session=pd.Series(dtype="datetime64[ns]"))
    df["session"] = assign_sessions(pd.to_datetime(df["created_at"], utc=True)).values
    return df


def stance_frame(store: Store, model_id: str, tickers: list[str] | None = None) -> pd.DataFrame:
    """One row per (post, ticker) stance with the post's time, score and trading session."""
    sql = """SELECT s.source, s.post_id, s.ticker, s.label, s.p_bullish, s.p_bearish, s.p_neutral, s.via,
                    p.created_at, p.score, p.thread_id, p.time_precision
             FROM stances s JOIN posts p ON p.source = s.source AND p.id = s.post_id
             WHERE s.model_id = ?"""
    params: list = [model_id]
    if tickers:
        sql += f" AND s.ticker IN ({', '.join('?' for _ in tickers)})"
        params += [t.upper() for t in tickers]
    return _with_sessions(store.query(sql, params))


def theme_frame(store: Store, model_id: str) -> pd.DataFrame:
    """One row per (post, theme) with the post's overall label and probabilities and its session."""
    return _with_sessions(store.query(
        """SELECT t.source, t.post_id, t.theme, t.score AS theme_score, sc.label, sc.p_bullish,
                  sc.p_bearish, sc.p_neutral, p.created_at, p.score, p.thread_id
           FROM themes t JOIN posts p ON p.source = t.source AND p.id = t.post_id
           JOIN scores sc ON sc.source = t.source AND sc.post_id = t.post_id AND sc.model_id = t.model_id
           WHERE t.model_id = ?""",
        [model_id],
    ))


def ticker_index(store: Store, model_id: str, tickers: list[str] | None = None,
                 weight: str | None = None) -> pd.DataFrame:
    """Daily index per (session, ticker): counts, mean(p_bull - p_bear), bullishness, agreement."""
    from sentiment.index import daily_index

    return daily_index(stance_frame(store, model_id, tickers), by="ticker", weight=weight)


def theme_index(store: Store, model_id: str, weight: str | None = None) -> pd.DataFrame:
    """Daily index per (session, theme)."""
    from sentiment.index import daily_index

    return daily_index(theme_frame(store, model_id), by="theme", weight=weight)
