"""A correlation network across tickers: edges weighted by rolling return correlation, over time."""
from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from market.errors import StatisticsError
from market.stats import MIN_WINDOW

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class CorrelationNetwork:
    """Edge weights per session: ``edges`` is ``DataFrame[date, source, target, weight]``."""

    edges: pd.DataFrame
    window: int
    tickers: tuple[str, ...]

    def to_frame(self) -> pd.DataFrame:
        return self.edges.copy()

    def dates(self) -> pd.DatetimeIndex:
        return pd.DatetimeIndex(self.edges["date"].unique())

    def graph(self, date: Any = None) -> Any:
        """The ``networkx.Graph`` at ``date`` (default: the last session), weight = correlation."""
        import networkx as nx

        if self.edges.empty:
            raise StatisticsError("the correlation network has no edges; give more sessions than the window")
        when = self.edges["date"].max() if date is None else pd.Timestamp(date)
        at = self.edges[self.edges["date"] == when]
        if at.empty:
            raise StatisticsError(f"no network on {pd.Timestamp(when).date()}; choose a session between "
                                  f"{self.edges['date'].min().date()} and {self.edges['date'].max().date()}")
        g = nx.Graph(date=when, window=self.window)
        g.add_nodes_from(self.tickers)
        for row in at.itertuples():
            g.add_edge(row.source, row.target, weight=float(row.weight), distance=float(np.sqrt(2 * (1 - row.weight))))
        return g

    def summary(self) -> str:
        """Per edge: mean, first, last, min and max weight with dates."""
        lines = [f"correlation network, {self.window}-session windows, {len(self.dates())} sessions"]
        for (a, b), g in self.edges.groupby(["source", "target"]):
            lo, hi = g.loc[g["weight"].idxmin()], g.loc[g["weight"].idxmax()]
            lines.append(f"{a}-{b}: mean {g['weight'].mean():+.2f}, first {g['weight'].iloc[0]:+.2f}, "
                         f"last {g['weight'].iloc[-1]:+.2f}, min {lo['weight']:+.2f} ({lo['date'].date()}), "
                         f"max {hi['weight']:+.2f} ({hi['date'].date()})")
        return "\n".join(lines)


def correlation_network(returns: pd.DataFrame, window: int = 60, *, step: int = 1,
                        tickers: list[str] | None = None) -> CorrelationNetwork:
    """Rolling pairwise correlations of session returns as a network over time.

    Args:
        returns: ``DataFrame[ticker, date, ret]``.
        window: sessions per window.
        step: keep every ``step``-th session (1 = every session).
        tickers: restrict to these (default all in ``returns``).
    """
    if window < MIN_WINDOW:
        raise StatisticsError(f"window must be at least {MIN_WINDOW} sessions; got {window}")
    wide = returns.assign(ticker=returns["ticker"].astype(str).str.upper()).pivot_table(
        index="date", columns="ticker", values="ret").sort_index()
    if tickers:
        missing = [t.upper() for t in tickers if t.upper() not in wide.columns]
        if missing:
            raise StatisticsError(f"no returns for {', '.join(missing)}; tickers with returns: {', '.join(wide.columns)}")
        wide = wide[[t.upper() for t in tickers]]
    if wide.shape[1] < 2:
        raise StatisticsError("a correlation network needs returns for at least two tickers")
    names = tuple(map(str, wide.columns))
    frames = []
    for i, a in enumerate(names):
        for b in names[i + 1:]:
            pair = wide[[a, b]].dropna()
            corr = pair[a].rolling(window, min_periods=window).corr(pair[b]).dropna()
            corr = corr.iloc[::step]
            frames.append(pd.DataFrame({"date": corr.index, "source": a, "target": b, "weight": corr.to_numpy()}))
    edges = pd.concat(frames, ignore_index=True).sort_values(["date", "source", "target"]).reset_index(drop=True)
    return CorrelationNetwork(edges=edges, window=window, tickers=names)
