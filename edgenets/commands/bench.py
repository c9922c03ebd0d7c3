"""`edgenets bench` and `edgenets compare`: the device side.

They import TensorFlow only when it is the runtime: `--runtime tensorflow`, or `auto` on a machine
with neither ai-edge-litert nor tflite-runtime."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from edgenets.bench import DEFAULT_MIN_SECONDS, DEFAULT_ROUNDS, DEFAULT_RUNS, DEFAULT_WARMUP
from edgenets.commands.choices import Color, Device, OutputFormat, Runtime
from edgenets.commands.common import value as _value
from edgenets.remote import DEFAULT_VENV


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
    device: Annotated[Device, typer.Option(help="cpu: the runtime's default CPU path (XNNPACK); cpu-ref: builtin kernels without the default delegate.")] = Device.cpu,
    delegate: Annotated[Optional[str], typer.Option(help="Path of an external delegate library (GPU, Edge TPU, NPU).")] = None,
    threads: Annotated[str, typer.Option(help="Thread counts to sweep, comma-separated: one row per (model, threads).")] = "1",
    runs: Annotated[int, typer.Option(help="Timed invokes at least.")] = DEFAULT_RUNS,
    warmup: Annotated[int, typer.Option(help="Untimed warm-up invokes after the first one.")] = DEFAULT_WARMUP,
    min_seconds: Annotated[float, typer.Option(help="Time the steady state for at least this long.")] = DEFAULT_MIN_SECONDS,
    rounds: Annotated[int, typer.Option(help="Split each row's timing into N rounds, interleaved across all rows "
                                             "(same total budget), so machine drift falls on every model alike.")] = DEFAULT_ROUNDS,
    dataset: Annotated[str, typer.Option(help="mnist, fashion-mnist or a path (test split; all of it if it has none). "
                                               "Its images must have the model's input size (the results say it).")] = "mnist",
    color: Annotated[Optional[Color], typer.Option(help="Load --dataset's images as rgb or grey (default: as they are), "
                                                        "as the model was trained.", show_default=False)] = None,
    image_size: Annotated[Optional[str], typer.Option(help="Resize --dataset's images to HxW (e.g. 32x32), as the model "
                                                           "was trained.", show_default=False)] = None,
    image_shape: Annotated[Optional[str], typer.Option(help="HxWxC of a CSV --dataset whose width is not a square grey "
                                                            "image (e.g. 32x32x3).", show_default=False)] = None,
    limit: Annotated[Optional[int], typer.Option(help="Evaluate on a stratified subset of N images.")] = None,
    runtime: Annotated[Runtime, typer.Option(help="auto tries ai-edge-litert, tflite-runtime, then tensorflow.")] = Runtime.auto,
    fmt: Annotated[OutputFormat, typer.Option("--format", help="What to print.")] = OutputFormat.table,
    output: Annotated[Optional[Path], typer.Option(help="Also write the results here (.json, .csv or .md by suffix).")] = None,
    per_class: Annotated[bool, typer.Option("--per-class", help="Add the per-class precision/recall/F1 table.")] = False,
    profile: Annotated[bool, typer.Option("--profile", help="Also time every node (operator) of each model, after the "
                                          "latency rounds: per-node and per-op-type tables, float32 beside int8, checked "
                                          "against each node timed alone (docs/bench.md). A few seconds per row.")] = False,
    remote: Annotated[Optional[list[str]], typer.Option(
        "--remote", help="Bench on this board over SSH instead of here: HOST, USER@HOST or USER@HOST:PORT (or an "
                         "~/.ssh/config alias); repeat for several boards, benched in parallel. Prints the compare "
                         "table; --output writes it, and each board's results go to <output stem>.<host>.json.",
        show_default=False)] = None,
    remote_venv: Annotated[Optional[str], typer.Option(
        help=f"With --remote: the venv on the board that runs edgenets (default {DEFAULT_VENV}).", show_default=False)] = None,
    ssh_config: Annotated[Optional[Path], typer.Option(help="With --remote: an ssh_config file (ssh -F).")] = None,
    results_dir: Annotated[Optional[Path], typer.Option(
        help="With --remote: write each board's results here as <host>.json (default: beside --output, else "
             "./bench.<host>.json).")] = None,
    setup: Annotated[bool, typer.Option("--setup", help="With --remote: run `edgenets board setup` on each board first.")] = False,
    wheel: Annotated[Optional[Path], typer.Option(help="With --setup: the edgenets wheel to install (default: built "
                                                       "from this source checkout).")] = None,
    wheelhouse: Annotated[Optional[Path], typer.Option(help="With --setup: dependency wheels to push and install "
                                                            "offline (pip --no-index).")] = None,
    system_site_packages: Annotated[bool, typer.Option("--system-site-packages", help="With --setup: a new venv sees "
                                                       "Debian's packages (32-bit Pi OS numpy).")] = False,
    remote_python: Annotated[Optional[str], typer.Option(help="With --setup: the board's Python that creates the venv "
                                                              "(default python3).", show_default=False)] = None,
) -> None:
    """Measure accuracy, latency, size and memory of .tflite models with the LiteRT interpreter.

    A model that cannot be loaded or run becomes a row with status 'error'; the others still run.
    Exit code 1 if any row failed (after printing and writing everything).
    With --remote the bench runs on each board over SSH (docs/device.md) and a board that fails is one line
    naming it; exit code 1 if any board failed (after printing and writing what the others measured).
    """
    from edgenets.bench.render import check_format, check_output, render_bench
    from edgenets.bench.runner import failed, run_bench
    from edgenets.errors import EdgenetsError, InputError

    device, runtime, fmt = _value(device), _value(runtime), _value(fmt)
    check_format(fmt)
    check_output(output)
    # passed to load_dataset only when given, so a data set loads exactly as it did before these options
    dataset_options = {k: v for k, v in (("color", _value(color)), ("image_size", image_size),
                                         ("image_shape", image_shape)) if v is not None}
    if remote:
        return _bench_remote(models, remote, device=device, delegate=delegate, threads=threads, runs=runs, warmup=warmup,
                             min_seconds=min_seconds, rounds=rounds, dataset=dataset, dataset_options=dataset_options,
                             limit=limit, runtime=runtime,
                             fmt=fmt, output=output, per_class=per_class, profile=profile, venv=remote_venv or DEFAULT_VENV,
                             ssh_config=ssh_config, results_dir=results_dir, setup=setup, wheel=wheel,
                             wheelhouse=wheelhouse, system_site_packages=system_site_packages,
                             remote_python=remote_python)
    for flag, value in (("--remote-venv", remote_venv), ("--ssh-config", ssh_config), ("--results-dir", results_dir),
                        ("--setup", setup or None), ("--wheel", wheel), ("--wheelhouse", wheelhouse),
                        ("--system-site-packages", system_site_packages or None), ("--remote-python", remote_python)):
        if value is not None:
            raise InputError(f"{flag} needs --remote HOST (it is about benching a board over SSH)")
    doc = run_bench(models, device=device, delegate=delegate, threads=threads, runs=runs, warmup=warmup,
                    min_seconds=min_seconds, rounds=rounds, dataset=dataset, limit=limit, runtime=runtime,
                    profile=profile, log=lambda line: typer.echo(line, err=True), dataset_options=dataset_options)
    _emit(render_bench(doc, fmt, per_class=per_class), output, lambda f: render_bench(doc, f, per_class=per_class))
    bad = failed(doc)
    if bad:
        raise EdgenetsError(f"{len(bad)} of {len(doc['results'])} rows failed; first: {bad[0]['path']}: {bad[0]['error']}")


def _bench_remote(models: list[Path], remote: list[str], *, device: str, delegate: Optional[str], threads: str, runs: int,
                  warmup: int, min_seconds: float, rounds: int, dataset: str, dataset_options: dict, limit: Optional[int],
                  runtime: str, fmt: str,
                  output: Optional[Path], per_class: bool, profile: bool, venv: str, ssh_config: Optional[Path],
                  results_dir: Optional[Path], setup: bool, wheel: Optional[Path], wheelhouse: Optional[Path],
                  system_site_packages: bool, remote_python: Optional[str]) -> None:
    """`bench --remote`: every option checked here before any SSH; then the boards, the files, the table."""
    import contextlib

    from edgenets.bench.render import render_compare
    from edgenets.bench.runner import parse_threads, validate_options
    from edgenets.bench.runtime import RUNTIME_CHOICES
    from edgenets.errors import EdgenetsError, InputError
    from edgenets.remote import fleet, ssh
    from edgenets.remote.setup import check_python, check_wheel, check_wheelhouse, setup_request

    hosts = ssh.parse_hosts(remote)
    if not setup:
        for flag, value in (("--wheel", wheel), ("--wheelhouse", wheelhouse), ("--remote-python", remote_python),
                            ("--system-site-packages", system_site_packages or None)):
            if value is not None:
                raise InputError(f"{flag} needs --setup (it is about installing edgenets on the board)")
    else:
        if wheel is not None:
            check_wheel(wheel)
        check_wheelhouse(wheelhouse)
        check_python(remote_python or "python3")
    if not venv.strip():
        raise InputError("--remote-venv: empty path")
    ssh.check_ssh_config(ssh_config)
    parse_threads(threads)
    validate_options(device=device, runs=runs, warmup=warmup, min_seconds=min_seconds, limit=limit, rounds=rounds)
    if runtime not in RUNTIME_CHOICES:
        raise InputError(f"--runtime must be one of {', '.join(RUNTIME_CHOICES)}. Received: {runtime!r}")
    if not models:
        raise InputError("give at least one MODEL.tflite")
    fleet.check_destinations(hosts, output, results_dir)
    ssh.ssh_executable()
    options = fleet.BenchOptions(device=device, delegate=delegate, threads=threads, runs=runs, warmup=warmup,
                                 min_seconds=min_seconds, rounds=rounds, runtime=runtime, per_class=per_class,
                                 profile=profile)
    source = dataset
    if dataset_options:  # the board gets the images as loaded here, so it needs none of the options
        from edgenets.data import load_dataset

        source = load_dataset(dataset, quiet=True, **dataset_options)
    upload = fleet.prepare_upload(models, source, limit)

    def log(line: str) -> None:
        typer.echo(line, err=True)

    log(f"sending {len(models)} model(s) and {upload.dataset} ({fleet.human_size(upload.size)}) to "
        f"{len(hosts)} board(s): {', '.join(h.spec for h in hosts)}")
    prepared = (setup_request(wheel, wheelhouse, system_site_packages=system_site_packages,
                              python=remote_python or "python3", log=log) if setup else contextlib.nullcontext())
    with prepared as req:
        runs_ = fleet.bench_fleet(hosts, upload, options, venv=venv, ssh_config=ssh_config, setup=req, log=log)
    for r in runs_:
        for note in r.notes:
            log(note)
    docs = fleet.write_host_results(runs_, output, results_dir, log=log)
    bad = [r for r in runs_ if r.error]
    if docs:  # the terminal gets the failures on stderr, below; the written file keeps them too
        _emit(render_compare(docs, fmt), output, lambda f: fleet.with_failures(render_compare(docs, f), f, bad))
    if len(runs_) == 1 and bad:
        raise EdgenetsError(f"{bad[0].host.spec}: {bad[0].error}")
    for r in bad:
        typer.secho(f"{r.host.spec}: FAILED: {r.error}", fg=typer.colors.RED, err=True)
    if bad:
        raise EdgenetsError(f"{len(bad)} of {len(runs_)} boards failed: {', '.join(r.host.spec for r in bad)}")


def compare(
    files: Annotated[list[Path], typer.Argument(help="Results JSON files from `edgenets bench --output`, e.g. results/*.json.", show_default=False)],
    fmt: Annotated[OutputFormat, typer.Option("--format", help="What to print.")] = OutputFormat.table,
    output: Annotated[Optional[Path], typer.Option(help="Also write the merged table here (.json, .csv or .md by suffix).")] = None,
) -> None:
    """Merge results from several machines into one table: rows (model, precision, threads), a column group per device."""
    from edgenets.bench.render import check_format, check_output, render_compare
    from edgenets.bench.results import load

    fmt = _value(fmt)
    check_format(fmt)
    check_output(output)
    docs = [(str(f), load(f)) for f in files]
    _emit(render_compare(docs, fmt), output, lambda f: render_compare(docs, f))
