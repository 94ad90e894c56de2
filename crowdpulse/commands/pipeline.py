"""`crowdpulse run` and `crowdpulse demo`: whole jobs from one command."""
from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer
from rich.table import Table

from crowdpulse.commands.common import console, err_console, open_store


def _summary_table(summary) -> Table:
    table = Table(title="crowd sentiment per ticker")
    table.add_column("ticker")
    table.add_column("posts", justify="right")
    table.add_column("bullish", justify="right", style="green")
    table.add_column("bearish", justify="right", style="red")
    table.add_column("neutral", justify="right")
    table.add_column("mean p(bull)-p(bear)", justify="right")
    table.add_column("top themes")
    for r in summary.itertuples(index=False):
        table.add_row(r.ticker, str(r.posts), f"{r.bullish:.0%}", f"{r.bearish:.0%}", f"{r.neutral:.0%}",
                      f"{r.mean_score:+.2f}", r.top_themes)
    return table


def register(app: typer.Typer) -> None:
    @app.command("run")
    def run(
        config: Annotated[Path, typer.Argument(help="TOML run config (see README.md, \"A run config\", and examples/offline.toml).")],
        fresh: Annotated[bool, typer.Option("--fresh", help="Start a new run instead of resuming an unfinished one.")] = False,
    ) -> None:
        """Run scrape -> score -> index -> prices -> correlate -> report from one config file.

        Running the same config again after an interruption resumes it.

        Example: crowdpulse run examples/iwm_tlt.toml
        """
        from crowdpulse.config import load_config
        from crowdpulse.pipeline import run_pipeline

        cfg = load_config(config)

        def show(step: str, state: str) -> None:
            console.print(f"[bold]{step}[/bold]: {state}")

        with open_store(cfg.db) as store:
            result = run_pipeline(store, cfg, fresh=fresh, on_step=show)
        table = Table(title=f"run {result.run_id}" + (" (resumed)" if result.resumed else ""))
        table.add_column("step")
        table.add_column("counts")
        for step, counts in result.steps.items():
            table.add_row(step, ", ".join(f"{k}={v}" for k, v in counts.items()))
        console.print(table)
        for note in result.notes:
            err_console.print(f"note: {note}", soft_wrap=True)

    @app.command("demo")
    def demo(
        prices_csv: Annotated[Optional[Path], typer.Option("--prices-csv", help="Folder of TICKER.csv price files (Yahoo columns), used when Yahoo cannot be reached.")] = None,
        db: Annotated[Path, typer.Option("--db", help="DuckDB file for the demo.")] = Path("crowdpulse-demo.duckdb"),
        out: Annotated[Path, typer.Option("--out", help="Where to write the HTML report.")] = Path("report.html"),
        model: Annotated[str, typer.Option("--model", help="Model spec: default, vader, tfidf, a Hugging Face name or a local folder.")] = "default",
    ) -> None:
        """Score the shipped sample threads offline, print a per-ticker table and write report.html.

        Example: crowdpulse demo --prices-csv ../shared/data/market/adjusted_2026
        """
        from crowdpulse.demo import run_demo

        if prices_csv is not None and not prices_csv.is_dir():
            raise typer.BadParameter(f"no such folder: {prices_csv}", param_hint="--prices-csv")
        with open_store(db) as store:
            result = run_demo(store, model=model, prices_csv=prices_csv, report_out=out)
        console.print(f"[dim]SAMPLE DATA written for crowdpulse (not real posts); model {result.model_id}[/dim]")
        console.print(_summary_table(result.summary))
        for note in result.notes:
            console.print(f"note: {note}", soft_wrap=True)
        if not result.stats.empty:
            sig = result.stats[result.stats["p_adjusted"] < 0.05]
            console.print(f"{len(result.stats)} tests run; {len(sig)} significant after Benjamini-Hochberg "
                          f"(sample data: expect none)")
        if result.report:
            console.print(f"report written to [bold]{result.report}[/bold]")
