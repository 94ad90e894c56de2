"""`crowdpulse db ...`: look inside the database file."""
from __future__ import annotations

import typer
from rich.table import Table

from crowdpulse.commands.common import DEFAULT_DB_PATH, DbOption, console, open_store


def register(app: typer.Typer) -> None:
    db_app = typer.Typer(help="Inspect the database file.", no_args_is_help=True)
    app.add_typer(db_app, name="db")

    @db_app.command("stats")
    def stats(db: DbOption = DEFAULT_DB_PATH) -> None:
        """Row counts per table, posts per source, and the latest runs.

        Example: crowdpulse db stats --db crowdpulse.duckdb
        """
        from crowdpulse.stats import database_stats

        with open_store(db, read_only=True) as store:
            info = database_stats(store)
        table = Table(title=f"{db} (schema {info.schema_version})")
        table.add_column("table")
        table.add_column("rows", justify="right")
        for name, n in info.counts.items():
            table.add_row(name, f"{n:,}")
        console.print(table)
        if not info.by_source.empty:
            src = Table(title="posts by source")
            for col in info.by_source.columns:
                src.add_column(str(col), justify="right" if col != "source" else "left")
            for row in info.by_source.itertuples(index=False):
                src.add_row(*[str(v) for v in row])
            console.print(src)
        if not info.runs.empty:
            runs = Table(title="latest runs")
            for col in info.runs.columns:
                runs.add_column(str(col), ratio=3 if col == "counts" else None)
            for row in info.runs.itertuples(index=False):
                runs.add_row(*["" if v is None else _compact(v) for v in row])
            console.print(runs)


def _compact(value: object) -> str:
    """A run's counts JSON as ``key=value`` pairs, a time to the second; anything else as text."""
    import json
    from datetime import datetime

    import pandas as pd

    if value is pd.NaT or (isinstance(value, float) and value != value):  # a run that never finished
        return "-"
    if isinstance(value, datetime):
        return value.strftime("%Y-%m-%d %H:%M:%S")
    text = str(value)
    if text.startswith("{"):
        try:
            doc = json.loads(text)
        except ValueError:
            return text
        if isinstance(doc, dict):
            return ", ".join(f"{k}={v}" for k, v in doc.items() if not isinstance(v, (dict, list)))
    return text
