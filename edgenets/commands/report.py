"""`edgenets report`: the study as Markdown, HTML and plots."""

from __future__ import annotations

import shlex
import sys
from pathlib import Path
from typing import Annotated, Optional

import typer


def register(app: typer.Typer) -> None:
    app.command("report")(report)


def report(
    runs: Annotated[Optional[list[Path]], typer.Argument(help="Run directories written by `edgenets train` (and export). With --sweep: default its finished trials.", show_default=False)] = None,
    bench: Annotated[Optional[list[Path]], typer.Option("--bench", help="Results JSON from `edgenets bench` (repeatable).")] = None,
    sweep: Annotated[Optional[Path], typer.Option("--sweep", help="A sweep directory (or its sweep.json) from `edgenets sweep`: its Pareto front, budget and recommendation come first.", show_default=False)] = None,
    out: Annotated[Path, typer.Option("--out", help="Folder for index.md, index.html and the PNG plots.")] = Path("report"),
) -> None:
    """Build the study report: the answer first (float32 vs int8, accuracy vs latency, on which CPU), then evaluation,
    efficiency, training and the reference study beside ours; the layer tables last, collapsed."""
    from edgenets.report import build_report

    command = "edgenets " + " ".join(shlex.quote(a) for a in sys.argv[1:]) if sys.argv[1:2] == ["report"] else ""
    from edgenets.errors import InputError

    if not runs and sweep is None:
        raise InputError("give run directories (RUNS...) or --sweep SWEEP_DIR")
    paths = build_report(runs or [], bench or [], out, command=command, sweep=sweep)
    typer.echo(f"report: {paths['markdown']}, {paths['html']} and {len(paths['images'])} plots in {out}")
