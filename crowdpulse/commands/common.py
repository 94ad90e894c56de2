"""Options and helpers shared by the CLI commands."""
from __future__ import annotations

import os
import sys
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, Iterator, Optional

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
EngineOption = Annotated[str, typer.Option("--engine", help="local (this process) or ray (Ray Data actors; needs the ray extra: pip install -e '.\\[ray]'; see docs/scale.md).")]
AddressOption = Annotated[Optional[str], typer.Option("--address", help="ray: the cluster, auto (the one this machine joined) or ray://HOST:PORT; default: a private Ray on this machine.", show_default=False)]
ActorsOption = Annotated[Optional[int], typer.Option("--actors", help="ray: scorer actors, each loading the model once (default: one per 2 CPUs, or per --gpus-per-actor share).", show_default=False)]
GpusOption = Annotated[float, typer.Option("--gpus-per-actor", help="ray: GPUs per actor (0.5 puts two actors on a GPU).")]
ShardsOption = Annotated[Optional[Path], typer.Option("--shards", help="ray: folder for the Parquet shards, one every Ray node can read and write (default: DB.ray beside the database).", show_default=False)]


def score_settings(engine: str, address: str | None, actors: int | None, gpus_per_actor: float,
                   batch_size: int, shards: Path | None):
    """The score options as :class:`~crowdpulse.config.ScoreSettings`; a bad value or a missing ray
    extra is one line."""
    from crowdpulse.config import ScoreSettings
    from crowdpulse.errors import CrowdpulseError

    settings = ScoreSettings(engine=engine, address=address, actors=actors, gpus_per_actor=gpus_per_actor,
                             batch_size=batch_size, shards=shards)
    problem = settings.problem(lambda key: "--" + key.replace("_", "-"))
    if problem:
        raise CrowdpulseError(problem)
    if engine == "ray":
        from crowdpulse.ray_engine import require_ray

        require_ray()
    return settings


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
