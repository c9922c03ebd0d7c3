"""`edgenets bench` and `edgenets compare`: the device side.

They import TensorFlow only when it is the runtime: `--runtime tensorflow`, or `auto` on a machine
with neither ai-edge-litert nor tflite-runtime."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from edgenets.bench import DEFAULT_MIN_SECONDS, DEFAULT_ROUNDS, DEFAULT_RUNS, DEFAULT_WARMUP


def register(app: typer.Typer) -> None:
    app.command("bench")(bench)
    app.command("compare")(compare)


def _emit(text: str, output: Optional[Path], render) -> None:
    from edgenets._io import write_text
    from edgenets.bench.render import format_for_output

    typer.echo(text, nl=False)
    if output is not None:
        write_text(output, render(format_for_output(str(output))))
        typer.echo(f"wrote {output}", err=True)


def bench(
    models: Annotated[list[Path], typer.Argument(help="One or more .tflite files (e.g. runs/NAME/export/*.tflite).", show_default=False)],
    device: Annotated[str, typer.Option(help="cpu: the runtime's default CPU path (XNNPACK); cpu-ref: builtin kernels without the default delegate.")] = "cpu",
    delegate: Annotated[Optional[str], typer.Option(help="Path of an external delegate library (GPU, Edge TPU, NPU).")] = None,
    threads: Annotated[str, typer.Option(help="Thread counts to sweep, comma-separated: one row per (model, threads).")] = "1",
    runs: Annotated[int, typer.Option(help="Timed invokes at least.")] = DEFAULT_RUNS,
    warmup: Annotated[int, typer.Option(help="Untimed warm-up invokes after the first one.")] = DEFAULT_WARMUP,
    min_seconds: Annotated[float, typer.Option(help="Time the steady state for at least this long.")] = DEFAULT_MIN_SECONDS,
    rounds: Annotated[int, typer.Option(help="Split each row's timing into N rounds, interleaved across all rows "
                                             "(same total budget), so machine drift falls on every model alike.")] = DEFAULT_ROUNDS,
    dataset: Annotated[str, typer.Option(help="mnist, fashion-mnist or a path (test split; all of it if it has none).")] = "mnist",
    limit: Annotated[Optional[int], typer.Option(help="Evaluate on a stratified subset of N images.")] = None,
    runtime: Annotated[str, typer.Option(help="auto (ai-edge-litert, tflite-runtime, tensorflow), litert, tflite-runtime or tensorflow.")] = "auto",
    fmt: Annotated[str, typer.Option("--format", help="What to print: table, json, csv or md.")] = "table",
    output: Annotated[Optional[Path], typer.Option(help="Also write the results here (.json, .csv or .md by suffix).")] = None,
    per_class: Annotated[bool, typer.Option("--per-class", help="Add the per-class precision/recall/F1 table.")] = False,
) -> None:
    """Measure accuracy, latency, size and memory of .tflite models with the LiteRT interpreter.

    A model that cannot be loaded or run becomes a row with status 'error'; the others still run.
    Exit code 1 if any row failed (after printing and writing everything).
    """
    from edgenets.bench.render import check_format, check_output, render_bench
    from edgenets.bench.runner import failed, run_bench
    from edgenets.errors import EdgenetsError

    check_format(fmt)
    check_output(output)
    doc = run_bench(models, device=device, delegate=delegate, threads=threads, runs=runs, warmup=warmup,
                    min_seconds=min_seconds, rounds=rounds, dataset=dataset, limit=limit, runtime=runtime,
                    log=lambda line: typer.echo(line, err=True))
    _emit(render_bench(doc, fmt, per_class=per_class), output, lambda f: render_bench(doc, f, per_class=per_class))
    bad = failed(doc)
    if bad:
        raise EdgenetsError(f"{len(bad)} of {len(doc['results'])} rows failed; first: {bad[0]['path']}: {bad[0]['error']}")


def compare(
    files: Annotated[list[Path], typer.Argument(help="Results JSON files from `edgenets bench --output`, e.g. results/*.json.", show_default=False)],
    fmt: Annotated[str, typer.Option("--format", help="What to print: table, json, csv or md.")] = "table",
    output: Annotated[Optional[Path], typer.Option(help="Also write the merged table here (.json, .csv or .md by suffix).")] = None,
) -> None:
    """Merge results from several machines into one table: rows (model, precision, threads), a column group per device."""
    from edgenets.bench.render import check_format, check_output, render_compare
    from edgenets.bench.results import load

    check_format(fmt)
    check_output(output)
    docs = [(str(f), load(f)) for f in files]
    _emit(render_compare(docs, fmt), output, lambda f: render_compare(docs, f))
