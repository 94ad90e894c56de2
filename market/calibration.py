"""Do the tests report nothing at the stated rate when there is nothing? A simulation.

Each run draws, on real consecutive NYSE sessions, an autocorrelated sentiment series (AR(1),
phi = 0.5, like a daily crowd index) and independent fat-tailed returns (Student t, 4 df, 1%
scale), runs :func:`market.stats.correlate_all`, and records each test's unadjusted p-value at
lag 1 (Granger: at the order AIC chose; events: horizon 1). The share below 0.05 should be near
0.05.

Run: ``python -m market.calibration --runs 200 --sessions 750 --permutations 1000``
"""
from __future__ import annotations

import argparse
import logging
import time

import numpy as np
import pandas as pd

from market.calendar import sessions_between
from market.stats import TESTS, correlate_all

log = logging.getLogger(__name__)


def null_series(n: int, rng: np.random.Generator, phi: float = 0.5) -> tuple[np.ndarray, np.ndarray]:
    """Independent AR(1) sentiment and Student-t returns."""
    e = rng.normal(size=n + 50)
    s = np.empty(n + 50)
    s[0] = e[0]
    for t in range(1, n + 50):
        s[t] = phi * s[t - 1] + e[t]
    r = 0.01 * rng.standard_t(4, size=n) / np.sqrt(2.0)
    return s[50:], r


def calibrate(runs: int = 200, sessions: int = 750, permutations: int = 1000, seed: int = 0,
              progress: bool = False) -> pd.DataFrame:
    """Share of unadjusted p < 0.05 (and < 0.01) at lag 1 per test over ``runs`` null simulations."""
    dates = sessions_between("2015-01-01", "2030-12-31")[:sessions]
    if len(dates) < sessions:
        raise ValueError(f"the calendar has only {len(dates)} sessions from 2015; asked for {sessions}")
    rng = np.random.default_rng(seed)
    pvals: dict[str, list[float]] = {t: [] for t in TESTS}
    iterator = range(runs)
    if progress:
        from tqdm import tqdm

        iterator = tqdm(iterator, desc="null runs", unit="run")
    for i in iterator:
        s, r = null_series(sessions, rng)
        res = correlate_all(
            pd.DataFrame({"date": dates, "ticker": "SIM", "value": s}),
            pd.DataFrame({"ticker": "SIM", "date": dates, "ret": r}),
            lags=1, permutations=permutations, seed=seed + i, mi_lags=[1], horizons=[1],
        )
        for test in TESTS:
            rows = res[res["test"] == test]
            if test.startswith("granger"):
                pick = rows
            else:
                pick = rows[rows["lag"] == 1]
            if len(pick):
                pvals[test].append(float(pick["p_value"].iloc[0]))
    out = []
    for test in TESTS:
        p = np.asarray(pvals[test])
        out.append({"test": test, "runs": len(p), "share_p_below_0.05": float(np.mean(p < 0.05)) if len(p) else np.nan,
                    "share_p_below_0.01": float(np.mean(p < 0.01)) if len(p) else np.nan})
    return pd.DataFrame(out)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=200)
    parser.add_argument("--sessions", type=int, default=750)
    parser.add_argument("--permutations", type=int, default=1000)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    t0 = time.perf_counter()
    table = calibrate(args.runs, args.sessions, args.permutations, args.seed, progress=True)
    elapsed = time.perf_counter() - t0
    print(f"null calibration: {args.runs} runs x {args.sessions} NYSE sessions, {args.permutations} permutations, "
          f"seed {args.seed}; AR(1) phi=0.5 sentiment vs independent t(4) returns; lag 1")
    print(table.to_string(index=False, float_format=lambda v: f"{v:.3f}"))
    print(f"took {elapsed:.1f} s. Rerun: python -m market.calibration --runs {args.runs} "
          f"--sessions {args.sessions} --permutations {args.permutations} --seed {args.seed}")


if __name__ == "__main__":
    main()
