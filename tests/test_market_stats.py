"""Planted effects are found where they are and nowhere else; nulls come out at the stated rate."""
from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from market.calendar import sessions_between
from market.errors import StatisticsError
from market.mi import ksg_mi, mi_permutation_test, rolling_mi
from market.stats import (
    RESULT_COLUMNS, TESTS, correlate_all, event_study, forward_returns, granger_both, results_json,
    rolling_pair, rolling_signal, summarize_rolling,
)

N = 750


@pytest.fixture(scope="module")
def sessions():
    dates = sessions_between("2020-01-01", "2029-12-31")[: N + 1]
    assert len(dates) == N + 1
    return dates


def _frames(dates, s, r, ticker="IWM"):
    return (pd.DataFrame({"date": dates, "ticker": ticker, "value": s}),
            pd.DataFrame({"ticker": ticker, "date": dates, "ret": r}))


@pytest.fixture(scope="module")
def planted_linear(sessions):
    """Returns follow sentiment by one session with correlation 0.3."""
    rng = np.random.default_rng(0)
    n = len(sessions)
    s = rng.normal(size=n)
    r = np.empty(n)
    r[0] = 0.01 * rng.normal()
    r[1:] = 0.01 * (0.3 * s[:-1] + np.sqrt(1 - 0.09) * rng.normal(size=n - 1))
    return correlate_all(*_frames(sessions, s, r), lags=5, permutations=1000, seed=0, signal_name="mean_score")


def test_result_shape(planted_linear):
    res = planted_linear
    assert list(res.columns) == RESULT_COLUMNS
    assert set(res["test"]) == set(TESTS)
    assert res.attrs["n_tests"] == len(res) == 22 + 2 + 2 + 6
    assert res.attrs["n_sessions"] == N + 1
    assert (res["p_adjusted"] >= res["p_value"] - 1e-15).all()
    assert set(res["signal"]) == {"mean_score"}


@pytest.mark.parametrize("test", ["pearson", "spearman"])
def test_planted_lag_one_found_only_at_lag_one(planted_linear, test):
    rows = planted_linear[planted_linear["test"] == test].set_index("lag")
    assert list(rows.index) == list(range(-5, 6))
    assert rows.loc[1, "p_adjusted"] < 0.01
    assert 0.22 < rows.loc[1, "estimate"] < 0.38
    assert rows.loc[1, "ci_low"] < 0.3 < rows.loc[1, "ci_high"]
    others = rows.drop(index=1)
    assert (others["p_adjusted"] > 0.05).all(), others[["estimate", "p_adjusted"]]


def test_planted_granger_direction(planted_linear):
    g = planted_linear.set_index("test")
    assert g.loc["granger_sentiment_to_returns", "p_adjusted"] < 0.01
    assert g.loc["granger_returns_to_sentiment", "p_adjusted"] > 0.05


def test_planted_event_study_sign(planted_linear):
    ev = planted_linear[planted_linear["test"].str.startswith("event") & (planted_linear["lag"] == 1)].set_index("test")
    assert ev.loc["event_top_decile", "estimate"] > 0 > ev.loc["event_bottom_decile", "estimate"]
    assert ev.loc["event_top_decile", "p_adjusted"] < 0.05
    assert ev.loc["event_top_decile", "ci_low"] > 0
    assert ev.loc["event_top_decile", "n"] == pytest.approx(0.1 * N, abs=3)


def test_quadratic_dependence_found_by_mi_not_pearson(sessions):
    rng = np.random.default_rng(1)
    n = len(sessions)
    s = rng.normal(size=n)
    r = np.empty(n)
    r[0] = 0.0
    r[1:] = 0.01 * (0.5 * (s[:-1] ** 2 - 1) / np.sqrt(2) + np.sqrt(0.75) * rng.normal(size=n - 1))
    res = correlate_all(*_frames(sessions, s, r), lags=2, permutations=1000, seed=0)
    at1 = res[res["lag"] == 1].set_index("test")
    assert at1.loc["pearson", "p_value"] > 0.05
    assert at1.loc["mutual_information", "p_adjusted"] < 0.01
    mi0 = res[(res["test"] == "mutual_information") & (res["lag"] == 0)]
    assert mi0["p_adjusted"].iloc[0] > 0.05


def test_null_rate_fast(sessions):
    """Fast version of the calibration (the 200-run one is marked slow and in docs/market.md)."""
    from market.calibration import calibrate

    table = calibrate(runs=60, sessions=N, permutations=199, seed=11).set_index("test")
    assert (table["runs"] == 60).all()
    # 60 runs: 95% of shares of a true 5% rate lie in 0-0.117; a broken test (e.g. naive
    # standard errors on autocorrelated data, or a leak of the planted alignment) lands far above.
    assert (table["share_p_below_0.05"] <= 0.15).all(), table


@pytest.mark.slow
def test_null_rate_200_runs():
    from market.calibration import calibrate

    table = calibrate(runs=200, sessions=N, permutations=1000, seed=0).set_index("test")
    assert table["share_p_below_0.05"].between(0.02, 0.09).all(), table


def test_mi_numba_and_ckdtree_agree():
    rng = np.random.default_rng(2)
    for n in (12, 200, 1500):
        x = rng.normal(size=n)
        y = x + rng.normal(size=n)
        shifts = [0, 1, n // 3]
        assert np.allclose(ksg_mi(x, y, 3, shifts=shifts, use_numba=True),
                           ksg_mi(x, y, 3, shifts=shifts, use_numba=False))


def test_mi_matches_gaussian_truth():
    rng = np.random.default_rng(3)
    x = rng.normal(size=4000)
    y = 0.6 * x + 0.8 * rng.normal(size=4000)
    truth = -0.5 * np.log(1 - 0.36)
    assert ksg_mi(x, y, 5)[0] == pytest.approx(truth, abs=0.03)
    mi, p, null = mi_permutation_test(x, rng.normal(size=4000), permutations=199)
    assert p > 0.01 and abs(null.mean()) < 0.01


def test_rolling_mi_window_and_nan():
    rng = np.random.default_rng(4)
    x = rng.normal(size=300)
    y = x + 0.5 * rng.normal(size=300)
    x[150] = np.nan
    out = rolling_mi(x, y, 40)
    assert np.isnan(out[:39]).all() and np.isfinite(out[39:150]).all()
    assert np.isnan(out[150:190]).all() and np.isfinite(out[190:]).all()
    assert np.nanmean(out) > 0.3


def test_forward_returns_compound():
    r = np.array([0.1, -0.1, 0.2, np.nan, 0.05])
    f = forward_returns(r, 2)
    assert f[0] == pytest.approx(0.9 * 1.2 - 1)
    assert np.isnan(f[1]) and np.isnan(f[2])  # window includes the NaN
    assert np.isnan(f[3]) and np.isnan(f[4])  # past the end


def test_event_study_null_is_not_significant():
    rng = np.random.default_rng(5)
    est, p, lo, hi, n = event_study(rng.normal(size=800), 0.01 * rng.normal(size=800), 5, permutations=499)
    assert n == 80 and lo < est < hi and p > 0.05


def test_granger_needs_enough_rows():
    with pytest.raises(StatisticsError, match="Granger test needs at least"):
        granger_both(np.arange(10.0), np.arange(10.0), 5)


def test_bad_inputs_are_one_line_errors(sessions):
    s, r = _frames(sessions, np.zeros(len(sessions)), np.zeros(len(sessions)))
    with pytest.raises(StatisticsError, match="sentiment needs columns date, ticker, value"):
        correlate_all(s.rename(columns={"value": "v"}), r)
    with pytest.raises(StatisticsError, match="lags must be a whole number between 0 and 60"):
        correlate_all(s, r, lags=-1)
    with pytest.raises(StatisticsError, match="no ticker has both"):
        correlate_all(s.assign(ticker="TLT"), r)


def test_json_document(planted_linear):
    doc = json.loads(json.dumps(results_json(planted_linear)))
    assert doc["n_sessions"] == N + 1
    assert len(doc["results"]) == doc["n_tests"]
    row = doc["results"][0]
    assert set(row) == {"ticker", "signal", "test", "lag", "estimate", "estimate_raw", "p_value", "p_adjusted",
                        "ci_low", "ci_high", "n"}


def test_mi_is_reported_clipped_at_zero_with_the_raw_value_and_its_p_kept(sessions):
    """Independent series: KSG falls below 0 on some draws; the estimate says 0 (as sklearn's
    mutual_info_regression does), estimate_raw and p_value are the estimator's own."""
    rng = np.random.default_rng(3)
    rows, draws = [], {}
    for seed in range(6):
        s, r = rng.normal(size=60), 0.01 * rng.normal(size=60)
        res = correlate_all(*_frames(sessions[:60], s, r), lags=1, permutations=99, seed=seed)
        rows.append(res[res["test"] == "mutual_information"].assign(seed=seed))
        draws[seed] = (s, r)
    mi = pd.concat(rows, ignore_index=True)
    assert (mi["estimate_raw"] < 0).any(), "no negative raw estimate to clip in these draws"
    assert (mi["estimate"] >= 0).all()
    np.testing.assert_allclose(mi["estimate"], mi["estimate_raw"].clip(lower=0))
    for row in mi[mi["lag"] == 0].itertuples():  # the raw value and its p are mi_permutation_test's
        raw, p, _ = mi_permutation_test(*draws[row.seed], permutations=99, seed=row.seed + 17 * 100)
        assert (row.estimate_raw, row.p_value) == pytest.approx((raw, p))
    doc = results_json(mi)
    assert all(r["estimate"] >= 0 for r in doc["results"])
    assert any(r["estimate_raw"] < 0 for r in doc["results"])
    res = correlate_all(*_frames(sessions[:60], *draws[0]), lags=1, permutations=99)
    other = res[res["test"] != "mutual_information"]
    np.testing.assert_array_equal(other["estimate"], other["estimate_raw"])


def test_rolling_mi_is_clipped_at_zero_and_keeps_the_raw_value(sessions):
    rng = np.random.default_rng(4)
    n = 200
    sent, rets = _frames(sessions[:n], rng.normal(size=n), 0.01 * rng.normal(size=n))
    roll = rolling_signal(sent, rets, [20], null_draws=50)
    assert (roll["mi_raw"] < 0).any() and (roll["mi"] >= 0).all() and (roll["mi_null95"] >= 0).all()
    np.testing.assert_allclose(roll["mi"], roll["mi_raw"].clip(lower=0))
    pair = rolling_pair(pd.concat([rets, rets.assign(ticker="TLT", ret=0.01 * rng.normal(size=n))]), "IWM", "TLT", [20],
                        null_draws=20)
    assert (pair["mi_raw"] < 0).any() and (pair["mi"] >= 0).all()


def test_rolling_signal_runs_where_correlate_would_and_not_across_gaps(sessions):
    """Fewer than MIN_PAIRS sessions: no rolling figures (correlate_all skips the ticker too);
    with max_gap, no window spans a stretch of sessions without data."""
    from market.calendar import session_gaps
    from market.stats import MIN_PAIRS

    rng = np.random.default_rng(5)
    keep = np.r_[0:80, 400:430]  # 80 sessions, a gap of 320 sessions, then 30
    dates = sessions[keep]
    s, r = rng.normal(size=len(keep)), 0.01 * rng.normal(size=len(keep))
    few = _frames(sessions[:MIN_PAIRS - 1], s[:MIN_PAIRS - 1], r[:MIN_PAIRS - 1], "TLT")
    sent = pd.concat([_frames(dates, s, r)[0], few[0]])
    rets = pd.concat([_frames(dates, s, r)[1], few[1]])
    assert set(correlate_all(sent, rets, lags=1, permutations=99)["ticker"]) == {"IWM"}
    across = rolling_signal(sent, rets, [20], null_draws=0)
    assert set(across["ticker"]) == {"IWM"}  # TLT's 29 sessions: skipped here as by correlate_all
    assert len(across) == len(keep) - 19  # without max_gap, windows run straight over the gap
    within = rolling_signal(sent, rets, [20, 60], null_draws=0, max_gap=10)
    w20 = within[within["window"] == 20]
    assert len(w20) == (80 - 19) + (30 - 19)
    assert w20["date"].min() == dates[19] and dates[80 + 19] in set(w20["date"])
    assert not set(w20["date"]) & set(dates[80:80 + 19])  # the first windows after the gap would span it
    assert set(within.loc[within["window"] == 60, "date"]) == set(dates[59:80])  # 60 fits before the gap only
    gaps = session_gaps(dates, 10)
    assert list(gaps["start"]) == [dates[79]] and list(gaps["end"]) == [dates[80]] and list(gaps["missing"]) == [320]


def test_session_gaps_count_sessions_not_days():
    from market.calendar import session_gaps

    weekly = pd.date_range("2024-01-05", "2024-03-29", freq="W-FRI").delete([5, 6, 7])  # three weeks missing
    gaps = session_gaps(weekly, 10)
    assert len(gaps) == 1 and gaps.iloc[0]["missing"] == 18  # Feb 5 to Feb 29, less Presidents' Day
    assert session_gaps(weekly, 20).empty
    assert session_gaps(["2024-07-03", "2024-07-05"], 0).empty  # July 4th is no session
    assert session_gaps([], 5).empty


def test_rolling_pair_on_planted_regime_change(sessions):
    rng = np.random.default_rng(6)
    n = len(sessions)
    a = rng.normal(size=n)
    b = rng.normal(size=n)
    b[n // 2:] = -0.8 * a[n // 2:] + 0.6 * b[n // 2:]  # tied together in the second half only
    rets = pd.concat([pd.DataFrame({"ticker": "IWM", "date": sessions, "ret": a}),
                      pd.DataFrame({"ticker": "TLT", "date": sessions, "ret": b})])
    roll = rolling_pair(rets, "IWM", "TLT", [20, 60], null_draws=200)
    assert set(roll["window"]) == {20, 60}
    w60 = roll[roll["window"] == 60].set_index("date")
    assert w60["corr"].iloc[:300].abs().mean() < 0.2
    assert w60["corr"].iloc[-200:].mean() < -0.7
    assert (w60["mi"].iloc[-200:] > w60["mi_null95"].iloc[-200:]).all()
    summary = summarize_rolling(roll).set_index("window")
    assert summary.loc[60, "share_corr_beyond_null95"] > 0.4
    with pytest.raises(StatisticsError, match="no returns for SPY"):
        rolling_pair(rets, "IWM", "SPY", [20])


def test_rolling_signal_finds_a_same_session_tie_only_where_planted(sessions):
    rng = np.random.default_rng(7)
    n = len(sessions)
    s_iwm, s_tlt = rng.normal(size=n), rng.normal(size=n)
    r_iwm = 0.01 * rng.normal(size=n)
    r_iwm[n // 2:] = 0.01 * (0.8 * s_iwm[n // 2:] + 0.6 * rng.normal(size=n - n // 2))  # second half only
    r_tlt = 0.01 * rng.normal(size=n)
    sent = pd.concat([_frames(sessions, s_iwm, r_iwm)[0], _frames(sessions, s_tlt, r_tlt, "TLT")[0]])
    rets = pd.concat([_frames(sessions, s_iwm, r_iwm)[1], _frames(sessions, s_tlt, r_tlt, "TLT")[1]])
    roll = rolling_signal(sent, rets, [40, 10_000], null_draws=200)
    assert set(roll["window"]) == {40}  # a window longer than the sessions is left out
    iwm = roll[roll["ticker"] == "IWM"].set_index("date")
    assert iwm["corr"].iloc[:300].abs().mean() < 0.2 and iwm["corr"].iloc[-300:].mean() > 0.7
    assert (iwm["corr"].iloc[-300:] > iwm["corr_null95"].iloc[-300:]).all()
    tlt = summarize_rolling(roll[roll["ticker"] == "TLT"]).iloc[0]
    assert tlt["share_corr_beyond_null95"] < 0.15 and tlt["share_mi_beyond_null95"] < 0.15
    quick = rolling_signal(sent, rets, [40], null_draws=0)
    np.testing.assert_allclose(quick["corr"], roll["corr"])
    assert quick["corr_null95"].isna().all()
    with pytest.raises(StatisticsError, match="at least 10"):
        rolling_signal(sent, rets, [9])


def test_correlation_network_edges_and_graph(sessions):
    from market.network import correlation_network

    rng = np.random.default_rng(7)
    n = len(sessions)
    a, c = rng.normal(size=n), rng.normal(size=n)
    b = np.where(np.arange(n) < n // 2, 0.9 * a + 0.44 * rng.normal(size=n), rng.normal(size=n))
    rets = pd.concat([pd.DataFrame({"ticker": t, "date": sessions, "ret": v}) for t, v in (("IWM", a), ("TLT", b), ("SPY", c))])
    net = correlation_network(rets, window=60)
    assert len(net.edges) == 3 * (n - 59)
    g_early, g_late = net.graph(sessions[200]), net.graph()
    assert g_early["IWM"]["TLT"]["weight"] > 0.8 and abs(g_late["IWM"]["TLT"]["weight"]) < 0.4
    assert set(g_late.nodes) == {"IWM", "TLT", "SPY"}
    assert "IWM-TLT" in net.summary()
    with pytest.raises(StatisticsError, match="no network on"):
        net.graph("1999-01-04")


def test_dates_are_sessions_wherever_they_come_in():
    """String dates sort as dates, a zone is read on New York's clock, a missing date is an error."""
    from market.errors import MarketError, PriceDataError
    from market.prices import session_dates
    from market.returns import session_returns

    got = session_dates(pd.Series(["2024-01-02T20:00:00-05:00", "01/03/2024", "2024-01-04"]))
    assert [str(d.date()) for d in got] == ["2024-01-02", "2024-01-03", "2024-01-04"]  # 20:00 NY is not Jan 3
    with pytest.raises(MarketError, match="1 missing or unreadable"):
        session_dates(pd.Series(["2024-01-02", None]))
    prices = pd.DataFrame({"ticker": "IWM", "date": ["2024-01-02", None, "2024-01-04"], "adj_close": [1.0, 2.0, 3.0]})
    with pytest.raises(PriceDataError, match="price dates"):
        session_returns(prices)
    rng = np.random.default_rng(0)
    days = pd.bdate_range("2023-10-02", periods=120)
    rets = pd.DataFrame({"ticker": np.repeat(["IWM", "TLT"], 120), "date": np.tile(days, 2),
                         "ret": rng.normal(0, 0.01, 240)})
    as_dates = rolling_pair(rets, "IWM", "TLT", windows=(20,), null_draws=0)
    as_text = rolling_pair(rets.assign(date=rets["date"].dt.strftime("%m/%d/%Y")), "iwm", "$TLT", windows=(20,), null_draws=0)
    pd.testing.assert_frame_equal(as_dates, as_text)
    with pytest.raises(StatisticsError, match="two different tickers"):
        rolling_pair(rets, "IWM", "iwm")


def test_bad_statistics_parameters_are_statistics_errors():
    from market.stats import correlate_all, event_study

    rng = np.random.default_rng(1)
    x, y = rng.normal(size=80), rng.normal(0, 0.01, size=80)
    for kwargs, says in (({"h": 0}, "horizon"), ({"h": 5, "side": "middle"}, "side"), ({"h": 5, "q": 1.5}, "q "),
                         ({"h": 5, "permutations": 0}, "permutations")):
        with pytest.raises(StatisticsError, match=says):
            event_study(x, y, **kwargs)
    with pytest.raises(StatisticsError, match="aligned"):
        event_study(x, y[:50], 5)
    days = pd.bdate_range("2023-01-02", periods=80)
    sent = pd.DataFrame({"date": days, "ticker": "IWM", "value": x})
    rets = pd.DataFrame({"ticker": "IWM", "date": days, "ret": y})
    with pytest.raises(StatisticsError, match="horizons"):
        correlate_all(sent, rets, lags=2, permutations=99, horizons=(0,))
    with pytest.raises(StatisticsError, match="lags"):
        correlate_all(sent, rets, lags=2.5, permutations=99)
    one = correlate_all(sent, rets, lags=1, permutations=99, tickers="iwm")  # a string is one ticker, not I, W, M
    assert set(one["ticker"]) == {"IWM"}


def test_a_constant_signal_yields_no_tests():
    from market.stats import correlate_all

    days = pd.bdate_range("2023-01-02", periods=80)
    sent = pd.DataFrame({"date": days, "ticker": "IWM", "value": 0.3})
    rets = pd.DataFrame({"ticker": "IWM", "date": days, "ret": np.random.default_rng(0).normal(0, 0.01, 80)})
    out = correlate_all(sent, rets, lags=1, permutations=99)
    assert out.empty and out.attrs["n_tests"] == 0  # not MI rows with p-values that look real
