"""`edgenets sweep`: which model to ship on a device budget (thin wrapper over edgenets.sweep.run)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from edgenets.bench import DEFAULT_MIN_SECONDS, DEFAULT_ROUNDS, DEFAULT_RUNS, DEFAULT_WARMUP
from edgenets.commands.choices import Color, Device, OutputFormat, Runtime
from edgenets.commands.common import value as _value


def register(app: typer.Typer) -> None:
    app.command("sweep")(sweep)




SPACE = "Search space"
BUDGET = "Budget"
RAY = "Ray"
BENCH = "Latency measurement"


def sweep(
    space_file: Annotated[Optional[Path], typer.Option("--space", help="The search space as a JSON or YAML file (the keys are the options below, e.g. {\"models\": [...], \"alpha\": [0.5, 1]}); options given here override its keys.", rich_help_panel=SPACE)] = None,
    models: Annotated[Optional[str], typer.Option(help="Registered models to try, comma-separated.", rich_help_panel=SPACE)] = None,
    alpha: Annotated[Optional[str], typer.Option(help="Width multipliers to try, e.g. 0.25,0.5,1.0. [default: 1.0]", rich_help_panel=SPACE)] = None,
    precisions: Annotated[Optional[str], typer.Option(help="Precisions each trial is exported at (each is a candidate). [default: float32,int8]", rich_help_panel=SPACE)] = None,
    recipe: Annotated[Optional[str], typer.Option(help="Training recipes to try. [default: default]", rich_help_panel=SPACE)] = None,
    epochs: Annotated[Optional[str], typer.Option(help="Epoch counts to try (default: the recipe's).", rich_help_panel=SPACE)] = None,
    batch_size: Annotated[Optional[str], typer.Option(help="Batch sizes to try (default: the recipe's, fitted to the data).", rich_help_panel=SPACE)] = None,
    augment: Annotated[Optional[str], typer.Option(help="Augmentations to try: none, online, seed (default: the recipe's).", rich_help_panel=SPACE)] = None,
    seed: Annotated[Optional[str], typer.Option(help="Training seeds to try. [default: 0]", rich_help_panel=SPACE)] = None,
    dataset: Annotated[Optional[str], typer.Option(help="The data every trial trains and is measured on: mnist, fashion-mnist or a path. [default: mnist]", rich_help_panel=SPACE)] = None,
    limit: Annotated[Optional[int], typer.Option(help="Train each trial on N stratified images.", rich_help_panel=SPACE)] = None,
    val_split: Annotated[Optional[float], typer.Option(help="Validation fraction. [default: 0.1]", rich_help_panel=SPACE)] = None,
    preprocessing: Annotated[Optional[str], typer.Option(help="pixels/255 or mean-std. [default: pixels/255]", rich_help_panel=SPACE)] = None,
    color: Annotated[Optional[Color], typer.Option(help="Load images as rgb or grey.", rich_help_panel=SPACE)] = None,
    image_size: Annotated[Optional[str], typer.Option(help="Resize images to HxW.", rich_help_panel=SPACE)] = None,
    image_shape: Annotated[Optional[str], typer.Option(help="HxWxC of a CSV row.", rich_help_panel=SPACE)] = None,
    search: Annotated[Optional[str], typer.Option(help="grid (every combination) or random (--num-samples of them). [default: grid]", rich_help_panel=SPACE)] = None,
    num_samples: Annotated[Optional[int], typer.Option(help="With --search random: how many distinct trials to draw.", rich_help_panel=SPACE)] = None,
    sampling_seed: Annotated[Optional[int], typer.Option(help="With --search random: the draw's seed. [default: 0]", rich_help_panel=SPACE)] = None,
    max_latency_us: Annotated[Optional[float], typer.Option(help="Budget: p50 single-image latency on the target, in µs.", rich_help_panel=BUDGET)] = None,
    max_size_kb: Annotated[Optional[float], typer.Option(help="Budget: .tflite size in KiB.", rich_help_panel=BUDGET)] = None,
    address: Annotated[Optional[str], typer.Option(help="Run the trainings on an existing Ray cluster: auto (the one `ray start` left on this machine), HOST:PORT or ray://HOST:PORT. Default: a local Ray instance on 127.0.0.1.", rich_help_panel=RAY, show_default=False)] = None,
    cpus: Annotated[Optional[int], typer.Option(help="CPUs the local Ray instance may use (default: all).", rich_help_panel=RAY, show_default=False)] = None,
    cpus_per_trial: Annotated[Optional[int], typer.Option(help="CPUs each trial declares; TensorFlow in it uses that many threads. [default: 1]", rich_help_panel=RAY, show_default=False)] = None,
    max_concurrent: Annotated[Optional[int], typer.Option(help="At most N trials at once (default: as many as the CPUs allow).", rich_help_panel=RAY, show_default=False)] = None,
    early_stop: Annotated[Optional[str], typer.Option(help="none, or asha: stop trainings whose validation accuracy trails after an epoch (they are not exported). [default: none]", rich_help_panel=RAY, show_default=False)] = None,
    threads: Annotated[Optional[int], typer.Option(help="Interpreter threads for the latency measurement. [default: 1]", rich_help_panel=BENCH, show_default=False)] = None,
    rounds: Annotated[Optional[int], typer.Option(help=f"Interleaved timing rounds. [default: {DEFAULT_ROUNDS}]", rich_help_panel=BENCH, show_default=False)] = None,
    runs: Annotated[Optional[int], typer.Option(help=f"Timed invokes per candidate at least. [default: {DEFAULT_RUNS}]", rich_help_panel=BENCH, show_default=False)] = None,
    warmup: Annotated[Optional[int], typer.Option(help=f"Untimed warm-up invokes. [default: {DEFAULT_WARMUP}]", rich_help_panel=BENCH, show_default=False)] = None,
    min_seconds: Annotated[Optional[float], typer.Option(help=f"Time each candidate for at least this long. [default: {DEFAULT_MIN_SECONDS:g}]", rich_help_panel=BENCH, show_default=False)] = None,
    bench_limit: Annotated[Optional[int], typer.Option(help="Measure accuracy on a stratified subset of N test images (default: all).", rich_help_panel=BENCH, show_default=False)] = None,
    runtime: Annotated[Optional[Runtime], typer.Option(help="auto tries ai-edge-litert, tflite-runtime, then tensorflow. [default: auto]", rich_help_panel=BENCH, show_default=False)] = None,
    device: Annotated[Optional[Device], typer.Option(help="cpu or cpu-ref. [default: cpu]", rich_help_panel=BENCH, show_default=False)] = None,
    remote: Annotated[Optional[str], typer.Option(help="Measure on this board over SSH (HOST, USER@HOST[:PORT]) instead of here; it needs `edgenets board setup` (docs/device.md).", rich_help_panel=BENCH, show_default=False)] = None,
    remote_venv: Annotated[Optional[str], typer.Option(help="With --remote: the board's venv.", rich_help_panel=BENCH, show_default=False)] = None,
    ssh_config: Annotated[Optional[Path], typer.Option(help="With --remote: an ssh_config file.", rich_help_panel=BENCH, show_default=False)] = None,
    out: Annotated[Optional[Path], typer.Option(help="The sweep directory (trials, results, plot). [default: sweep]", show_default=False)] = None,
    resume: Annotated[Optional[Path], typer.Option("--resume", help="Finish the sweep in SWEEP_DIR: trials already done are not run again; the budget and the latency measurement may change.", show_default=False)] = None,
    force: Annotated[bool, typer.Option("--force", help="Delete the sweep in --out and start again.")] = False,
    rebench: Annotated[bool, typer.Option("--rebench", help="With --resume: measure the latencies again even if bench.json has them.")] = False,
    fmt: Annotated[OutputFormat, typer.Option("--format", help="What to print: the table, or the results JSON.")] = OutputFormat.table,
) -> None:
    """Find the best model for a device budget: train and export every trial on Ray Tune, then measure all
    candidates in one interleaved bench run and print the Pareto front of accuracy vs latency (and size),
    what fits the budget, and the recommendation. Results: OUT/sweep.json, sweep.md, front.png."""
    from edgenets.errors import InputError
    from edgenets.sweep.front import Budget
    from edgenets.sweep.run import BenchSettings, RaySettings, plan_sweep, sweep_run
    from edgenets.sweep.space import build_space, read_space_file

    given = {"models": models, "alpha": alpha, "precisions": precisions, "recipe": recipe, "epochs": epochs,
             "batch_size": batch_size, "augment": augment, "seed": seed, "dataset": dataset, "limit": limit,
             "val_split": val_split, "preprocessing": preprocessing, "color": _value(color), "image_size": image_size,
             "image_shape": image_shape, "search": search, "num_samples": num_samples, "sampling_seed": sampling_seed}
    given = {k: v for k, v in given.items() if v is not None}
    fmt = _value(fmt)
    if fmt not in ("table", "json"):
        raise InputError(f"--format must be table or json for a sweep. Received: {fmt!r}")
    if rebench and resume is None:
        raise InputError("--rebench needs --resume (a new sweep measures anyway)")
    if resume is not None and out is not None and Path(out).resolve() != Path(resume).resolve():
        raise InputError(f"--out {out}: --resume {resume} finishes the sweep where it is; leave out --out")
    out = resume if resume is not None else (out or Path("sweep"))
    space = None
    if space_file is not None:
        from_file = read_space_file(space_file)
        # the file's own values first, their errors naming the file (the models may come from the command line)
        build_space({"models": given.get("models"), **from_file}, source=str(space_file))
        space = build_space({**from_file, **given})  # then the options given here, their errors naming them
    elif given:
        space = build_space(given)
    budget_given = [k for k, v in (("max_latency_us", max_latency_us), ("max_size_kb", max_size_kb)) if v is not None]
    budget = Budget(max_latency_us=max_latency_us, max_size_kb=max_size_kb)
    bench_values = {"threads": threads, "rounds": rounds, "runs": runs, "warmup": warmup, "min_seconds": min_seconds,
                    "limit": bench_limit, "runtime": _value(runtime), "device": _value(device), "remote": remote,
                    "remote_venv": remote_venv, "ssh_config": None if ssh_config is None else str(ssh_config)}
    bench_given = [k for k, v in bench_values.items() if v is not None]
    bench = BenchSettings(**{k: v for k, v in bench_values.items() if v is not None})
    ray_values = {"cpus_per_trial": cpus_per_trial, "max_concurrent": max_concurrent, "scheduler": early_stop}
    ray_given = [k for k, v in ray_values.items() if v is not None]
    ray = RaySettings(address=address, cpus=cpus, **{k: v for k, v in ray_values.items() if v is not None})
    plan = plan_sweep(space, out=out, budget=budget, ray=ray, bench=bench, resume=resume is not None, force=force,
                      rebench=rebench, bench_given=bench_given, ray_given=ray_given, budget_given=budget_given)
    doc = sweep_run(plan, force=force, log=lambda line: typer.echo(line, err=True))
    _print(doc, fmt, plan.out)
    from edgenets.errors import EdgenetsError

    failed = [t for t in doc["trials"] if t["status"] == "failed"]
    if failed:  # as bench does: everything printed and written first, then exit 1
        raise EdgenetsError(f"{len(failed)} of {len(doc['trials'])} trial(s) failed; first: {failed[0]['name']}: "
                            f"{failed[0]['error']} (its log: {plan.out / 'trials' / (failed[0]['name'] + '.log')})")
    unmeasured = [c for c in doc["candidates"] if c.get("trial_status") == "done" and c.get("error")]
    if unmeasured:
        c = unmeasured[0]
        raise EdgenetsError(f"{len(unmeasured)} candidate(s) could not be measured; first: {c['tflite']}: {c['error']}")


def _print(doc: dict, fmt: str, out: Path) -> None:
    import json

    from edgenets.commands.common import print_table
    from edgenets.sweep.render import HEADERS, table_rows, where_measured

    if fmt == "json":
        typer.echo(json.dumps(doc, indent=2))
        return
    typer.echo(f"\nmeasured on: {where_measured(doc)}")
    print_table(table_rows(doc), HEADERS)
    typer.echo("")
    typer.echo(doc["decision"]["summary"])
    rec = doc["decision"].get("recommended")
    if rec:
        typer.echo(f"ship: {rec['tflite']} (run directory {rec['run_dir']})")
    typer.echo(f"results: {out / 'sweep.json'}, {out / 'sweep.md'}, {out / 'front.png'}", err=True)
