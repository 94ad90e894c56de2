"""Mutual information by the Kraskov-Stögbauer-Grassberger k-NN estimator, with permutation tests.

The estimator is KSG algorithm 1 (max-norm, k neighbours) on the copula (rank) transform of
each variable: ranks make it invariant to monotone transforms and robust to fat-tailed returns.
With ranks as coordinates the marginal neighbour counts have a closed form, so only the joint
k-th-neighbour distance needs a search; a numba kernel finds it with a cell grid (about one
point per cell, rings searched outward), and runs all permutations in parallel. Without numba the same statistic
comes from ``scipy.spatial.cKDTree`` (slower; tested to agree exactly).

Permutation p-values use **circular shifts**: y is rotated against x by a random offset of at
least ``n // 10`` sessions. Each series keeps its own autocorrelation; only the alignment
between them is destroyed, which is the null hypothesis of independence between the series.
"""
from __future__ import annotations

import logging
from typing import Any

import numpy as np
from scipy.special import digamma

log = logging.getLogger(__name__)

try:  # numba makes 1,000-permutation tests on 5,000 sessions take about a second
    import numba as _nb

    HAVE_NUMBA = True
except ImportError:  # pragma: no cover - exercised only where numba is absent
    _nb = None
    HAVE_NUMBA = False
    log.warning("numba is not installed; mutual-information permutation tests use cKDTree and run slower")

DEFAULT_K = 3


def ranks(x: np.ndarray, seed: int = 0) -> np.ndarray:
    """Ordinal ranks 0..n-1; ties broken at random (seeded) so the copula transform is a permutation."""
    x = np.asarray(x, dtype=float)
    jitter = np.random.default_rng(seed).random(len(x))
    order = np.lexsort((jitter, x))
    r = np.empty(len(x), dtype=np.int64)
    r[order] = np.arange(len(x))
    return r


if HAVE_NUMBA:

    @_nb.njit(cache=True, nogil=True)
    def _kth_eps(px: np.ndarray, py: np.ndarray, k: int) -> np.ndarray:  # pragma: no cover - compiled
        """Max-norm distance from each point to its k-th neighbour; coordinates in [0, n).

        Points are bucketed into square cells sized so that the 3x3 block around a point holds
        about 1.5k points (tuned: fastest of n*k/1.5, /3, /6, /12 for the cell area); coordinates are copied in cell order (contiguous reads), and each point
        searches rings of cells outward until no unseen cell can hold a closer point than its
        current k-th neighbour.
        """
        n = px.shape[0]
        side = max(1.0, np.floor(np.sqrt(n * k / 6.0)))
        g = int(np.ceil(n / side)) + 1
        cell = np.empty(n, dtype=np.int64)
        counts = np.zeros(g * g + 1, dtype=np.int64)
        for i in range(n):
            c = int(px[i] // side) * g + int(py[i] // side)
            cell[i] = c
            counts[c + 1] += 1
        for c in range(g * g):
            counts[c + 1] += counts[c]
        fill = counts[:-1].copy()
        cx_arr = np.empty(n, dtype=np.float64)
        cy_arr = np.empty(n, dtype=np.float64)
        for i in range(n):
            m = fill[cell[i]]
            cx_arr[m] = px[i]
            cy_arr[m] = py[i]
            fill[cell[i]] += 1
        eps = np.empty(n, dtype=np.float64)
        best = np.empty(k, dtype=np.float64)
        for i in range(n):
            for j in range(k):
                best[j] = np.inf
            xi = px[i]
            yi = py[i]
            cx = cell[i] // g
            cy = cell[i] % g
            skipped_self = False
            # the 3x3 block of cells first: three contiguous runs of the cell-ordered arrays
            y_lo = max(cy - 1, 0)
            y_hi = min(cy + 1, g - 1)
            for gx in range(max(cx - 1, 0), min(cx + 1, g - 1) + 1):
                for m in range(counts[gx * g + y_lo], counts[gx * g + y_hi + 1]):
                    dx = abs(cx_arr[m] - xi)
                    dy = abs(cy_arr[m] - yi)
                    dist = dx if dx > dy else dy
                    if dist < best[k - 1]:
                        if dist == 0.0 and not skipped_self:
                            skipped_self = True  # the point itself (copula values are distinct)
                            continue
                        q = k - 1
                        while q > 0 and best[q - 1] > dist:
                            best[q] = best[q - 1]
                            q -= 1
                        best[q] = dist
            # rarely: rings r >= 2; any point in a cell outside ring r is more than r * side away
            r = 1
            while best[k - 1] > r * side and r <= g:
                r += 1
                for gx in range(cx - r, cx + r + 1):
                    if gx < 0 or gx >= g:
                        continue
                    edge_x = gx == cx - r or gx == cx + r
                    step = 1 if edge_x else 2 * r
                    gy = cy - r
                    while gy <= cy + r:
                        if gy >= 0 and gy < g:
                            c = gx * g + gy
                            for m in range(counts[c], counts[c + 1]):
                                dx = abs(cx_arr[m] - xi)
                                dy = abs(cy_arr[m] - yi)
                                dist = dx if dx > dy else dy
                                if dist < best[k - 1]:
                                    q = k - 1
                                    while q > 0 and best[q - 1] > dist:
                                        best[q] = best[q - 1]
                                        q -= 1
                                    best[q] = dist
                        gy += step
            eps[i] = best[k - 1]
        return eps

    @_nb.njit(cache=True, nogil=True, inline="always")
    def _count_le(sorted_v: np.ndarray, a: float) -> int:  # pragma: no cover - compiled
        """#{v <= a} for a sorted copula array (sorted_v[r] in [r, r+1)): only index floor(a) is in doubt."""
        n = sorted_v.shape[0]
        if a < 0:
            return 0
        fa = int(a)
        if fa >= n:
            return n
        return fa + 1 if sorted_v[fa] <= a else fa

    @_nb.njit(cache=True, nogil=True, inline="always")
    def _count_lt(sorted_v: np.ndarray, b: float) -> int:  # pragma: no cover - compiled
        n = sorted_v.shape[0]
        if b <= 0:
            return 0
        fb = int(b)
        if fb >= n:
            return n
        return fb + 1 if sorted_v[fb] < b else fb

    @_nb.njit(cache=True, nogil=True)
    def _ksg_core(px: np.ndarray, py: np.ndarray, sorted_x: np.ndarray, sorted_y: np.ndarray, k: int,
                  psi: np.ndarray) -> float:  # pragma: no cover - compiled
        n = px.shape[0]
        eps = _kth_eps(px, py, k)
        acc = 0.0
        for i in range(n):
            e = eps[i]
            nx = _count_lt(sorted_x, px[i] + e) - _count_le(sorted_x, px[i] - e) - 1
            ny = _count_lt(sorted_y, py[i] + e) - _count_le(sorted_y, py[i] - e) - 1
            acc += psi[nx + 1] + psi[ny + 1]
        return psi[k] + psi[n] - acc / n

    @_nb.njit(cache=True, parallel=True)
    def _ksg_shifts(vx: np.ndarray, vy: np.ndarray, shifts: np.ndarray, k: int,
                    psi: np.ndarray) -> np.ndarray:  # pragma: no cover - compiled
        n = vx.shape[0]
        sorted_x = np.sort(vx)
        sorted_y = np.sort(vy)
        out = np.empty(shifts.shape[0], dtype=np.float64)
        for p in _nb.prange(shifts.shape[0]):
            s = shifts[p]
            py = np.empty(n, dtype=np.float64)
            for t in range(n):
                py[t] = vy[(t + s) % n]
            out[p] = _ksg_core(vx, py, sorted_x, sorted_y, k, psi)
        return out

    @_nb.njit(cache=True, parallel=True)
    def _rolling_ksg(x: np.ndarray, y: np.ndarray, ux: np.ndarray, uy: np.ndarray, window: int, k: int,
                     psi: np.ndarray) -> np.ndarray:  # pragma: no cover - compiled
        n = x.shape[0]
        out = np.full(n, np.nan)
        for end in _nb.prange(window - 1, n):
            xs = x[end - window + 1:end + 1]
            yw = y[end - window + 1:end + 1]
            ok = True
            for i in range(window):
                if np.isnan(xs[i]) or np.isnan(yw[i]):
                    ok = False
                    break
            if not ok:
                continue
            ox = np.argsort(xs, kind="mergesort")
            oy = np.argsort(yw, kind="mergesort")
            px = np.empty(window, dtype=np.float64)
            py = np.empty(window, dtype=np.float64)
            for r in range(window):
                px[ox[r]] = r + ux[end - window + 1 + ox[r]]
                py[oy[r]] = r + uy[end - window + 1 + oy[r]]
            out[end] = _ksg_core(px, py, np.sort(px), np.sort(py), k, psi)
        return out


def _psi_table(n: int) -> np.ndarray:
    table = np.zeros(n + 2)
    table[1:] = digamma(np.arange(1, n + 2))
    return table


def _ksg_ckdtree(px: np.ndarray, py: np.ndarray, k: int, psi: np.ndarray) -> float:
    from scipy.spatial import cKDTree

    n = len(px)
    pts = np.c_[px, py]
    dist, _ = cKDTree(pts).query(pts, k=k + 1, p=np.inf)
    e = dist[:, k]
    sx, sy = np.sort(px), np.sort(py)
    nx = np.searchsorted(sx, px + e, side="left") - np.searchsorted(sx, px - e, side="right") - 1
    ny = np.searchsorted(sy, py + e, side="left") - np.searchsorted(sy, py - e, side="right") - 1
    return float(psi[k] + psi[n] - np.mean(psi[nx + 1] + psi[ny + 1]))


def copula(x: Any, seed: int = 0) -> np.ndarray:
    """Rank + U(0,1) jitter: a continuous, order-preserving copula transform on [0, n).

    Plain integer ranks make KSG's strict-inequality neighbour counts lose the points exactly
    eps away on the grid, biasing MI upward by about 2/eps per variable; the jitter removes that.
    """
    x = np.asarray(x, dtype=float)
    return ranks(x, seed) + np.random.default_rng(seed + 7919).random(len(x))


def ksg_mi(x: Any, y: Any, k: int = DEFAULT_K, *, shifts: Any = (0,), seed: int = 0,
           use_numba: bool | None = None) -> np.ndarray:
    """KSG mutual information (nats) of x and y rotated by each shift (shift s pairs x[t] with y[t+s]).

    x and y must be equally long, without NaN; ties and the copula jitter are seeded.
    """
    x = np.asarray(x, dtype=float)
    y = np.asarray(y, dtype=float)
    n = len(x)
    if len(y) != n:
        raise ValueError(f"x and y differ in length ({n} and {len(y)})")
    if n <= k + 1:
        raise ValueError(f"KSG mutual information needs more than k+1 = {k + 1} points; got {n}")
    vx, vy = copula(x, seed), copula(y, seed + 1)
    shifts = np.asarray(shifts, dtype=np.int64) % max(n, 1)
    psi = _psi_table(n)
    if use_numba is None:
        use_numba = HAVE_NUMBA
    if use_numba:
        return _ksg_shifts(vx, vy, shifts, k, psi)
    return np.array([_ksg_ckdtree(vx, np.roll(vy, -s), k, psi) for s in shifts])


def circular_shifts(n: int, permutations: int, rng: np.random.Generator) -> np.ndarray:
    """Random rotation offsets in [n//10, n - n//10] (at least 1): far from the observed alignment."""
    lo = max(1, n // 10)
    hi = max(lo + 1, n - lo)
    return rng.integers(lo, hi, size=permutations)


def mi_permutation_test(x: Any, y: Any, *, permutations: int = 1000, k: int = DEFAULT_K,
                        seed: int = 0) -> tuple[float, float, np.ndarray]:
    """KSG MI of (x, y) and its circular-shift permutation p-value.

    Returns ``(mi, p_value, null)``; ``p = (1 + #{null >= mi}) / (1 + permutations)``.
    """
    x = np.asarray(x, dtype=float)
    rng = np.random.default_rng(seed)
    shifts = np.concatenate([[0], circular_shifts(len(x), permutations, rng)])
    values = ksg_mi(x, y, k, shifts=shifts, seed=seed)
    mi, null = float(values[0]), values[1:]
    p = (1.0 + float(np.sum(null >= mi))) / (1.0 + len(null))
    return mi, p, null


def rolling_mi(x: Any, y: Any, window: int, k: int = DEFAULT_K, seed: int = 0) -> np.ndarray:
    """KSG MI over trailing windows (value at the window's last index; NaN before or with NaN inside).

    Each window is copula-transformed on its own (ranks within the window plus seeded jitter).
    """
    x = np.asarray(x, dtype=float)
    y = np.asarray(y, dtype=float)
    n = len(x)
    if window <= k + 1:
        raise ValueError(f"window {window} must exceed k+1 = {k + 1}")
    rng = np.random.default_rng(seed + 7919)
    ux, uy = rng.random(n), rng.random(n)
    psi = _psi_table(window)
    if HAVE_NUMBA:
        return _rolling_ksg(x, y, ux, uy, window, k, psi)
    out = np.full(n, np.nan)  # pragma: no cover - without numba
    for end in range(window - 1, n):
        sl = slice(end - window + 1, end + 1)
        xs, ys = x[sl], y[sl]
        if np.isnan(xs).any() or np.isnan(ys).any():
            continue
        rx = np.argsort(np.argsort(xs, kind="mergesort"), kind="mergesort")
        ry = np.argsort(np.argsort(ys, kind="mergesort"), kind="mergesort")
        out[end] = _ksg_ckdtree(rx + ux[sl], ry + uy[sl], k, psi)
    return out
