"""Benchmark: the whole `correlate` on 20 years of daily data for 4 tickers, all tests, 1,000 permutations.

Prices: the real adjusted closes in ../shared/data/market/adjusted_2026 (IWM, TLT, SPY, QQQ) when
present, otherwise a seeded random walk on the NYSE calendar. Sentiment: a seeded AR(1) daily
series per ticker on every session (there is no 20-year crowd index to use; the statistics'
cost depends on the number of sessions, not on the values).

Measures (1) the library call ``market.stats.correlate_all`` and (2) the CLI end to end
(``crowdpulse correlate ... --json``, a fresh process: imports, CSV reading, returns, all tests).
The numba kernels are compiled once and cached on disk; the first run in a fresh checkout also
pays that compilation, which is reported separately.

Run: python bench/correlate.py [--years 20] [--permutations 1000] [--repeat 2]
"""
from __future__ import annotations

import argparse
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
SHARED_PRICES = Path(os.environ.get("CROWDPULSE_SHARED", ROOT.parent / "shared")) / "data" / "market" / "adjusted_2026"
TICKERS = ["IWM", "TLT", "SPY", "QQQ"]


def build_inputs(years: int, folder: Path, seed: int = 0) -> tuple[pd.DataFrame, pd.DataFrame, str]:
    from market.calendar import sessions_between
    from market.prices import load_csv_prices

    end = pd.Timestamp("2026-02-23")
    start = end - pd.DateOffset(years=years)
    rng = np.random.default_rng(seed)
    if SHARED_PRICES.is_dir():
        prices = load_csv_prices(SHARED_PRICES, TICKERS, start=start, end=end)
        source = f"real adjusted closes from {SHARED_PRICES}"
    else:
        dates = sessions_between(start, end)
        frames = []
        for t in TICKERS:
            px = 100 * np.exp(np.cumsum(0.012 * rng.standard_t(4, size=len(dates)) / np.sqrt(2)))
            frames.append(pd.DataFrame({"ticker": t, "date": dates, "open": px, "high": px, "low": px,
                                        "close": px, "adj_close": px, "volume": 1e6, "provider": "synthetic"}))
        prices = pd.concat(frames, ignore_index=True)
        source = "synthetic random walk on the NYSE calendar (../shared not found)"
    sent = []
    for t in TICKERS:
        dates = prices.loc[prices["ticker"] == t, "date"].to_numpy()
        e = rng.normal(size=len(dates))
        s = np.empty(len(dates))
        s[0] = e[0]
        for i in range(1, len(dates)):
            s[i] = 0.5 * s[i - 1] + e[i]
        sent.append(pd.DataFrame({"date": dates, "ticker": t, "value": s}))
    sentiment = pd.concat(sent, ignore_index=True)
    folder.mkdir(parents=True, exist_ok=True)
    for t, g in prices.groupby("ticker"):
        g.rename(columns={"date": "Date", "open": "Open", "high": "High", "low": "Low", "close": "Close",
                          "adj_close": "Adj Close", "volume": "Volume"})[
            ["Date", "Open", "High", "Low", "Close", "Adj Close", "Volume"]].to_csv(folder / f"{t}.csv", index=False)
    sentiment.to_csv(folder / "sentiment.csv", index=False)
    return prices, sentiment, source


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--years", type=int, default=20)
    ap.add_argument("--permutations", type=int, default=1000)
    ap.add_argument("--lags", type=int, default=5)
    ap.add_argument("--repeat", type=int, default=2)
    args = ap.parse_args()

    from market.returns import session_returns
    from market.stats import correlate_all

    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        prices, sentiment, source = build_inputs(args.years, folder)
        returns = session_returns(prices)
        n_sessions = returns.groupby("ticker").size()

        t0 = time.perf_counter()
        correlate_all(sentiment.head(400), returns[returns["ticker"] == "IWM"], lags=1, permutations=99)
        warm = time.perf_counter() - t0

        lib_times, lib_cpu = [], []
        for _ in range(args.repeat):
            t0, c0 = time.perf_counter(), time.process_time()
            res = correlate_all(sentiment, returns, lags=args.lags, permutations=args.permutations, seed=0)
            lib_times.append(time.perf_counter() - t0)
            lib_cpu.append(time.process_time() - c0)

        cmd = [sys.executable, "-m", "crowdpulse.cli", "correlate", "--db", str(folder / "none.duckdb"),
               "--tickers", ",".join(TICKERS), "--sentiment-csv", str(folder / "sentiment.csv"),
               "--prices-csv", str(folder), "--lags", str(args.lags), "--permutations", str(args.permutations),
               "--json", str(folder / "out.json")]
        cli_times, cli_cpu = [], []
        for _ in range(args.repeat):
            before = resource.getrusage(resource.RUSAGE_CHILDREN)
            t0 = time.perf_counter()
            proc = subprocess.run(cmd, capture_output=True, text=True, env={**os.environ, "COLUMNS": "120"})
            cli_times.append(time.perf_counter() - t0)
            after = resource.getrusage(resource.RUSAGE_CHILDREN)
            cli_cpu.append(after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime)
            if proc.returncode != 0:
                raise SystemExit(f"CLI failed ({proc.returncode}): {proc.stderr.strip()}")

    load = os.getloadavg()
    print(f"correlate benchmark: {len(TICKERS)} tickers ({', '.join(TICKERS)}), {args.years} years, "
          f"{int(n_sessions.min())}-{int(n_sessions.max())} sessions each; prices: {source}")
    print(f"tests: {len(res)} ({res.attrs['n_tests']} rows: Pearson+Spearman at lags -{args.lags}..{args.lags}, "
          f"Granger x2, MI at lags 0,1, events top/bottom x h=1,5,20), {args.permutations} permutations")
    print(f"numba warm-up (cached kernels load, small call): {warm:.2f} s")
    print(f"library correlate_all: wall {', '.join(f'{t:.1f}' for t in lib_times)} s (best {min(lib_times):.1f} s); "
          f"CPU {', '.join(f'{t:.1f}' for t in lib_cpu)} s")
    print(f"CLI end to end (fresh process): wall {', '.join(f'{t:.1f}' for t in cli_times)} s (best {min(cli_times):.1f} s); "
          f"CPU {', '.join(f'{t:.1f}' for t in cli_cpu)} s")
    print(f"machine: {os.cpu_count()} CPUs, load average {load[0]:.1f} / {load[1]:.1f} / {load[2]:.1f} at the end "
          "(shared with other jobs; figures are wall-clock)")
    print(f"target: under 30 s wall -> {'met' if min(cli_times) < 30 else 'NOT met'} on this run "
          f"(CPU seconds are what the work costs; wall depends on what else the {os.cpu_count()} CPUs are doing)")
    print("rerun: python bench/correlate.py --years 20 --permutations 1000 --repeat 2")


if __name__ == "__main__":
    main()
