"""The ``crowdpulse`` command: a thin layer over the library functions.

Each command group lives in ``crowdpulse/commands/<name>.py`` and exposes
``register(app)``. Errors that are the user's to fix print one line and exit 2.
"""
from __future__ import annotations

import importlib
import logging
import os
import sys
import warnings

import typer

from crowdpulse.errors import user_errors

app = typer.Typer(
    name="crowdpulse",
    help="Read what trading crowds write, score it, and test it against what the market did.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode="rich",
)

COMMAND_MODULES = (
    "scrape", "analyze", "models", "market", "export", "report", "imports", "db", "pipeline",
)


@app.callback()
def _root(
    verbose: bool = typer.Option(False, "--verbose", "-v", help="Log what each step does."),
) -> None:
    logging.basicConfig(
        level=logging.INFO if verbose else logging.WARNING,
        format="%(levelname)s %(name)s: %(message)s",
    )


for _name in COMMAND_MODULES:
    try:
        _module = importlib.import_module(f"crowdpulse.commands.{_name}")
    except ModuleNotFoundError as exc:  # a command group not built yet
        if exc.name != f"crowdpulse.commands.{_name}":
            raise
        continue
    _module.register(app)


def main() -> None:
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")  # no weight-loading reports on the console
    os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
    warnings.filterwarnings("ignore", category=FutureWarning, module="transformers")
    try:
        app()
    except user_errors() as exc:
        typer.echo(f"error: {exc}", err=True)
        sys.exit(2)
    except FileNotFoundError as exc:
        typer.echo(f"error: no such file: {exc.filename or exc}", err=True)
        sys.exit(2)
    except PermissionError as exc:
        typer.echo(f"error: permission denied: {exc.filename or exc}", err=True)
        sys.exit(2)
    except KeyboardInterrupt:
        typer.echo("interrupted: everything committed so far is kept", err=True)
        sys.exit(130)


if __name__ == "__main__":
    main()
