"""``crowdpulse export`` and ``crowdpulse import-labels``."""
from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from crowdpulse.commands.common import DEFAULT_DB_PATH, DbOption, console, open_store


def export_command(
    out: Annotated[Path, typer.Argument(help="File to write (.csv, .jsonl, .parquet, .json for Label Studio) or a folder for --format hf.")],
    fmt: Annotated[Optional[str], typer.Option("--format", "-f", help="csv, jsonl, parquet, hf (Hugging Face datasets folder) or labelstudio; default: from OUT's extension, a folder means hf.")] = None,
    db: DbOption = DEFAULT_DB_PATH,
    model: Annotated[Optional[str], typer.Option("--model", help="Whose scores to export: a model_id or a unique part of one; default: the model with most scores.")] = None,
    since: Annotated[Optional[str], typer.Option("--since", help="Only posts created on/after this date (YYYY-MM-DD or ISO time, UTC).")] = None,
    until: Annotated[Optional[str], typer.Option("--until", help="Only posts created on/before this date (a bare date includes the whole day).")] = None,
    source: Annotated[Optional[list[str]], typer.Option("--source", help="Only these sources (repeatable).")] = None,
    ticker: Annotated[Optional[list[str]], typer.Option("--ticker", help="Only posts with a stance on these tickers (repeatable).")] = None,
    min_confidence: Annotated[Optional[float], typer.Option("--min-confidence", help="Keep posts whose top probability is at least this (weak-label sets).")] = None,
    least_confident: Annotated[Optional[int], typer.Option("--least-confident", help="Keep only the N posts the model is least sure of (active learning).")] = None,
    user_labels: Annotated[bool, typer.Option("--user-labels", help="Add posts.user_label (StockTwits users' own Bullish/Bearish tags).")] = False,
    dedupe: Annotated[bool, typer.Option("--dedupe", help="Drop exact and near-duplicate texts, keeping the earliest.")] = False,
    split: Annotated[Optional[str], typer.Option("--split", help="train,validation,test fractions, e.g. 0.8,0.1,0.1; stratified by label, threads never cross splits.")] = None,
    seed: Annotated[int, typer.Option("--seed", help="Seed for the split.")] = 0,
    hash_authors: Annotated[bool, typer.Option("--hash-authors", help="Replace author names by salted hashes.")] = False,
    salt: Annotated[Optional[str], typer.Option("--salt", help="Salt for --hash-authors (default: random, recorded nowhere).")] = None,
    no_text: Annotated[bool, typer.Option("--no-text", help="Leave out text and URLs: ids and labels only.")] = False,
) -> None:
    """Export scored posts as a labeled data set (CSV, JSONL, Parquet, Hugging Face datasets, Label Studio).

    Example: crowdpulse export data/iwm --format hf --ticker IWM --split 0.8,0.1,0.1 --dedupe --hash-authors

    Example: crowdpulse export tasks.json --format labelstudio --least-confident 200
    """
    from crowdpulse.export import export

    with open_store(db, read_only=True) as store:
        result = export(
            store, out, fmt=fmt, model=model, since=since, until=until, sources=source, tickers=ticker,
            min_confidence=min_confidence, user_labels=user_labels, least_confident=least_confident,
            dedupe=dedupe, split=split, seed=seed, hash_authors_=hash_authors, salt=salt, no_text=no_text,
        )
    parts = [result.format, ", ".join(f"{k} {v}" for k, v in result.splits.items())]
    if dedupe:
        parts.append(f"{result.dropped_duplicates} duplicates dropped")
    console.print(f"exported {result.rows} posts scored by {result.model_id} to {result.path} "
                  f"({'; '.join(p for p in parts if p)})")


def import_labels_command(
    file: Annotated[Path, typer.Argument(help="Label Studio JSON export (a list of tasks with annotations).")],
    db: DbOption = DEFAULT_DB_PATH,
) -> None:
    """Read human labels from a Label Studio JSON export into the labels table.

    Example: crowdpulse import-labels project-1-at-2024-06-01.json --db crowdpulse.duckdb
    """
    from crowdpulse.labelstudio import import_labels

    if file.is_dir():
        from crowdpulse.errors import CrowdpulseError

        raise CrowdpulseError(f"{file} is a folder; give the JSON file Label Studio exported (Export > JSON in the project)")
    if not file.is_file():
        raise FileNotFoundError(2, "no such file", str(file))
    with open_store(db, existing=True) as store:
        r = import_labels(store, file)
    console.print(f"imported {r.annotations} labels from {r.tasks} tasks: {r.inserted} new, {r.updated} updated, "
                  f"{r.skipped} skipped (cancelled, empty or not {'/'.join(('bullish', 'bearish', 'neutral'))})"
                  + (f"; {r.unknown_posts} name posts not in this database" if r.unknown_posts else ""))


def register(app: typer.Typer) -> None:
    app.command("export")(export_command)
    app.command("import-labels")(import_labels_command)
