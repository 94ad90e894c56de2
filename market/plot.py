"""Static plots (matplotlib, Agg backend) of rolling pair statistics."""
from __future__ import annotations

import logging
from pathlib import Path

import pandas as pd

log = logging.getLogger(__name__)


def plot_rolling_pair(rolling: pd.DataFrame, a: str, b: str, path: str | Path) -> Path:
    """Rolling correlation (top) and mutual information (bottom, clipped at 0) per window size, with noise bands.

    ``rolling`` is :func:`market.stats.rolling_pair` output. Writes a PNG and returns its path.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig, (ax_c, ax_m) = plt.subplots(2, 1, figsize=(11, 6.5), sharex=True, constrained_layout=True)
    colors = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd"]
    for i, (w, g) in enumerate(rolling.groupby("window")):
        c = colors[i % len(colors)]
        ax_c.plot(g["date"], g["corr"], color=c, lw=0.8 if w < 60 else 1.2, alpha=0.55 if w < 60 else 0.9,
                  label=f"{w}-session")
        ax_c.axhline(g["corr_null95"].iloc[0], color=c, ls=":", lw=0.8)
        ax_c.axhline(-g["corr_null95"].iloc[0], color=c, ls=":", lw=0.8)
        ax_m.plot(g["date"], g["mi"], color=c, lw=0.8 if w < 60 else 1.2, alpha=0.55 if w < 60 else 0.9,
                  label=f"{w}-session")
        ax_m.axhline(g["mi_null95"].iloc[0], color=c, ls=":", lw=0.8)
    ax_c.axhline(0, color="black", lw=0.5)
    ax_c.set_ylabel("Pearson correlation")
    ax_c.set_title(f"{a} vs {b} daily returns: rolling correlation and mutual information "
                   "(dotted: 95% of windows under independence)")
    ax_c.legend(loc="lower left", ncol=3, fontsize=8)
    ax_m.set_ylabel("KSG mutual information (nats, clipped at 0)")
    ax_m.set_xlabel("window end (NYSE session)")
    fig.savefig(path, dpi=110)
    plt.close(fig)
    log.info("wrote %s", path)
    return path
