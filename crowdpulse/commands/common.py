"""Options and helpers shared by the CLI commands."""
from __future__ import annotations

import os
import sys
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, Iterator

import typer
from rich.console import Console

from crowdpulse.store import DEFAULT_DB, Store

#: Width for output that goes to a file or a pipe: tables keep their natural width (no column is
#: cut to fit 80), lines are never wrapped.
PIPE_WIDTH = 10_000


def make_console(stderr: bool = False) -> Console:
    """A console for stdout (or stderr): as rich makes it on a terminal; to a pipe or a file, the
    full width of every table and one line per line (COLUMNS, when set, still bounds tables)."""
    stream = sys.stderr if stderr else sys.stdout
    if stream.isatty():
        return Console(stderr=stderr)
    columns = os.environ.get("COLUMNS", "")
    return Console(stderr=stderr, width=int(columns) if columns.isdigit() else PIPE_WIDTH, soft_wrap=True)


console = make_console()
err_console = make_console(stderr=True)

DbOption = Annotated[Path, typer.Option("--db", help="DuckDB file to read and write.", show_default=True)]
DEFAULT_DB_PATH = Path(DEFAULT_DB)
ModelOption = Annotated[str, typer.Option("--model", help="Model spec: default, vader, tfidf, a Hugging Face name or a local folder.")]


def repaired_note(n: int) -> str:
    """What the store did to posts whose text held a lone surrogate (empty when none did)."""
    if not n:
        return ""
    return f"{n:,} post{'' if n == 1 else 's'} with broken characters (lone surrogates) stored with U+FFFD"


@contextmanager
def open_store(db: Path, read_only: bool = False, *, existing: bool = False) -> Iterator[Store]:
    """The database at ``db``; with ``existing``, a missing file is an error rather than a new empty
    database (a mistyped --db must not "succeed" on nothing)."""
    if existing and not db.exists():
        from crowdpulse.errors import CrowdpulseError

        raise CrowdpulseError(f"no database at {db}; fill one first (crowdpulse scrape, crowdpulse import) "
                              "or pass the right --db")
    store = Store.open(db, read_only=read_only)
    try:
        yield store
    finally:
        store.close()
