"""Sentiment against returns, honestly: every figure has n, an effect size, and a p-value that
respects autocorrelation, and p-values are adjusted for the number of tests run.

Lag convention: lag k > 0 pairs sentiment at session t with the return of session t+k (does the
crowd lead?); k < 0 pairs it with the return k sessions earlier (does the crowd chase?); k = 0 is
the same session.

Methods (also in each row's ``method`` column and in ``docs/market.md``):

- ``pearson`` / ``spearman``: the correlation at each lag -K..K. p-value and 95% interval from the
  OLS slope of the standardised (Spearman: ranked) return on standardised sentiment, with
  Newey-West HAC standard errors (Bartlett kernel, ``floor(4 (n/100)^(2/9))`` lags).
- ``granger_*``: a VAR of (return, sentiment), lag order by AIC (``VAR.select_order``, 1..K;
  none with K = 0, which asks for the same session only), F-test that one variable's lags add nothing to the other's equation. ``estimate``
  is the F statistic, ``lag`` the order chosen.
- ``mutual_information``: KSG k-NN MI (k=3, nats) on jittered ranks; p-value from circular-shift
  permutations (see :mod:`market.mi`). The KSG estimate is unbiased only on average: on few or
  independent sessions it falls below 0, which MI cannot. ``estimate`` is clipped at 0, as
  sklearn's ``mutual_info_regression`` reports it; ``estimate_raw`` keeps the estimator's value,
  and the p-value compares that raw value with the raw permutation null. Rolling MI is clipped
  the same way (``mi``; ``mi_raw`` unclipped).
- ``event_top_decile`` / ``event_bottom_decile``: mean forward return over the next h = 1, 5, 20
  sessions after the top/bottom 10% sentiment sessions, minus the mean over all sessions.
  p-value: circular-shift permutation of sentiment against returns (two-sided); 95% interval:
  circular block bootstrap (block length max(h, n^(1/3))). ``lag`` is h.
- All p-values: Benjamini-Hochberg across every row returned (``p_adjusted``).
"""
from __future__ import annotations

import logging
import math
from dataclasses import asdict, dataclass
from typing import Any, Iterable, Sequence

import numpy as np
import pandas as pd

from market.errors import MarketError, StatisticsError
from market.mi import DEFAULT_K, circular_shifts, ksg_mi, mi_permutation_test, rolling_mi
from market.prices import session_dates, ticker_column

MI_K = DEFAULT_K  # k = 3 neighbours, Kraskov's and sklearn's default

log = logging.getLogger(__name__)

TESTS = (
    "pearson", "spearman", "granger_sentiment_to_returns", "granger_returns_to_sentiment",
    "mutual_information", "event_top_decile", "event_bottom_decile",
)
RESULT_COLUMNS = ["ticker", "signal", "test", "lag", "estimate", "estimate_raw", "p_value", "p_adjusted",
                  "ci_low", "ci_high", "n", "method"]
EVENT_HORIZONS = (1, 5, 20)
MIN_PAIRS = 30
MIN_WINDOW = 10  # sessions: the shortest rolling window any rolling figure (pairs, signal, network) accepts

METHODS = {
    "pearson": "Pearson r; p and 95% CI from OLS slope on z-scores with Newey-West HAC errors",
    "spearman": "Spearman rho; p and 95% CI from OLS slope on ranks with Newey-West HAC errors",
    "granger_sentiment_to_returns": "VAR F-test, lag order by AIC; estimate = F",
    "granger_returns_to_sentiment": "VAR F-test, lag order by AIC; estimate = F",
    "mutual_information": "KSG k-NN MI (k=3, nats, on jittered ranks), clipped at 0 (estimate_raw: unclipped); "
                          "p from circular-shift permutations",
    "event_top_decile": "mean forward h-session return after top-10% sentiment minus all sessions; "
                        "p from circular-shift permutations, CI from circular block bootstrap",
    "event_bottom_decile": "mean forward h-session return after bottom-10% sentiment minus all sessions; "
                           "p from circular-shift permutations, CI from circular block bootstrap",
}


@dataclass(frozen=True)
class TestResult:
    """One statistic: what was tested, the effect, its p-value and interval, and on how many points.

    ``estimate_raw`` is the estimate before clipping; it differs from ``estimate`` only for mutual
    information, whose KSG estimate can fall below 0 and is reported as 0 (left NaN: the estimate).
    """

    ticker: str
    signal: str
    test: str
    lag: int
    estimate: float
    p_value: float
    ci_low: float
    ci_high: float
    n: int
    method: str
    estimate_raw: float = math.nan

    def __post_init__(self) -> None:
        if math.isnan(self.estimate_raw):
            object.__setattr__(self, "estimate_raw", self.estimate)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def summary(self) -> str:
        ci = "" if math.isnan(self.ci_low) else f" [{self.ci_low:.4f}, {self.ci_high:.4f}]"
        raw = "" if self.estimate_raw == self.estimate or math.isnan(self.estimate_raw) else f" (raw {self.estimate_raw:.4f})"
        return (f"{self.ticker} {self.signal} {self.test} lag {self.lag}: {self.estimate:.4f}{raw}{ci}, "
                f"p={self.p_value:.4g}, n={self.n} ({self.method})")


# ----------------------------------------------------------------------------- inputs


def _dates(col: pd.Series, what: str = "dates") -> pd.Series:
    try:
        return session_dates(col, what)
    except MarketError as exc:
        raise StatisticsError(str(exc)) from None


def _check_inputs(sentiment: pd.DataFrame, returns: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    need_s, need_r = {"date", "ticker", "value"}, {"ticker", "date", "ret"}
    if need_s - set(sentiment.columns):
        raise StatisticsError(f"sentiment needs columns date, ticker, value; it has {', '.join(map(str, sentiment.columns))}")
    if need_r - set(returns.columns):
        raise StatisticsError(f"returns need columns ticker, date, ret; they have {', '.join(map(str, returns.columns))}")
    s = sentiment[["date", "ticker", "value"]].copy()
    s["date"] = _dates(s["date"], "sentiment dates")
    s["ticker"] = ticker_column(s["ticker"])
    s["value"] = pd.to_numeric(s["value"], errors="coerce").astype(float)
    r = returns[["ticker", "date", "ret"]].copy()
    r["date"] = _dates(r["date"], "return dates")
    r["ticker"] = ticker_column(r["ticker"])
    r["ret"] = pd.to_numeric(r["ret"], errors="coerce").astype(float)
    return s, r


def align(sentiment: pd.DataFrame, returns: pd.DataFrame, ticker: str, pad: int = 25) -> pd.DataFrame:
    """One ticker's sessions (from its returns) with sentiment ``value`` (NaN where none) and ``ret``.

    Sessions are trimmed to the sentiment's span plus ``pad`` sessions either side, so lags and
    forward returns at the edges are still available.
    """
    s, r = _check_inputs(sentiment, returns)
    r = r[r["ticker"] == ticker].drop_duplicates("date").set_index("date").sort_index()["ret"]
    v = s[s["ticker"] == ticker].groupby("date")["value"].mean()
    df = pd.DataFrame({"ret": r})
    df["value"] = v.reindex(df.index)
    has = np.flatnonzero(df["value"].notna().to_numpy())
    if len(has) == 0:
        return df.iloc[0:0].reset_index()
    lo, hi = max(0, has[0] - pad), min(len(df), has[-1] + pad + 1)
    return df.iloc[lo:hi].rename_axis("date").reset_index()[["date", "value", "ret"]]


def _pairs(x: np.ndarray, y: np.ndarray, lag: int) -> tuple[np.ndarray, np.ndarray]:
    """x[t] with y[t+lag], both finite."""
    n = len(x)
    if lag >= 0:
        a, b = x[: n - lag], y[lag:]
    else:
        a, b = x[-lag:], y[: n + lag]
    ok = np.isfinite(a) & np.isfinite(b)
    return a[ok], b[ok]


# ----------------------------------------------------------------------------- correlation


def _nw_lags(n: int) -> int:
    return int(math.floor(4 * (n / 100.0) ** (2.0 / 9.0)))


def hac_correlation(x: np.ndarray, y: np.ndarray, method: str = "pearson") -> tuple[float, float, float, float, int]:
    """Correlation with a Newey-West HAC p-value and 95% interval: (estimate, p, lo, hi, n)."""
    import statsmodels.api as sm

    x = np.asarray(x, float)
    y = np.asarray(y, float)
    n = len(x)
    if method == "spearman":
        x = pd.Series(x).rank().to_numpy()
        y = pd.Series(y).rank().to_numpy()
    sx, sy = x.std(), y.std()
    if n < MIN_PAIRS or np.ptp(x) == 0 or np.ptp(y) == 0 or sx == 0 or sy == 0:  # a constant: no correlation to test
        return (math.nan, math.nan, math.nan, math.nan, n)
    xz, yz = (x - x.mean()) / sx, (y - y.mean()) / sy
    est = float(np.mean(xz * yz))
    res = sm.OLS(yz, sm.add_constant(xz, has_constant="add")).fit(cov_type="HAC", cov_kwds={"maxlags": _nw_lags(n)})
    se = float(res.bse[1])
    p = float(res.pvalues[1])
    return est, p, max(-1.0, est - 1.959964 * se), min(1.0, est + 1.959964 * se), n


def lagged_correlations(x: np.ndarray, y: np.ndarray, lags: int, method: str = "pearson") -> pd.DataFrame:
    """Correlation of x[t] with y[t+k] for k = -lags..lags: DataFrame[lag, estimate, p_value, ci_low, ci_high, n]."""
    rows = []
    for k in range(-lags, lags + 1):
        est, p, lo, hi, n = hac_correlation(*_pairs(np.asarray(x, float), np.asarray(y, float), k), method=method)
        rows.append({"lag": k, "estimate": est, "p_value": p, "ci_low": lo, "ci_high": hi, "n": n})
    return pd.DataFrame(rows)


def rolling_correlation(x: Sequence[float], y: Sequence[float], window: int) -> np.ndarray:
    """Pearson correlation over trailing windows (value at the window's last index)."""
    return pd.Series(np.asarray(x, float)).rolling(window, min_periods=window).corr(
        pd.Series(np.asarray(y, float))).to_numpy()


# ----------------------------------------------------------------------------- Granger


def granger_both(sentiment: np.ndarray, ret: np.ndarray, maxlag: int) -> dict[str, tuple[float, float, int, int]]:
    """Granger F-tests both ways in a VAR(p), p by AIC up to ``maxlag``.

    Returns ``{"granger_sentiment_to_returns": (F, p, order, nobs), "granger_returns_to_sentiment": ...}``.
    Sessions without sentiment are dropped (the VAR then treats the rest as consecutive).
    """
    from statsmodels.tsa.api import VAR

    data = np.column_stack([ret, sentiment]).astype(float)
    data = data[np.isfinite(data).all(axis=1)]
    if len(data) < max(MIN_PAIRS, 4 * maxlag + 10) or np.any(data.std(axis=0) == 0):
        raise StatisticsError(f"Granger test needs at least {max(MIN_PAIRS, 4 * maxlag + 10)} sessions with "
                              f"varying sentiment and returns; got {len(data)}")
    model = VAR(pd.DataFrame(data, columns=["ret", "sent"]))
    order = model.select_order(maxlags=maxlag).selected_orders.get("aic", 1) or 1
    order = int(max(1, min(order, maxlag)))
    res = model.fit(order)
    a = res.test_causality("ret", ["sent"], kind="f")
    b = res.test_causality("sent", ["ret"], kind="f")
    return {
        "granger_sentiment_to_returns": (float(a.test_statistic), float(a.pvalue), order, int(res.nobs)),
        "granger_returns_to_sentiment": (float(b.test_statistic), float(b.pvalue), order, int(res.nobs)),
    }


# ----------------------------------------------------------------------------- event study


def forward_returns(ret: np.ndarray, h: int) -> np.ndarray:
    """Compounded return over sessions t+1..t+h (NaN where any is missing or past the end)."""
    r = np.asarray(ret, float)
    c = np.concatenate([[0.0], np.cumsum(np.log1p(np.nan_to_num(r, nan=0.0)))])
    bad = np.concatenate([[0], np.cumsum(~np.isfinite(r))])
    n = len(r)
    out = np.full(n, np.nan)
    t = np.arange(n - h)
    ok = (bad[t + h + 1] - bad[t + 1]) == 0
    out[t[ok]] = np.expm1(c[t[ok] + h + 1] - c[t[ok] + 1])
    return out


def event_study(sentiment: np.ndarray, ret: np.ndarray, h: int, *, side: str = "top", q: float = 0.1,
                permutations: int = 1000, seed: int = 0) -> tuple[float, float, float, float, int]:
    """Excess mean h-session forward return after extreme-sentiment sessions: (estimate, p, lo, hi, n_events)."""
    if not isinstance(h, (int, np.integer)) or h < 1:
        raise StatisticsError(f"the event horizon must be a whole number of sessions of at least 1, not {h!r}")
    if side not in ("top", "bottom"):
        raise StatisticsError(f"side must be 'top' or 'bottom', not {side!r}")
    if not 0.0 < q < 0.5:
        raise StatisticsError(f"q (the share of sessions that are events) must lie between 0 and 0.5, not {q!r}")
    if not isinstance(permutations, (int, np.integer)) or permutations < 1:
        raise StatisticsError(f"permutations must be a positive whole number, not {permutations!r}")
    if len(sentiment) != len(ret):
        raise StatisticsError(f"sentiment and returns must be aligned session by session: {len(sentiment)} against {len(ret)}")
    fwd = forward_returns(ret, h)
    s = np.asarray(sentiment, float)
    ok = np.isfinite(s) & np.isfinite(fwd)
    s, f = s[ok], fwd[ok]
    n = len(s)
    if n < MIN_PAIRS:
        return (math.nan, math.nan, math.nan, math.nan, 0)
    cut = np.quantile(s, 1 - q) if side == "top" else np.quantile(s, q)
    ev = (s >= cut) if side == "top" else (s <= cut)
    n_ev = int(ev.sum())
    if n_ev == 0 or n_ev == n:
        return (math.nan, math.nan, math.nan, math.nan, n_ev)
    est = float(f[ev].mean() - f.mean())
    rng = np.random.default_rng(seed)
    # p: rotate the event indicator against the forward returns (keeps both autocorrelations)
    shifts = circular_shifts(n, permutations, rng)
    f_c = f - f.mean()
    null = np.empty(permutations)
    idx = np.arange(n)
    for start in range(0, permutations, 256):
        sh = shifts[start:start + 256]
        ev_rot = ev[(idx[None, :] + sh[:, None]) % n]
        null[start:start + 256] = (ev_rot * f_c[None, :]).sum(axis=1) / n_ev
    p = (1.0 + float(np.sum(np.abs(null) >= abs(est)))) / (1.0 + permutations)
    # CI: circular block bootstrap of sessions
    block = int(max(h, math.ceil(n ** (1 / 3))))
    n_blocks = int(math.ceil(n / block))
    boot = np.empty(permutations)
    for start in range(0, permutations, 128):
        b = min(128, permutations - start)
        starts = rng.integers(0, n, size=(b, n_blocks))
        ii = ((starts[:, :, None] + np.arange(block)[None, None, :]) % n).reshape(b, -1)[:, :n]
        e_b, f_b = ev[ii], f[ii]
        cnt = e_b.sum(axis=1)
        with np.errstate(invalid="ignore", divide="ignore"):
            boot[start:start + b] = (e_b * f_b).sum(axis=1) / cnt - f_b.mean(axis=1)
    lo, hi = np.nanpercentile(boot, [2.5, 97.5])
    return est, p, float(lo), float(hi), n_ev


# ----------------------------------------------------------------------------- all together


def _ticker_results(df: pd.DataFrame, ticker: str, signal: str, lags: int, permutations: int,
                    seed: int, mi_lags: Iterable[int], horizons: Iterable[int]) -> list[TestResult]:
    x = df["value"].to_numpy(float)
    y = df["ret"].to_numpy(float)
    out: list[TestResult] = []
    for method in ("pearson", "spearman"):
        for row in lagged_correlations(x, y, lags, method).itertuples():
            if np.isfinite(row.p_value):
                out.append(TestResult(ticker, signal, method, int(row.lag), row.estimate, row.p_value,
                                      row.ci_low, row.ci_high, int(row.n), METHODS[method]))
    try:
        for name, (f, p, order, nobs) in (granger_both(x, y, lags) if lags >= 1 else {}).items():  # K = 0: same session only
            out.append(TestResult(ticker, signal, name, order, f, p, math.nan, math.nan, nobs, METHODS[name]))
    except (StatisticsError, np.linalg.LinAlgError, ValueError) as exc:
        log.warning("%s: Granger test skipped: %s", ticker, exc)
    for k in mi_lags:
        a, b = _pairs(x, y, k)
        if len(a) < MIN_PAIRS or np.ptp(a) == 0 or np.ptp(b) == 0:  # a constant series carries no information to test
            continue
        mi, p, _ = mi_permutation_test(a, b, permutations=permutations, k=MI_K, seed=seed + 17 * (k + 100))
        out.append(TestResult(ticker, signal, "mutual_information", k, max(mi, 0.0), p, math.nan, math.nan, len(a),
                              METHODS["mutual_information"], estimate_raw=mi))
    for h in horizons:
        for side in ("top", "bottom"):
            est, p, lo, hi, n_ev = event_study(x, y, h, side=side, permutations=permutations, seed=seed + h)
            if np.isfinite(p):
                name = f"event_{side}_decile"
                out.append(TestResult(ticker, signal, name, h, est, p, lo, hi, n_ev, METHODS[name]))
    return out


def adjust_pvalues(p: Sequence[float]) -> np.ndarray:
    """Benjamini-Hochberg adjusted p-values (statsmodels ``multipletests(method="fdr_bh")``)."""
    from statsmodels.stats.multitest import multipletests

    p = np.asarray(p, float)
    if len(p) == 0:
        return p
    return multipletests(p, method="fdr_bh")[1]


def correlate_all(sentiment: pd.DataFrame, returns: pd.DataFrame, *, lags: int = 5, permutations: int = 1000,
                  seed: int = 0, signal_name: str = "value", mi_lags: Iterable[int] | None = None,
                  horizons: Iterable[int] = EVENT_HORIZONS, tickers: Iterable[str] | None = None) -> pd.DataFrame:
    """Every test of sentiment against returns, per ticker, with BH-adjusted p-values.

    Args:
        sentiment: ``DataFrame[date, ticker, value]``, one value per session (dates are sessions).
        returns: ``DataFrame[ticker, date, ret, ...]`` from :func:`market.returns.session_returns`.
        lags: K; correlations run at lags -K..K, Granger orders 1..K (no Granger test with K = 0).
        permutations: circular shifts for MI and event p-values, and bootstrap draws for event CIs.
        seed: makes permutation p-values reproducible.
        signal_name: written into the ``signal`` column.
        mi_lags: lags for mutual information (default 0 and 1: same session and predictive; the
            chasing direction is covered by the negative-lag correlations and Granger).
        horizons: event-study forward horizons in sessions.
        tickers: restrict to these (default: tickers present in both inputs).

    Returns:
        ``DataFrame[ticker, signal, test, lag, estimate, estimate_raw, p_value, p_adjusted, ci_low, ci_high,
        n, method]`` (``estimate_raw``: mutual information before clipping at 0, else the estimate);
        ``.attrs`` holds ``n_tests``, ``n_sessions`` (sessions with both sentiment and a return),
        and ``methods``.
    """
    if not isinstance(lags, (int, np.integer)) or lags < 0 or lags > 60:
        raise StatisticsError(f"lags must be a whole number between 0 and 60; got {lags!r}")
    if not isinstance(permutations, (int, np.integer)) or permutations < 99:
        raise StatisticsError(f"permutations must be a whole number of at least 99 for p-values down to 0.01; got {permutations!r}")
    horizons = list(horizons)
    if any(not isinstance(h, (int, np.integer)) or h < 1 for h in horizons):
        raise StatisticsError(f"event horizons must be whole numbers of sessions of at least 1; got {horizons}")
    s, r = _check_inputs(sentiment, returns)
    if isinstance(tickers, str):  # "IWM" or "IWM,TLT", not its letters
        tickers = tickers.split(",")
    wanted = ([t for t in ticker_column(pd.Series(list(tickers), dtype=object)).tolist() if t] if tickers
              else sorted(set(s["ticker"]) & set(r["ticker"])))
    if not wanted:
        raise StatisticsError("no ticker has both sentiment and returns; check the tickers in each input")
    if mi_lags is None:
        mi_lags = [k for k in (0, 1) if abs(k) <= lags]
    rows: list[TestResult] = []
    sessions: set = set()
    for ticker in wanted:
        df = align(s, r, ticker, pad=max(lags, max(horizons, default=1)) + 5)
        both = df.dropna(subset=["value", "ret"])
        sessions.update(both["date"].tolist())
        if len(both) < MIN_PAIRS:
            log.warning("%s: only %d sessions with both sentiment and a return; need %d, skipped",
                        ticker, len(both), MIN_PAIRS)
            continue
        rows += _ticker_results(df, ticker, signal_name, lags, permutations, seed, list(mi_lags), list(horizons))
    out = pd.DataFrame([x.to_dict() for x in rows], columns=[c for c in RESULT_COLUMNS if c != "p_adjusted"])
    out["p_adjusted"] = adjust_pvalues(out["p_value"].to_numpy()) if len(out) else []
    out["lag"] = out["lag"].astype(int)
    out["n"] = out["n"].astype(int)
    out = out[RESULT_COLUMNS]
    out.attrs.update({"n_tests": len(out), "n_sessions": len(sessions), "methods": dict(METHODS),
                      "permutations": permutations, "lags": lags})
    return out


def results_json(results: pd.DataFrame) -> dict[str, Any]:
    """The JSON document of ``crowdpulse correlate --json``."""
    def clean(v: Any) -> Any:
        if isinstance(v, (float, np.floating)):
            return None if not np.isfinite(v) else float(v)
        if isinstance(v, np.integer):
            return int(v)
        return v

    keys = ["ticker", "signal", "test", "lag", "estimate", "estimate_raw", "p_value", "p_adjusted", "ci_low",
            "ci_high", "n"]
    return {
        "n_sessions": int(results.attrs.get("n_sessions", 0)),
        "n_tests": int(results.attrs.get("n_tests", len(results))),
        "methods": results.attrs.get("methods", METHODS),
        "results": [{k: clean(row[k]) for k in keys} for row in results.to_dict("records")],
    }


# ----------------------------------------------------------------------------- pairs of tickers


def _rolling_figures(x: np.ndarray, y: np.ndarray, w: int, rng: np.random.Generator,
                     null_draws: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, float, float]:
    """Trailing-window correlation and KSG MI of aligned ``x``, ``y`` (value at each window's last
    index): ``(corr, mi, mi_raw, corr_null95, mi_null95)``. ``mi`` is clipped at 0 as the tests'
    estimate is, ``mi_raw`` not; the bands are the 95th percentile of |corr| and (clipped) MI in
    ``null_draws`` random windows with ``y`` rotated against ``x`` (circular shift); NaN bands when
    ``null_draws`` is 0."""
    n = len(x)
    corr = rolling_correlation(x, y, w)
    mi_raw = rolling_mi(x, y, w, k=DEFAULT_K)
    mi = np.maximum(mi_raw, 0.0)  # NaN (no full window yet) stays NaN
    if null_draws <= 0:
        return corr, mi, mi_raw, float("nan"), float("nan")
    ends = rng.integers(w - 1, n, size=null_draws)
    shifts = circular_shifts(n, null_draws, rng)
    c_null, m_null = np.empty(null_draws), np.empty(null_draws)
    for i, (e, sh) in enumerate(zip(ends, shifts)):
        sx = x[e - w + 1:e + 1]
        sy = np.roll(y, -int(sh))[e - w + 1:e + 1]
        c_null[i] = abs(np.corrcoef(sx, sy)[0, 1])
        m_null[i] = ksg_mi(sx, sy, DEFAULT_K, seed=i)[0]
    return corr, mi, mi_raw, float(np.nanquantile(c_null, 0.95)), max(0.0, float(np.quantile(m_null, 0.95)))


def rolling_pair(returns: pd.DataFrame, a: str, b: str, windows: Iterable[int] = (20, 60, 120), *,
                 null_draws: int = 400, seed: int = 0) -> pd.DataFrame:
    """Rolling correlation and KSG mutual information between two tickers' session returns.

    Returns ``DataFrame[date, window, corr, mi, mi_raw, corr_null95, mi_null95]``: one row per window
    size and session (the window's last session); ``mi`` is clipped at 0, ``mi_raw`` is the KSG value. ``*_null95`` is the 95th percentile of |corr| / MI in
    windows of the same size after rotating b against a (circular shift), i.e. what noise alone
    reaches in 5% of windows; a value above it is a candidate, not a finding (it is one of many
    windows).
    """
    if {"ticker", "date", "ret"} - set(returns.columns):
        raise StatisticsError("returns need columns ticker, date, ret")
    a, b = ticker_column(pd.Series([a, b], dtype=object))
    if a == b:
        raise StatisticsError(f"rolling_pair needs two different tickers, not {a} twice")
    windows = list(windows)
    if not windows:
        raise StatisticsError("give at least one window size, e.g. windows=(20, 60)")
    r = returns.assign(ticker=ticker_column(returns["ticker"]), date=_dates(returns["date"], "return dates"),
                       ret=pd.to_numeric(returns["ret"], errors="coerce"))
    wide = r.pivot_table(index="date", columns="ticker", values="ret")
    for t in (a, b):
        if t not in wide.columns:
            raise StatisticsError(f"no returns for {t}; tickers with returns: {', '.join(map(str, wide.columns))}")
    pair = wide[[a, b]].dropna().sort_index()
    xa, xb = pair[a].to_numpy(), pair[b].to_numpy()
    n = len(pair)
    rng = np.random.default_rng(seed)
    frames = []
    for w in sorted(set(int(w) for w in windows)):
        if w < MIN_WINDOW or w > n:
            raise StatisticsError(f"window {w} must be between {MIN_WINDOW} and the {n} sessions both tickers have")
        corr, mi, mi_raw, c95, m95 = _rolling_figures(xa, xb, w, rng, null_draws)
        frames.append(pd.DataFrame({
            "date": pair.index, "window": w, "corr": corr, "mi": mi, "mi_raw": mi_raw, "corr_null95": c95,
            "mi_null95": m95,
        }).iloc[w - 1:])
    return pd.concat(frames, ignore_index=True)


def rolling_signal(sentiment: pd.DataFrame, returns: pd.DataFrame, windows: Iterable[int] = (20, 60), *,
                   null_draws: int = 400, seed: int = 0, min_sessions: int = MIN_PAIRS,
                   max_gap: int | None = None) -> pd.DataFrame:
    """Rolling correlation and KSG MI of a daily sentiment signal against same-session returns.

    ``sentiment`` [date, ticker, value] (one row per session and ticker, as ``correlate_all``
    takes it), ``returns`` [ticker, date, ret]; sessions with both are aligned per ticker.
    Returns ``DataFrame[date, ticker, window, corr, mi, mi_raw, corr_null95, mi_null95]``, one row
    per ticker, window size and session (the window's last). The noise bands are those of
    :func:`rolling_pair`: returns rotated against sentiment (``null_draws=0``: NaN, faster).

    A ticker with fewer than ``min_sessions`` sessions with both is left out, as
    :func:`correlate_all` skips it (``MIN_PAIRS``). With ``max_gap``, a run of more than
    ``max_gap`` NYSE sessions without both ends a stretch, and no window spans it: windows run
    within each stretch (with its own noise band). A window larger than a stretch is left out there.
    """
    from market.calendar import session_gaps

    cols = ["date", "ticker", "window", "corr", "mi", "mi_raw", "corr_null95", "mi_null95"]
    windows = sorted(set(int(w) for w in windows))
    if windows and windows[0] < MIN_WINDOW:
        raise StatisticsError(f"window {windows[0]} is too short; use at least {MIN_WINDOW} sessions")
    left, right = _check_inputs(sentiment, returns)  # session dates and tickers read as correlate_all reads them
    left = left.groupby(["date", "ticker"], as_index=False)["value"].mean()  # one value per session, as align takes it
    right = right.drop_duplicates(["ticker", "date"], keep="last")
    joined = (left.merge(right, on=["ticker", "date"])
              .dropna(subset=["value", "ret"]).sort_values(["ticker", "date"]))
    frames = []
    for ticker, g in joined.groupby("ticker", sort=True):
        if len(g) < min_sessions:
            log.info("%s: only %d sessions with both sentiment and a return; no rolling figures below %d",
                     ticker, len(g), min_sessions)
            continue
        rng = np.random.default_rng(seed)
        dates = pd.DatetimeIndex(g["date"])
        cuts = [] if max_gap is None else list(dates.searchsorted(session_gaps(dates, max_gap)["end"]))
        for lo, hi in zip([0, *cuts], [*cuts, len(g)]):
            part = g.iloc[lo:hi]
            x, y = part["value"].to_numpy(float), part["ret"].to_numpy(float)
            for w in windows:
                if w > len(part):
                    continue
                corr, mi, mi_raw, c95, m95 = _rolling_figures(x, y, w, rng, null_draws)
                frames.append(pd.DataFrame({"date": part["date"].to_numpy(), "ticker": ticker, "window": w,
                                            "corr": corr, "mi": mi, "mi_raw": mi_raw, "corr_null95": c95,
                                            "mi_null95": m95}).iloc[w - 1:])
    if not frames:
        return pd.DataFrame(columns=cols)
    return pd.concat(frames, ignore_index=True)[cols].sort_values(["ticker", "window", "date"], ignore_index=True)


def summarize_rolling(rolling: pd.DataFrame) -> pd.DataFrame:
    """Per window size: windows, mean/min/max correlation (with dates), share above the noise band, MI figures."""
    rows = []
    for w, g in rolling.groupby("window"):
        g = g.dropna(subset=["corr"])
        rows.append({
            "window": int(w), "n_windows": len(g), "corr_mean": g["corr"].mean(),
            "corr_min": g["corr"].min(), "corr_min_date": g.loc[g["corr"].idxmin(), "date"],
            "corr_max": g["corr"].max(), "corr_max_date": g.loc[g["corr"].idxmax(), "date"],
            "corr_last": g["corr"].iloc[-1], "share_corr_beyond_null95": float((g["corr"].abs() > g["corr_null95"]).mean()),
            "mi_mean": g["mi"].mean(), "mi_max": g["mi"].max(), "mi_last": g["mi"].iloc[-1],
            "share_mi_beyond_null95": float((g["mi"] > g["mi_null95"]).mean()),
            "corr_null95": g["corr_null95"].iloc[0], "mi_null95": g["mi_null95"].iloc[0],
        })
    return pd.DataFrame(rows)
