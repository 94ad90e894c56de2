"""Options and helpers shared by the CLI commands."""
from __future__ import annotations

from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, Iterator

import typer
from rich.console import Console

from crowdpulse.store import DEFAULT_DB, Store

console = Console()
err_console = Console(stderr=True)

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
