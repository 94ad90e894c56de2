"""Questions asked of the store: per-ticker summaries and sentiment against returns."""
from __future__ import annotations

import pandas as pd

from crowdpulse.store import Store

SIGNAL_COLUMNS = {"mean_score": "mean_score", "bullishness": "bullishness", "count": "n_posts"}


def ticker_summary(store: Store, model_id: str, top_themes: int = 3) -> pd.DataFrame:
    """Per ticker: posts, bullish/bearish/neutral shares and the most frequent themes of its posts."""
    stances = store.query(
        """SELECT ticker, count(*) AS posts,
                  avg(CASE WHEN label = 'bullish' THEN 1 ELSE 0 END) AS bullish,
                  avg(CASE WHEN label = 'bearish' THEN 1 ELSE 0 END) AS bearish,
                  avg(CASE WHEN label = 'neutral' THEN 1 ELSE 0 END) AS neutral,
                  avg(p_bullish - p_bearish) AS mean_score
           FROM stances WHERE model_id = ? GROUP BY ticker ORDER BY posts DESC, ticker""",
        [model_id],
    )
    themes = store.query(
        """SELECT s.ticker, t.theme, count(*) AS n
           FROM stances s JOIN themes t ON t.source = s.source AND t.post_id = s.post_id
                                        AND t.model_id = s.model_id
           WHERE s.model_id = ? GROUP BY s.ticker, t.theme ORDER BY s.ticker, n DESC, t.theme""",
        [model_id],
    )
    top = (themes.groupby("ticker")["theme"].apply(lambda s: ", ".join(s.head(top_themes)))
           if not themes.empty else pd.Series(dtype=str))
    stances["top_themes"] = stances["ticker"].map(top).fillna("")
    return stances


def sentiment_signal(index: pd.DataFrame, signal: str = "mean_score") -> pd.DataFrame:
    """The index as the (date, ticker, value) frame the statistics take."""
    if signal not in SIGNAL_COLUMNS:
        from crowdpulse.errors import CrowdpulseError

        raise CrowdpulseError(f"unknown signal {signal!r}; signals: {', '.join(SIGNAL_COLUMNS)}")
    if index.empty:
        return pd.DataFrame(columns=["date", "ticker", "value"])
    key = "ticker" if "ticker" in index.columns else "key"
    return pd.DataFrame({"date": pd.to_datetime(index["session"]), "ticker": index[key],
                         "value": index[SIGNAL_COLUMNS[signal]].astype(float)})


def correlate_store(store: Store, model_id: str, *, tickers: list[str], signal: str = "mean_score",
                    lags: int = 5, permutations: int = 1000, index: pd.DataFrame | None = None,
                    seed: int = 0) -> pd.DataFrame:
    """All the statistics of the crowd's daily index against session returns from the prices table."""
    from crowdpulse.index import ticker_index
    from market.returns import session_returns
    from market.stats import correlate_all

    if index is None:
        index = ticker_index(store, model_id, tickers)
    sentiment = sentiment_signal(index, signal)
    sentiment = sentiment[sentiment["ticker"].isin([t.upper() for t in tickers])]
    prices = store.query(
        f"SELECT * FROM prices WHERE ticker IN ({', '.join('?' for _ in tickers)}) ORDER BY ticker, date",
        [t.upper() for t in tickers],
    )
    if sentiment.empty or prices.empty:
        return pd.DataFrame()
    returns = session_returns(prices)
    return correlate_all(sentiment, returns, lags=lags, permutations=permutations, seed=seed,
                         signal_name=signal)
