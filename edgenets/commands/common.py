"""Shared pieces for CLI commands: option types, table printing."""

from __future__ import annotations

from typing import Any, Sequence

import typer


def print_table(rows: Sequence[Sequence[Any]], headers: Sequence[str], fmt: str = "simple") -> None:
    from tabulate import tabulate

    typer.echo(tabulate(rows, headers=headers, tablefmt=fmt, floatfmt=".4g"))
