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

#: A path a user got wrong: one line each (the other OSErrors are not the user's to fix and stay tracebacks).
PATH_ERRORS = (
    (FileNotFoundError, "no such file: {}"),
    (PermissionError, "permission denied: {}"),
    (IsADirectoryError, "{} is a folder; give a file"),
    (NotADirectoryError, "{}: a file stands where a folder is needed"),
    (FileExistsError, "{} is a file; give a folder"),
)

COMMAND_MODULES = (
    "scrape", "analyze", "models", "market", "export", "report", "imports", "db", "pipeline",
)


def _show_version(value: bool) -> None:
    if value:
        from crowdpulse import __version__

        typer.echo(f"crowdpulse {__version__}")
        raise typer.Exit()


def _flags_take_no_value() -> None:
    """Show no type for a flag in --help: typer shows ``--quiet <bool>`` as if the flag took a value."""
    from typer.core import TyperOption

    shown = TyperOption.display_type_rich

    def display_type_rich(self, ctx):  # noqa: ANN001, ANN202 - typer's own signature
        return None if self.is_flag and self.metavar is None else shown(self, ctx)

    TyperOption.display_type_rich = display_type_rich


_flags_take_no_value()


@app.callback()
def _root(
    verbose: bool = typer.Option(False, "--verbose", "-v", help="Log what each step does."),
    version: bool = typer.Option(False, "--version", help="Print the version and exit.", is_eager=True,
                                 callback=_show_version),
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
    click = _click_exceptions()
    try:
        code = app(standalone_mode=False)
    except click.NoArgsIsHelpError as exc:  # a bare group: its help, as click shows it
        exc.show()
        sys.exit(2)
    except click.UsageError as exc:  # a bad option or argument: one line, not click's box
        where = exc.ctx.command_path if exc.ctx else "crowdpulse"
        typer.echo(f"error: {exc.format_message()} (see {where} --help)", err=True)
        sys.exit(2)
    except user_errors() as exc:
        typer.echo(f"error: {exc}", err=True)
        sys.exit(2)
    except OSError as exc:
        why = next((say for kind, say in PATH_ERRORS if isinstance(exc, kind)), None)
        if why is None:
            raise
        typer.echo(f"error: {why.format(exc.filename or exc)}", err=True)
        sys.exit(2)
    except (KeyboardInterrupt, typer.Abort):
        code = 130
    if code == 130:  # Ctrl-C: typer returns 130 from inside a command; outside one it arrives as itself
        typer.echo("interrupted: everything committed so far is kept", err=True)
    sys.exit(code if isinstance(code, int) else 0)


def _click_exceptions():
    """click's exceptions module: typer's vendored copy where it has one (typer >= 0.2x), else click's."""
    try:
        from typer._click import exceptions
    except ImportError:  # older typer runs on click itself
        from click import exceptions
    return exceptions


if __name__ == "__main__":
    main()
