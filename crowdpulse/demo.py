"""`crowdpulse demo`: the main job on the embedded defaults, with no network needed.

Loads the sample threads that ship with the project (written for it, marked as
sample data), scores them with the default offline model, summarises them per
ticker and writes an HTML report. Prices come from Yahoo when it can be reached,
else from ``prices_csv`` when given; without either the correlation section is
left out, and the result says why.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from crowdpulse.store import Store

log = logging.getLogger(__name__)

SAMPLE_DIR = Path(__file__).resolve().parent / "sample_data"
DEMO_TICKERS = ("IWM", "TLT")


@dataclass
class DemoResult:
    posts: int
    model_id: str
    summary: pd.DataFrame
    stats: pd.DataFrame
    report: Path | None
    notes: list[str] = field(default_factory=list)


def sample_files() -> list[Path]:
    """The sample pages: Reddit-style thread JSON and broker-community HTML."""
    return sorted(p for p in SAMPLE_DIR.iterdir() if p.suffix in (".json", ".html"))


def run_demo(store: Store, *, model: str = "default", prices_csv: Path | None = None,
             report_out: Path | None = Path("report.html"), permutations: int = 200,
             progress: bool = True) -> DemoResult:
    from crowdpulse.analysis import correlate_store, ticker_summary
    from crowdpulse.index import ticker_index
    from crowdpulse.loading import load_files
    from crowdpulse.prices import stale_note, update_prices
    from crowdpulse.scoring import score_store
    from market.errors import MarketError
    from models import load_model

    notes: list[str] = []
    loaded = load_files(store, "auto", sample_files())
    scorer = load_model(model)
    score_store(store, scorer, progress=progress)
    summary = ticker_summary(store, scorer.model_id)
    posts = store.query("SELECT min(created_at) AS first, max(created_at) AS last FROM posts")
    start = (pd.Timestamp(posts.iloc[0]["first"]) - pd.Timedelta(days=45)).strftime("%Y-%m-%d")
    end = (pd.Timestamp(posts.iloc[0]["last"]) + pd.Timedelta(days=45)).strftime("%Y-%m-%d")
    tickers = list(DEMO_TICKERS)
    have_prices = False
    try:
        note = stale_note(update_prices(store, tickers, start=start, end=end, csv_dir=None))
        have_prices = True
        if note:
            notes.append(note)
    except MarketError as exc:
        reason = getattr(exc, "reason", str(exc))
        if prices_csv is not None:
            update_prices(store, tickers, start=start, end=end, csv_dir=prices_csv)
            have_prices = True
            notes.append(f"{reason}; prices read from {prices_csv} instead")
        else:  # one line: why there are no prices, what is left out, and what to pass
            notes.append(f"{reason}; the correlation section is left out (pass --prices-csv DIR with TICKER.csv files)")
    stats = pd.DataFrame()
    if have_prices:
        index = ticker_index(store, scorer.model_id, tickers)
        stats = correlate_store(store, scorer.model_id, tickers=tickers, lags=3,
                                permutations=permutations, index=index)
        if stats.empty:
            notes.append("too few sessions with both sentiment and prices to correlate")
    report = None
    if report_out is not None:
        from crowdpulse.report import gather_report_data, write_report

        data = gather_report_data(store, tickers=tickers, stats=stats, model=scorer.model_id,
                                  compute_stats=False, title="crowdpulse demo (SAMPLE DATA)")
        data.meta["notes"] = list(data.meta.get("notes", [])) + notes
        if stats.empty:
            data.meta["stats_note"] = ("No statistics: " + notes[-1]) if notes else data.meta.get("stats_note")
        write_report(data, report_out)
        report = Path(report_out)
    return DemoResult(posts=loaded.inserted + loaded.updated, model_id=scorer.model_id,
                      summary=summary, stats=stats, report=report, notes=notes)
