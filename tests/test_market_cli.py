"""`crowdpulse prices` and `crowdpulse correlate` end to end, in a subprocess as users run them."""
from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest

from market.calendar import sessions_between
from tests.conftest import shared_path


def cli(*args: str, timeout: int = 300) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "crowdpulse.cli", *args], capture_output=True, text=True,
                          timeout=timeout, env={"COLUMNS": "160", "PATH": "/usr/bin:/bin", **_pyenv()})


def _pyenv() -> dict:
    import os

    return {k: v for k, v in os.environ.items() if k in ("HOME", "PYTHONPATH", "NUMBA_CACHE_DIR", "CROWDPULSE_SHARED")}


def _one_line_error(out: subprocess.CompletedProcess, *needles: str) -> None:
    assert out.returncode == 2, (out.returncode, out.stdout, out.stderr)
    lines = [line for line in out.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: "), out.stderr
    for needle in needles:
        assert needle in lines[0], (needle, lines[0])


@pytest.fixture(scope="module")
def planted(tmp_path_factory):
    """Two tickers of prices (TICKER.csv) and a sentiment CSV whose IWM value leads IWM returns by one session."""
    folder = tmp_path_factory.mktemp("market")
    dates = sessions_between("2021-01-01", "2030-01-01")[:400]
    rng = np.random.default_rng(0)
    rows = []
    for t in ("IWM", "TLT"):
        s = rng.normal(size=len(dates))
        r = 0.01 * rng.normal(size=len(dates))
        if t == "IWM":
            r[1:] = 0.01 * (0.5 * s[:-1] + np.sqrt(0.75) * rng.normal(size=len(dates) - 1))
        px = 100 * np.cumprod(1 + r)
        pd.DataFrame({"Date": dates.strftime("%Y-%m-%d"), "Open": px, "High": px, "Low": px, "Close": px,
                      "Adj Close": px, "Volume": 1000}).to_csv(folder / f"{t}.csv", index=False)
        rows.append(pd.DataFrame({"date": dates.strftime("%Y-%m-%d"), "ticker": t, "value": s}))
    pd.concat(rows).to_csv(folder / "sentiment.csv", index=False)
    return folder


def test_prices_from_csv_cached_idempotently(planted, tmp_path):
    db = tmp_path / "p.duckdb"
    out = cli("prices", "IWM", "TLT", "--start", "2021-01-01", "--csv", str(planted), "--db", str(db))
    assert out.returncode == 0, out.stderr
    assert "800 new rows" in out.stdout
    again = cli("prices", "IWM,TLT", "--start", "2021-01-01", "--csv", str(planted), "--db", str(db))
    assert again.returncode == 0 and "0 new rows, 800 updated" in again.stdout
    from crowdpulse.store import Store

    with Store.open(db, read_only=True) as store:
        assert store.query("SELECT count(*) AS n FROM prices")["n"].iloc[0] == 800
    # correlate reads the cached prices when no --prices-csv is given
    res = cli("correlate", "--db", str(db), "--tickers", "IWM", "--sentiment-csv", str(planted / "sentiment.csv"),
              "--lags", "2", "--permutations", "199", "--json", str(tmp_path / "o.json"))
    assert res.returncode == 0, res.stderr
    assert json.loads((tmp_path / "o.json").read_text())["n_sessions"] == 399


def test_prices_unreachable_yahoo_is_one_line(tmp_path):
    # this machine has no internet; where it has, the symbol below does not exist either
    out = cli("prices", "ZZZZQX", "QQQZZZ", "--start", "2024-01-01", "--db", str(tmp_path / "p.duckdb"), timeout=120)
    _one_line_error(out, "ZZZZQX", "QQQZZZ", "Yahoo")


def test_prices_bad_inputs(planted, tmp_path):
    _one_line_error(cli("prices", "SPY", "--csv", str(planted), "--db", str(tmp_path / "x.duckdb")),
                    "no price file for SPY", "SPY.csv")
    _one_line_error(cli("prices", "IWM", "--start", "yesterday-ish", "--csv", str(planted), "--db", str(tmp_path / "x.duckdb")),
                    "start", "YYYY-MM-DD")


def test_correlate_finds_planted_lead(planted, tmp_path):
    out_json = tmp_path / "out.json"
    out = cli("correlate", "--db", str(tmp_path / "none.duckdb"), "--tickers", "IWM,TLT",
              "--sentiment-csv", str(planted / "sentiment.csv"), "--prices-csv", str(planted),
              "--lags", "3", "--permutations", "199", "--json", str(out_json))
    assert out.returncode == 0, out.stderr
    doc = json.loads(out_json.read_text())
    assert doc["n_sessions"] == 399
    rows = pd.DataFrame(doc["results"])
    assert set(rows.columns) == {"ticker", "signal", "test", "lag", "estimate", "estimate_raw", "p_value",
                                 "p_adjusted", "ci_low", "ci_high", "n"}
    mi = rows[rows["test"] == "mutual_information"]
    assert (mi["estimate"] >= 0).all() and (mi["estimate"] == mi["estimate_raw"].clip(lower=0)).all()
    assert set(rows["test"]) == {"pearson", "spearman", "granger_sentiment_to_returns", "granger_returns_to_sentiment",
                                 "mutual_information", "event_top_decile", "event_bottom_decile"}
    sig = rows[(rows["test"] == "pearson") & (rows["p_adjusted"] < 0.05)]
    assert list(zip(sig["ticker"], sig["lag"])) == [("IWM", 1)]
    assert "Newey-West" in out.stdout and "*" in out.stdout


def test_correlate_rolling_prints_each_ticker_and_writes_json(planted, tmp_path):
    out_json = tmp_path / "out.json"
    out = cli("correlate", "--db", str(tmp_path / "none.duckdb"), "--tickers", "IWM,TLT",
              "--sentiment-csv", str(planted / "sentiment.csv"), "--prices-csv", str(planted),
              "--lags", "2", "--permutations", "99", "--rolling", "--windows", "40,120", "--json", str(out_json))
    assert out.returncode == 0, out.stderr
    assert "IWM: sentiment vs same-session return" in out.stdout and "TLT: sentiment" in out.stdout
    assert "noise95" in out.stdout
    doc = json.loads(out_json.read_text())
    assert [r["ticker"] for r in doc["rolling"]] == ["IWM", "TLT"]
    summary = pd.DataFrame(doc["rolling"][0]["summary"])
    assert list(summary["window"]) == [40, 120] and (summary["n_windows"] == [360, 280]).all()
    # the planted effect is a one-session lead, not a same-session tie: few windows beyond the noise band
    assert (summary["share_corr_beyond_null95"] < 0.3).all()


def test_correlate_bad_options(planted, tmp_path):
    _one_line_error(cli("correlate", "--signal", "vibes", "--sentiment-csv", str(planted / "sentiment.csv"),
                        "--prices-csv", str(planted)), "--signal", "mean_score, bullishness, count")
    bad = tmp_path / "bad.csv"
    bad.write_text("day,score\n2024-01-02,1\n")
    _one_line_error(cli("correlate", "--sentiment-csv", str(bad), "--prices-csv", str(planted)),
                    "expected date, ticker, value")
    _one_line_error(cli("correlate", "--db", str(tmp_path / "missing.duckdb"), "--sentiment-csv",
                        str(planted / "sentiment.csv")), "no database", "--prices-csv")
    _one_line_error(cli("correlate", "--pair", "IWM", "TLT", "--windows", "20,abc", "--prices-csv", str(planted)),
                    "--windows")


@pytest.mark.slow
@pytest.mark.needs_shared
def test_correlate_pair_on_real_prices(tmp_path):
    prices = shared_path("data", "market", "adjusted_2026")
    out_json = tmp_path / "pair.json"
    out = cli("correlate", "--pair", "IWM", "TLT", "--windows", "20,60,120", "--prices-csv", str(prices),
              "--json", str(out_json), "--plot", str(tmp_path / "p.png"))
    assert out.returncode == 0, out.stderr
    doc = json.loads(out_json.read_text())
    assert doc["pair"] == ["IWM", "TLT"] and doc["n_sessions"] > 5900
    summary = {r["window"]: r for r in doc["summary"]}
    assert set(summary) == {20, 60, 120}
    assert -0.4 < summary[120]["corr_mean"] < -0.1  # IWM and TLT moved mostly against each other since 2002
    assert (tmp_path / "p.png").stat().st_size > 10_000
    assert "IWM-TLT" in out.stdout


def test_correlate_reads_sentiment_from_the_database(planted, tmp_path):
    """Posts at 14:00 New York each session, one stance each, whose p_bullish - p_bearish leads IWM."""
    from crowdpulse.store import Store

    db = tmp_path / "s.duckdb"
    sent = pd.read_csv(planted / "sentiment.csv")
    sent = sent[sent["ticker"] == "IWM"].reset_index(drop=True)
    created = (pd.to_datetime(sent["date"]) + pd.Timedelta(hours=14)).dt.tz_localize("America/New_York").dt.tz_convert("UTC")
    p_bull = 1 / (1 + np.exp(-sent["value"].to_numpy()))
    posts = pd.DataFrame({"source": "test", "id": [f"p{i}" for i in range(len(sent))], "thread_id": "t",
                          "created_at": created.dt.tz_localize(None), "body": "IWM", "score": 1, "time_precision": "exact"})
    stances = pd.DataFrame({"source": "test", "post_id": posts["id"], "model_id": "m1", "ticker": "IWM",
                            "label": np.where(p_bull > 0.5, "bullish", "bearish"), "p_bullish": p_bull,
                            "p_bearish": 1 - p_bull, "p_neutral": 0.0, "via": "cashtag"})
    with Store.open(db) as store:
        store.upsert("posts", posts)
        store.upsert("stances", stances)
        store.upsert("scores", stances.drop(columns=["ticker", "via"]))
    assert cli("prices", "IWM", "--csv", str(planted), "--start", "2021-01-01", "--db", str(db)).returncode == 0
    out_json = tmp_path / "o.json"
    out = cli("correlate", "--db", str(db), "--tickers", "IWM", "--signal", "mean_score", "--lags", "2",
              "--permutations", "199", "--json", str(out_json))
    assert out.returncode == 0, out.stderr
    rows = pd.DataFrame(json.loads(out_json.read_text())["results"])
    pearson = rows[rows["test"] == "pearson"].set_index("lag")
    assert pearson.loc[1, "p_adjusted"] < 0.01 and pearson.loc[1, "estimate"] > 0.3
    assert (pearson.drop(index=1)["p_adjusted"] > 0.05).all()


@pytest.mark.parametrize("args, says", [
    (["--pair", "IWM", "iwm"], "two different tickers"),
    (["--plot", "x.png"], "add --pair"),
    (["--pair", "IWM", "TLT", "--plot", "figure"], "ending in .png"),
    (["--pair", "IWM", "TLT", "--rolling"], "apply without it"),
    (["--pair", "IWM", "TLT", "--json", "."], "is a folder"),
])
def test_correlate_output_conflicts_fail_before_any_work(args, says):
    _one_line_error(cli("correlate", *args), says)


def test_unreadable_dates_are_one_line_without_pandas_warnings(tmp_path):
    bad = tmp_path / "s.csv"
    bad.write_text("date,ticker,value\nfoo,IWM,0.1\nbar,IWM,0.2\n")
    _one_line_error(cli("correlate", "--sentiment-csv", str(bad), "--tickers", "IWM"), "column date")
    prices = tmp_path / "p"
    prices.mkdir()
    (prices / "X.csv").write_text("Date,Open,High,Low,Close,Adj Close,Volume\nnotadate,1,1,1,1,1,1\nzz,1,1,1,1,1,1\n")
    _one_line_error(cli("prices", "X", "--csv", str(prices), "--db", str(tmp_path / "d.duckdb")), "no readable dates")
