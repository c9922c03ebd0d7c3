"""The ``edgenets`` command line: a Typer app whose commands are thin wrappers over the library.

Each command group lives in ``edgenets/commands/<name>.py`` and exposes ``register(app)``.
None of them imports TensorFlow at module level, so ``edgenets --help`` and the device-side
commands stay light. Errors are handled once, in :func:`main`.
"""

from __future__ import annotations

import importlib
import sys
from typing import Optional

import typer

from edgenets import __version__
from edgenets._entry import sigterm_as_interrupt
from edgenets._quiet import configure as quiet_third_party
from edgenets._quiet import debug_enabled
from edgenets.errors import EdgenetsError

app = typer.Typer(
    name="edgenets",
    help="Train small CNNs, quantise them to TFLite, and benchmark float vs int8 on CPUs and edge boards.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    context_settings={"help_option_names": ["-h", "--help"]},
    rich_markup_mode=None,
)

# Order here is the order in `edgenets --help`.
COMMAND_MODULES = (
    "edgenets.commands.data",
    "edgenets.commands.models",
    "edgenets.commands.train",
    "edgenets.commands.export",
    "edgenets.commands.bench",
    "edgenets.commands.sweep",
    "edgenets.commands.predict",
    "edgenets.commands.board",
    "edgenets.commands.report",
)


def _version(value: bool) -> None:
    if value:
        typer.echo(f"edgenets {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: Optional[bool] = typer.Option(
        None, "--version", callback=_version, is_eager=True, help="Show the version and exit."
    ),
) -> None:
    """Train small CNNs, quantise them to TFLite, and benchmark float vs int8 on CPUs and edge boards."""


for _name in COMMAND_MODULES:
    importlib.import_module(_name).register(app)


def error(message: str) -> None:
    typer.secho(f"error: {message}", fg=typer.colors.RED, err=True)


def main(argv: Optional[list[str]] = None) -> None:
    """Console entry point: one red line and an exit code for every failure.

    Typer ships its own copy of click in recent releases and uses the real click in older
    ones (as on many boards), so click's exceptions are recognised by name, not by class.
    Third-party start-up noise (TensorFlow's C++ log, LiteRT's delegate INFO line) is kept off
    stderr unless EDGENETS_DEBUG=1 (edgenets._quiet).
    """
    sigterm_as_interrupt()
    quiet_third_party()
    try:
        rv = app(args=argv, prog_name="edgenets", standalone_mode=False)
    except EdgenetsError as exc:
        if debug_enabled():
            raise
        error(str(exc))
        sys.exit(exc.exit_code)
    except KeyboardInterrupt:
        error("interrupted")
        sys.exit(130)
    except Exception as exc:
        kind = type(exc).__name__
        if kind == "Exit" and getattr(exc, "exit_code", 0) != 130:
            sys.exit(getattr(exc, "exit_code", 0))
        if kind in ("Abort", "Exit"):  # typer turns Ctrl-C into Exit(130)
            error("interrupted")
            sys.exit(130)
        if kind == "NoArgsIsHelpError":  # bare `edgenets` / `edgenets data`: show the help
            typer.echo(exc.format_message())  # type: ignore[attr-defined]
            sys.exit(0)
        if debug_enabled():
            raise
        if hasattr(exc, "format_message") and hasattr(exc, "exit_code"):  # click's usage errors: exit 2
            ctx = getattr(exc, "ctx", None)
            where = f"edgenets {ctx.command_path.split(' ', 1)[1]}" if ctx and " " in ctx.command_path else "edgenets"
            error(f"{exc.format_message()} (see '{where} --help')")
            sys.exit(exc.exit_code)
        error(f"unexpected {kind}: {exc} (set EDGENETS_DEBUG=1 for the traceback)")
        sys.exit(1)
    if rv == 130:  # typer turned Ctrl-C / SIGTERM into a return code in non-standalone mode
        error("interrupted")
    sys.exit(rv if isinstance(rv, int) else 0)
