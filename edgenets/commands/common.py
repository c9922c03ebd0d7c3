"""Shared pieces for CLI commands: option types, table printing."""

from __future__ import annotations

from typing import Any, Sequence

import typer


def value(choice: Any) -> Any:
    """An Enum option's plain string (what the library, the results and `bench --remote`'s board argv take);
    anything else as it is."""
    from enum import Enum

    return choice.value if isinstance(choice, Enum) else choice


def print_table(rows: Sequence[Sequence[Any]], headers: Sequence[str], fmt: str = "simple") -> None:
    from tabulate import tabulate

    typer.echo(tabulate(rows, headers=headers, tablefmt=fmt, floatfmt=".4g"))
