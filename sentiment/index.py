"""The daily sentiment index per (trading session, ticker) or (session, theme).

Sessions come from the caller (``crowdpulse`` assigns them with the market calendar): this
module never imports ``market``. For each group:

- ``n_posts``: rows in the group (one row per post and ticker/theme)
- ``n_bullish``, ``n_bearish``: rows labelled bullish / bearish (weighted sums when weighting)
- ``mean_score``: mean of ``p_bullish - p_bearish`` (weighted mean when weighting)
- ``bullishness``: Antweiler & Frank (2004) ``ln((1 + N_bull) / (1 + N_bear))``
- ``agreement``: ``1 - sqrt(1 - ((N_bull - N_bear) / (N_bull + N_bear))**2)``; NaN when the
  group has no bullish and no bearish row.

With ``weight="score"`` (or any column name) each row weighs ``1 + ln(1 + max(w, 0))``, so a
post with 0 or negative votes still counts once and a viral post does not drown the day.
"""
from __future__ import annotations

import numpy as np
import pandas as pd

from models.labels import LABELS
from sentiment.errors import SentimentError

INDEX_COLUMNS = ["session", "n_posts", "n_bullish", "n_bearish", "mean_score", "bullishness", "agreement"]


def bullishness(n_bull, n_bear):
    """Antweiler-Frank bullishness ln((1 + N_bull) / (1 + N_bear))."""
    return np.log((1.0 + np.asarray(n_bull, float)) / (1.0 + np.asarray(n_bear, float)))


def agreement(n_bull, n_bear):
    """Antweiler-Frank agreement 1 - sqrt(1 - D^2), D = (N_bull - N_bear)/(N_bull + N_bear); NaN if both 0."""
    b, s = np.asarray(n_bull, float), np.asarray(n_bear, float)
    tot = b + s
    with np.errstate(invalid="ignore", divide="ignore"):
        d = np.where(tot > 0, (b - s) / tot, np.nan)
        return 1.0 - np.sqrt(np.clip(1.0 - d * d, 0.0, 1.0))


def daily_index(df: pd.DataFrame, by: str = "ticker", weight: str | None = None) -> pd.DataFrame:
    """Aggregate stance rows into the daily index.

    Args:
        df: rows with ``session``, the ``by`` column (``ticker`` or ``theme``), ``p_bullish``,
            ``p_bearish`` and optionally ``label`` (else the argmax of p_bullish, p_bearish,
            p_neutral). For ``by="theme"`` pass theme rows joined to their post's probabilities.
        by: ``"ticker"`` or ``"theme"``.
        weight: ``None`` or a numeric column (e.g. ``"score"``, the post's votes).

    Returns:
        DataFrame[session, <by>, n_posts, n_bullish, n_bearish, mean_score, bullishness, agreement],
        sorted by session then key.
    """
    if by not in ("ticker", "theme"):
        raise SentimentError(f"daily_index by={by!r} is not supported; use 'ticker' or 'theme'")
    need = ["session", by, "p_bullish", "p_bearish"]
    missing = [c for c in need if c not in df.columns]
    if missing:
        raise SentimentError(f"daily_index needs the column(s) {', '.join(missing)}; got {', '.join(map(str, df.columns))}")
    if weight is not None and weight not in df.columns:
        raise SentimentError(f"weight column {weight!r} is not in the data; columns: {', '.join(map(str, df.columns))}")
    if weight is not None and len(df) and (pd.api.types.is_datetime64_any_dtype(df[weight])
                                           or pd.to_numeric(df[weight], errors="coerce").isna().all()):
        raise SentimentError(f"weight {weight!r} is not a numeric column; use e.g. weight='score'")
    cols = [by, "session"]
    if df.empty:
        return pd.DataFrame(columns=["session", by, *INDEX_COLUMNS[1:]])
    d = df.copy()
    for c in ("p_bullish", "p_bearish"):
        d[c] = pd.to_numeric(d[c], errors="coerce")
    unscored = d[["p_bullish", "p_bearish"]].isna().any(axis=1)
    if unscored.any():
        raise SentimentError(f"{int(unscored.sum())} row(s) have no p_bullish or p_bearish; "
                             "drop unscored rows before building the index")
    if "label" in d.columns:
        label = d["label"].astype(str).str.strip().str.lower()
        odd = sorted(set(label) - set(LABELS))
        if odd:
            raise SentimentError(f"label(s) {', '.join(odd[:5])} are not {', '.join(LABELS)}")
    elif "p_neutral" in d.columns:
        p = d[["p_bullish", "p_bearish", "p_neutral"]].to_numpy()
        label = pd.Series(np.asarray(LABELS)[p.argmax(axis=1)], index=d.index)
    else:
        raise SentimentError("daily_index needs a label column or p_neutral (to take the most probable label)")
    if weight is None:
        w = pd.Series(1.0, index=d.index)
    else:
        w = 1.0 + np.log1p(pd.to_numeric(d[weight], errors="coerce").fillna(0).clip(lower=0))
    d["_w"] = w
    d["_bull"] = w * (label == "bullish")
    d["_bear"] = w * (label == "bearish")
    d["_s"] = w * (d["p_bullish"] - d["p_bearish"])
    g = d.groupby(cols, sort=True)
    out = pd.DataFrame({
        "n_posts": g.size(),
        "n_bullish": g["_bull"].sum(),
        "n_bearish": g["_bear"].sum(),
        "mean_score": g["_s"].sum() / g["_w"].sum(),
    }).reset_index()
    if weight is None:
        out["n_bullish"] = out["n_bullish"].astype(int)
        out["n_bearish"] = out["n_bearish"].astype(int)
    out["bullishness"] = bullishness(out["n_bullish"], out["n_bearish"])
    out["agreement"] = agreement(out["n_bullish"], out["n_bearish"])
    out = out[["session", by, *INDEX_COLUMNS[1:]]].sort_values(["session", by]).reset_index(drop=True)
    return out
