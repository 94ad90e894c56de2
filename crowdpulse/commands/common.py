"""Options and helpers shared by the CLI commands."""
from __future__ import annotations

from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, Iterator, Optional

import typer
from rich.console import Console

from crowdpulse.store import DEFAULT_DB, Store

console = Console()
err_console = Console(stderr=True)

DbOption = Annotated[Path, typer.Option("--db", help="DuckDB file to read and write.", show_default=True)]
DEFAULT_DB_PATH = Path(DEFAULT_DB)
ModelOption = Annotated[str, typer.Option("--model", help="Model spec: default, vader, tfidf, a Hugging Face name or a local folder.")]
EngineOption = Annotated[str, typer.Option("--engine", help="local (this process) or ray (Ray Data actors; needs the ray extra: pip install -e '.[ray]'; see docs/scale.md).")]
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
