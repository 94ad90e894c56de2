"""``crowdpulse report``: one self-contained HTML file."""
from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Optional

import typer

from crowdpulse.commands.common import DEFAULT_DB_PATH, DbOption, console, open_store

if TYPE_CHECKING:
    import pandas as pd


def report_command(
    out: Annotated[Path, typer.Option("--out", "-o", help="HTML file to write.")] = Path("report.html"),
    db: DbOption = DEFAULT_DB_PATH,
    ticker: Annotated[Optional[list[str]], typer.Option("--ticker", help="Tickers to show (repeatable); default: the 6 most named (most stances) of those with prices in the database; the report says which it left out and why.")] = None,
    model: Annotated[Optional[str], typer.Option("--model", help="Whose scores: a model_id or a unique part of one; default: the model with most scores.")] = None,
    stats: Annotated[Optional[Path], typer.Option("--stats", help="Statistics JSON written by the correlate command (rows with ticker, test, lag, estimate, p_adjusted...); default: computed now.")] = None,
    windows: Annotated[str, typer.Option("--windows", help="Rolling windows in sessions, comma-separated.")] = "20,60",
    permutations: Annotated[int, typer.Option("--permutations", help="Permutations for the tests computed now.")] = 200,
    no_stats: Annotated[bool, typer.Option("--no-stats", help="Skip computing statistics (faster).")] = False,
    title: Annotated[str, typer.Option("--title", help="Report title.")] = "crowdpulse report",
) -> None:
    """Write the self-contained HTML report (sentiment vs price, correlation, lead-lag, themes, top posts).

    Per ticker: sentiment index over price, volume, rolling correlation and MI, lead-lag bars, top posts.

    Then the two tickers' returns against each other and theme prevalence. Opens with no network.

    Example: crowdpulse report --out report.html --db crowdpulse.duckdb --ticker IWM --ticker TLT
    """
    from crowdpulse.report import ReportError, gather_report_data, write_report

    try:
        wins = tuple(int(w) for w in windows.split(",") if w.strip())
    except ValueError:
        wins = ()
    from market.stats import MIN_WINDOW

    if not wins or min(wins) < MIN_WINDOW:
        raise ReportError(f"--windows {windows!r} must be comma-separated session counts of at least {MIN_WINDOW}, e.g. 20,60")
    if stats is not None and no_stats:
        raise ReportError("--stats and --no-stats contradict each other: --stats gives the statistics, --no-stats drops them")
    stats_df = None if stats is None else _read_stats(stats)
    with open_store(db, read_only=True) as store:
        data = gather_report_data(store, tickers=ticker, stats=stats_df, model=model, windows=wins,
                                  compute_stats=not no_stats, permutations=permutations, title=title)
    out.parent.mkdir(parents=True, exist_ok=True)
    n = write_report(data, out)
    console.print(f"wrote {out} ({out.stat().st_size / 1e6:.1f} MB, {n} charts, tickers {', '.join(data.meta['tickers'])})")
    if data.meta.get("tickers_note"):
        console.print(data.meta["tickers_note"], highlight=False, markup=False)


def _read_stats(path: Path) -> pd.DataFrame:
    """The statistics rows of ``path``: the document ``crowdpulse correlate --json`` writes, or a bare list of rows."""
    import json

    import pandas as pd

    from crowdpulse.report import ReportError

    if path.is_dir():
        raise ReportError(f"--stats {path} is a folder; give the JSON file crowdpulse correlate --json wrote")
    if not path.is_file():
        raise FileNotFoundError(2, "no such file", str(path))
    again = "write it again with crowdpulse correlate --json FILE"
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError:
        raise ReportError(f"--stats {path} is not a UTF-8 text file; {again}") from None
    try:
        doc = json.loads(text)
    except json.JSONDecodeError as exc:
        cut = "; the file ends there, cut short?" if exc.pos >= len(text.rstrip()) else ""
        raise ReportError(f"--stats {path} is not valid JSON ({exc.msg} at line {exc.lineno}, column {exc.colno}"
                          f"{cut}); {again}") from None
    except RecursionError:
        raise ReportError(f"--stats {path} is nested too deep to be statistics JSON; {again}") from None
    rows = doc.get("results") if isinstance(doc, dict) else doc
    need = {"ticker", "test", "lag", "estimate"}
    if not isinstance(rows, list) or not rows or not all(isinstance(r, dict) and need <= set(r) for r in rows):
        raise ReportError(f"--stats {path} holds no statistics rows (ticker, test, lag, estimate, ...); "
                          "write them with crowdpulse correlate --json FILE")
    return pd.DataFrame(rows)


def register(app: typer.Typer) -> None:
    app.command("report")(report_command)
