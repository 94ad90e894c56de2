"""`crowdpulse import ...`: bulk history from Reddit archive dumps and CSV exports."""
from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer
from rich.table import Table

from crowdpulse.commands.common import (DEFAULT_DB_PATH, ActorsOption, AddressOption, DbOption, EngineOption,
                                       GpusOption, ModelOption, ShardsOption, console, err_console, open_store,
                                       repaired_note, score_settings)
from crowdpulse.errors import CrowdpulseError



def _summary(result, title: str) -> None:
    table = Table(title=title)
    for col in ("file", "lines", "parsed", "kept", "corrupt", "complete"):
        table.add_column(col, justify="left" if col == "file" else "right")
    for f in result.files:
        table.add_row(Path(f.path).name, f"{f.lines:,}", f"{f.parsed:,}", f"{f.kept:,}",
                      f"{f.corrupt:,}", "no" if f.truncated else "yes")
    console.print(table)
    for f in result.files:
        if f.corrupt:
            where = ", ".join(map(str, f.corrupt_lines))
            err_console.print(f"[yellow]warning:[/] {f.path}: {f.corrupt:,} corrupt line(s) skipped (first at line {where})")


def register(app: typer.Typer) -> None:
    imp = typer.Typer(help="Import history in bulk: Reddit archive dumps and CSV exports.", no_args_is_help=True)
    app.add_typer(imp, name="import")

    @imp.command("reddit-dump")
    def reddit_dump(
        files: Annotated[list[Path], typer.Argument(help="Pushshift-style .zst dumps: RS_YYYY-MM.zst, RC_YYYY-MM.zst, SUB_submissions.zst, SUB_comments.zst.", show_default=False)],
        db: DbOption = DEFAULT_DB_PATH,
        subreddit: Annotated[Optional[str], typer.Option(help="Keep only these subreddits, comma-separated (case-insensitive).")] = None,
        match: Annotated[Optional[str], typer.Option(help="Keep only posts whose title or body matches this regular expression (case-insensitive).")] = None,
        since: Annotated[Optional[str], typer.Option(help="Keep posts created at or after this UTC date/time (YYYY-MM-DD or ISO).")] = None,
        until: Annotated[Optional[str], typer.Option(help="Keep posts created before this UTC time; a plain date includes that whole day.")] = None,
        batch_size: Annotated[int, typer.Option(help="Rows per committed batch.", min=1)] = 5000,
        quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress bar.")] = False,
        score: Annotated[bool, typer.Option("--score", help="Also score what was imported (and any other unscored post), as `crowdpulse score` does.")] = False,
        model: ModelOption = "default",
        engine: EngineOption = "local",
        address: AddressOption = None,
        actors: ActorsOption = None,
        gpus_per_actor: GpusOption = 0.0,
        shards: ShardsOption = None,
    ) -> None:
        """Stream Reddit archive dumps (zstd, one JSON object per line) into the posts table.

        Submissions and comments are told apart by the file name (RS_/RC_, _submissions/_comments)
        or by their fields. Corrupt lines are counted and skipped; a truncated file keeps the rows
        read before the cut. Importing a file twice stores nothing twice. With --score --engine ray
        the dumps are streamed into Parquet shards, not into the database first; each shard's posts
        are stored with their scores (docs/scale.md).

        Example: crowdpulse import reddit-dump RC_2021-01.zst RS_2021-01.zst --subreddit stocks,wallstreetbets --match "IWM|TLT|russell|treasur" --since 2021-01-01 --until 2021-01-31
        Example: crowdpulse import reddit-dump RC_2021-*.zst --subreddit wallstreetbets --score --engine ray --address auto
        """
        import logging

        from crowdpulse.imports import import_and_score_reddit_dumps, import_reddit_dumps, parse_bound
        from scrapers.reddit_dump import DumpFilter

        filt = DumpFilter(
            subreddits=frozenset((subreddit or "").split(",")), match=match,
            since=parse_bound(since, "--since"), until=parse_bound(until, "--until", end=True),
        )
        if filt.since and filt.until and filt.since >= filt.until:
            raise CrowdpulseError(f"--since {since} is not before --until {until}: nothing could match")
        if not score and (engine != "local" or model != "default"):
            raise CrowdpulseError("--engine and --model choose how --score scores; add --score")
        settings = score_settings(engine, address, actors, gpus_per_actor, 512, shards)
        counts = None
        with open_store(db) as store:
            if score:
                result, counts = import_and_score_reddit_dumps(
                    store, files, filt, model, settings, batch_size=batch_size, progress=not quiet,
                    verbose=logging.getLogger().level <= logging.INFO)
            else:
                result = import_reddit_dumps(store, files, filt, batch_size=batch_size, progress=not quiet)
        _summary(result, f"import into {db}")
        repeats = f", {result.duplicates:,} repeating a post of the same batch (stored once)" if result.duplicates else ""
        console.print(f"stored {result.stored:,} posts ({result.inserted:,} new, {result.updated:,} updated{repeats}); "
                      f"run {result.run_id}")
        if result.repaired:
            console.print(repaired_note(result.repaired))
        if counts is not None:
            console.print(f"scored {counts['posts']:,} posts with {counts['model_id']}: {counts['stances']:,} stances, "
                          f"{counts['themes']:,} themes")
        problems = result.problems()
        if problems:
            raise CrowdpulseError("; ".join(problems))

    @imp.command("csv")
    def csv(
        file: Annotated[Path, typer.Argument(help="A CSV export with one post or comment per row.", show_default=False)],
        text_col: Annotated[str, typer.Option("--text-col", help="Column with the post text.")],
        time_col: Annotated[str, typer.Option("--time-col", help="Column with the post time: unix seconds, ISO time or date.")],
        id_col: Annotated[Optional[str], typer.Option("--id-col", help="Column with the post id (default: a hash of source, text and time).")] = None,
        thread_col: Annotated[Optional[str], typer.Option("--thread-col", help="Column with the thread id (a Reddit permalink works too).")] = None,
        parent_col: Annotated[Optional[str], typer.Option("--parent-col", help="Column with the parent post id.")] = None,
        author_col: Annotated[Optional[str], typer.Option("--author-col", help="Column with the author.")] = None,
        score_col: Annotated[Optional[str], typer.Option("--score-col", help="Column with the score.")] = None,
        title_col: Annotated[Optional[str], typer.Option("--title-col", help="Column with the title.")] = None,
        url_col: Annotated[Optional[str], typer.Option("--url-col", help="Column with the URL or Reddit permalink.")] = None,
        source: Annotated[str, typer.Option(help="Source name stored with each row; use 'reddit' for Reddit ids so they merge with scraped and dumped posts.")] = "csv",
        time_precision: Annotated[Optional[str], typer.Option("--time-precision", help="exact, or day for 'seen on that day' dates (dated 23:59:59 UTC). Default: day when every value is a plain date.")] = None,
        encoding: Annotated[str, typer.Option("--encoding", help="The file's text encoding, e.g. cp1252 or latin-1 for a spreadsheet's export.")] = "utf-8",
        db: DbOption = DEFAULT_DB_PATH,
        quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress display.")] = False,
    ) -> None:
        """Import a CSV export of posts or comments, naming which column holds what.

        The file is read as UTF-8 unless --encoding names another; a byte that does not decode stops
        the import with its line number (what was stored before it stays).

        Example: crowdpulse import csv janash_stocks_comments_sample.csv --text-col comment --time-col first_snapshot_date --id-col comment_id --thread-col post_id --score-col score_last --url-col permalink --source reddit --time-precision day
        """
        from crowdpulse.imports import import_csv
        from scrapers.csv_export import PRECISIONS, CsvColumns

        if time_precision is not None and time_precision not in PRECISIONS:
            raise CrowdpulseError(f"--time-precision {time_precision!r} is not one of: {', '.join(PRECISIONS)}")
        columns = CsvColumns(text=text_col, time=time_col, id=id_col, thread=thread_col, parent=parent_col,
                             author=author_col, score=score_col, title=title_col, url=url_col)
        with open_store(db) as store:
            result = import_csv(store, file, columns, source=source, precision=time_precision, progress=not quiet,
                                encoding=encoding)
        stats = result.files[0]
        repeats = (f", {result.duplicates:,} repeating the id of an earlier row (stored once, the last wins)"
                   if result.duplicates else "")
        console.print(
            f"{file}: {stats.rows:,} rows: {stats.posts:,} posts (time precision {stats.precision}), "
            f"{stats.empty:,} without text, {stats.bad_time:,} with an unreadable time; "
            f"of the posts {result.inserted:,} new, {result.updated:,} updated{repeats}; run {result.run_id}"
        )
        if result.repaired:
            console.print(repaired_note(result.repaired))
        if stats.bad_time:
            err_console.print(f"[yellow]warning:[/] rows with an unreadable time were skipped (first: data rows {', '.join(map(str, stats.bad_time_rows))})")
