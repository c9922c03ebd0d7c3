"""``sweep_run``: which model to ship on a device budget -- trials on Ray Tune, latencies measured after.

The steps, each a function below, in the order ``sweep_run`` calls them:

1. :func:`plan_sweep` -- the space, budget and bench settings checked (or a resumed sweep's own read from
   ``SWEEP/space.json``); nothing is started or written before every argument is known good;
2. :func:`prepare_dir` -- ``SWEEP/space.json`` (a new sweep), so ``--resume`` knows what was asked;
3. :func:`train_trials` -- every trial trained and exported on Ray Tune (:mod:`edgenets.sweep.tuning`);
   Ray is shut down afterwards, so nothing of it runs while latencies are measured;
4. :func:`measure` -- all candidates (trial x precision) in one interleaved ``edgenets bench`` run on the
   target: this machine, or one board over SSH (``--remote``); ``SWEEP/bench.json``;
5. :func:`decide_sweep` -- the Pareto front, the budget, the recommendation (:mod:`edgenets.sweep.front`);
6. :func:`write_results` -- ``SWEEP/sweep.json`` (schema ``edgenets.sweep/1``), ``sweep.md`` and
   ``front.png``.

A sweep directory::

    SWEEP/space.json            what was asked (space, budget, Ray and bench settings)
    SWEEP/trials/NAME/          each trial's run directory (train + export/), ready to copy to a board
    SWEEP/trials/NAME.log       each trial's log
    SWEEP/tune/                 Ray Tune's experiment (what --resume restores)
    SWEEP/bench.json            the one bench run of every candidate (edgenets.bench/1)
    SWEEP/sweep.json, sweep.md, front.png
"""

from __future__ import annotations

import os
import shutil
import sys
import time
from dataclasses import asdict, dataclass, field, replace
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Callable, Optional, Sequence

from edgenets import _io
from edgenets.errors import EdgenetsError, InputError, MissingDependencyError, first_line
from edgenets.sweep.front import Budget, Candidate, Decision, decide
from edgenets.sweep.space import SearchSpace, Trial, build_space

Log = Callable[[str], None]
SCHEMA = "edgenets.sweep/1"
SPACE_FILE = "space.json"
RESULTS_FILE = "sweep.json"
BENCH_FILE = "bench.json"
TABLE_FILE = "sweep.md"
PLOT_FILE = "front.png"


class Interrupted(EdgenetsError):
    """The sweep was stopped (Ctrl-C, SIGTERM) with trials left; ``--resume`` finishes it."""

    exit_code = 130


@dataclass(frozen=True)
class BenchSettings:
    """How the candidates are measured: ``edgenets bench``'s options (one thread count)."""

    threads: int = 1
    rounds: int = 10
    runs: int = 200
    warmup: int = 20
    min_seconds: float = 2.0
    limit: Optional[int] = None  # evaluation images (default: the whole test split)
    runtime: str = "auto"
    device: str = "cpu"
    remote: Optional[str] = None  # HOST, USER@HOST[:PORT]: bench on that board over SSH
    remote_venv: Optional[str] = None
    ssh_config: Optional[str] = None


@dataclass(frozen=True)
class RaySettings:
    address: Optional[str] = None  # None: a local Ray instance on loopback
    cpus: Optional[int] = None  # local instance only: CPUs it may use (default: all)
    cpus_per_trial: int = 1
    max_concurrent: Optional[int] = None
    scheduler: str = "none"


@dataclass
class SweepPlan:
    space: SearchSpace
    budget: Budget
    out: Path
    ray: RaySettings
    bench: BenchSettings
    resume: bool = False
    rebench: bool = False
    trials: list[Trial] = field(default_factory=list)


# ------------------------------------------------------------------ 1. the plan

def _check_ray(ray: RaySettings) -> RaySettings:
    from edgenets.sweep.tuning import SCHEDULERS, parse_address

    for name, value in (("--cpus-per-trial", ray.cpus_per_trial), ("--cpus", ray.cpus),
                        ("--max-concurrent", ray.max_concurrent)):
        if value is not None and (isinstance(value, bool) or not isinstance(value, int) or value < 1):
            raise InputError(f"{name} must be a whole number >= 1. Received: {value!r}")
    if ray.scheduler not in SCHEDULERS:
        raise InputError(f"--early-stop must be one of {', '.join(SCHEDULERS)}. Received: {ray.scheduler!r}")
    if ray.address is not None:
        if not ray.address.strip():
            raise InputError("--address: empty (give auto, HOST:PORT or ray://HOST:PORT)")
        parse_address(ray.address)
        if ray.cpus is not None:
            raise InputError("--cpus is for the local Ray instance; a cluster has the CPUs its nodes declared")
    else:
        have = ray.cpus if ray.cpus is not None else (os.cpu_count() or 1)
        if have < ray.cpus_per_trial:
            said = "given to Ray (--cpus)" if ray.cpus is not None else "of this machine"
            raise InputError(f"--cpus-per-trial {ray.cpus_per_trial} is more than the {have} CPUs {said}")
    return ray


def _check_bench(bench: BenchSettings) -> BenchSettings:
    from edgenets.bench.runner import validate_options
    from edgenets.bench.runtime import DEVICES, RUNTIME_CHOICES

    if isinstance(bench.threads, bool) or not isinstance(bench.threads, int) or bench.threads < 1:
        raise InputError(f"--threads must be a whole number >= 1 (one thread count for every candidate). "
                         f"Received: {bench.threads!r}")
    validate_options(device=bench.device, runs=bench.runs, warmup=bench.warmup, min_seconds=bench.min_seconds,
                     limit=bench.limit, rounds=bench.rounds)
    if bench.runtime not in RUNTIME_CHOICES:
        raise InputError(f"--runtime must be one of {', '.join(RUNTIME_CHOICES)}. Received: {bench.runtime!r}")
    if bench.device not in DEVICES:
        raise InputError(f"--device must be one of {', '.join(DEVICES)}. Received: {bench.device!r}")
    if bench.remote is not None:
        from edgenets.remote import ssh

        ssh.parse_host(bench.remote)
        ssh.check_ssh_config(None if bench.ssh_config is None else Path(bench.ssh_config))
    else:
        for flag, value in (("--remote-venv", bench.remote_venv), ("--ssh-config", bench.ssh_config)):
            if value is not None:
                raise InputError(f"{flag} needs --remote HOST (it is about benching on a board over SSH)")
    return bench


def _absolute_data(space: SearchSpace) -> SearchSpace:
    """A data path made absolute (trials run in Ray's own working directories, on other nodes, and --resume may be
    run from elsewhere); names such as mnist stay names."""
    dataset = space.fixed["dataset"]
    if Path(dataset).exists() and not Path(dataset).is_absolute():
        return build_space({**space.as_dict(), "dataset": str(Path(dataset).resolve())})
    return space


def _saved(out: Path) -> dict:
    path = out / SPACE_FILE
    if not path.is_file():
        raise InputError(f"--resume {out}: not a sweep directory (no {SPACE_FILE})")
    import json

    try:
        saved = json.loads(path.read_text(encoding="utf-8"))
        if not isinstance(saved, dict) or saved.get("schema") != SCHEMA:
            got = saved.get("schema") if isinstance(saved, dict) else type(saved).__name__
            raise ValueError(f"schema {got!r}, expected {SCHEMA!r}")
        for key, kind in (("space", dict), ("budget", dict), ("bench", dict), ("ray", dict)):
            if not isinstance(saved.get(key), kind):
                raise ValueError(f"no {key!r} mapping")
        return saved
    except (OSError, ValueError) as exc:
        raise InputError(f"{path}: not a sweep's space file ({first_line(exc)})") from None


def _settings(cls, values: dict, path: Path):
    """BenchSettings / RaySettings / Budget from a saved mapping; an unknown key names the file."""
    try:
        return cls(**values)
    except TypeError as exc:
        raise InputError(f"{path}: {first_line(exc)}") from None


# the Ray settings Ray Tune saves with the experiment (a resumed sweep cannot change them); where it runs may
KEPT_RAY = ("cpus_per_trial", "max_concurrent", "scheduler")
RAY_FLAGS = {"cpus_per_trial": "--cpus-per-trial", "max_concurrent": "--max-concurrent", "scheduler": "--early-stop"}


def plan_sweep(space: Optional[SearchSpace], *, out: Path, budget: Optional[Budget] = None, ray: RaySettings = RaySettings(),
               bench: BenchSettings = BenchSettings(), resume: bool = False, force: bool = False,
               rebench: bool = False, bench_given: Sequence[str] = (), ray_given: Sequence[str] = (),
               budget_given: Sequence[str] = ()) -> SweepPlan:
    """Step 1: everything checked, nothing written. A new sweep needs ``space``; ``resume`` reads the sweep's
    own and refuses a different one. On resume, the saved budget, bench and Ray settings stay unless named in
    ``budget_given`` / ``bench_given`` / ``ray_given`` (only the address and --cpus of Ray may change: Ray
    Tune keeps the rest with the experiment)."""
    out = Path(out).resolve()  # every path in the results is absolute: report --sweep works from anywhere
    if out.exists() and not out.is_dir():
        raise InputError(f"--out {out}: a file, not a folder")
    if resume:
        if force:
            raise InputError("--force starts the sweep again; --resume finishes it: give one")
        saved = _saved(out)
        saved_space = build_space(saved["space"], source=str(out / SPACE_FILE))
        if space is not None and space.as_dict() != saved_space.as_dict():
            raise InputError(f"--resume {out}: a resumed sweep keeps its search space; leave out the space options "
                             f"(or start a new sweep with --out)")
        space = saved_space
        saved_budget = _settings(Budget, saved["budget"], out / SPACE_FILE)
        budget = replace(saved_budget, **{k: getattr(budget, k) for k in budget_given}) if budget else saved_budget
        kept = _settings(BenchSettings, saved["bench"], out / SPACE_FILE)
        bench = replace(kept, **{k: getattr(bench, k) for k in bench_given})
        kept_ray = _settings(RaySettings, saved["ray"], out / SPACE_FILE)
        for key in KEPT_RAY:
            if key in ray_given and getattr(ray, key) != getattr(kept_ray, key):
                raise InputError(f"{RAY_FLAGS[key]}: a resumed sweep keeps its Ray Tune settings "
                                 f"({getattr(kept_ray, key)!r}); received {getattr(ray, key)!r}")
        ray = replace(kept_ray, address=ray.address, cpus=ray.cpus)
    else:
        if space is None:
            raise InputError("give the search space (--models ..., or --space FILE), or --resume SWEEP_DIR")
        if out.exists() and any(out.iterdir()):
            if not force:
                raise InputError(f"{out}: exists (use `{resume_command(out)}` to finish that sweep, or --force to start again)")
            if not (out / SPACE_FILE).is_file():
                raise InputError(f"{out}: exists and is not a sweep directory (no {SPACE_FILE}); --force will not delete it")
        space = _absolute_data(space)
    ray = _check_ray(ray)
    bench = _check_bench(bench)
    from edgenets.sweep.tuning import check_reachable, import_ray, is_loopback

    check_reachable(ray.address)  # in seconds, before anything is written (Ray retries for minutes)
    if is_loopback(ray.address):
        import importlib.util

        if importlib.util.find_spec("tensorflow") is None:  # the trials train here (found, not imported: the
            raise MissingDependencyError('edgenets sweep trains here and needs TensorFlow: pip install '  # bench
                                         '"edgenets[train,sweep]"')  # runs in this process, without it)
    import_ray(ray.address)
    trials = space.trials()
    if not trials:
        raise InputError("the search space is empty")
    return SweepPlan(space, budget or Budget(), out, ray, bench, resume, rebench, trials)


# ------------------------------------------------------------------ 2. the directory

def prepare_dir(plan: SweepPlan, *, force: bool = False) -> None:
    """Step 2: a new sweep's folder and space.json (``--force``: the old sweep removed first)."""
    if plan.resume:
        _io.write_json(plan.out / SPACE_FILE, {**_saved(plan.out), "budget": plan.budget.as_dict(),
                                               "bench": asdict(plan.bench)})
        return
    if force and plan.out.exists():
        shutil.rmtree(plan.out)
    plan.out.mkdir(parents=True, exist_ok=True)
    _io.write_json(plan.out / SPACE_FILE, {
        "schema": SCHEMA, "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "space": plan.space.as_dict(), "budget": plan.budget.as_dict(), "ray": asdict(plan.ray),
        "bench": asdict(plan.bench), "trials": [t.as_dict() for t in plan.trials]})


# ------------------------------------------------------------------ 3. trainings on Ray

def train_trials(plan: SweepPlan, log: Log, *, force: bool = False):
    """Steps 2-3: connect to Ray and check the trials fit a node (nothing written yet), write the sweep's folder
    (:func:`prepare_dir`), run the trials on Ray Tune; then Ray is shut down (the local instance) or left (a
    cluster) before anything is timed. Ctrl-C / SIGTERM stop it gracefully (Tune saves its state) and raise
    :class:`Interrupted` with the resume command."""
    from edgenets.sweep import tuning

    cluster = tuning.connect(plan.ray.address, num_cpus=plan.ray.cpus)
    try:
        if cluster["max_node_cpus"] < plan.ray.cpus_per_trial:
            where = "this machine's Ray instance has" if plan.ray.address is None else "no node of the cluster has"
            raise InputError(f"--cpus-per-trial {plan.ray.cpus_per_trial}: {where} that many CPUs "
                             f"(at most {cluster['max_node_cpus']})")
        where = "a local Ray instance on 127.0.0.1" if plan.ray.address is None else f"the Ray cluster at {plan.ray.address}"
        concurrent = cluster["cpus"] // plan.ray.cpus_per_trial
        if plan.ray.max_concurrent:
            concurrent = min(concurrent, plan.ray.max_concurrent)
        prepare_dir(plan, force=force)
        log(f"{len(plan.trials)} trial(s) on {where}: {cluster['nodes']} node(s), {cluster['cpus']} CPUs, "
            f"{plan.ray.cpus_per_trial} per trial, up to {max(concurrent, 1)} at once"
            + (", ASHA early stopping" if plan.ray.scheduler == "asha" else ""))
        with _sigterm_as_sigint():
            result = tuning.run_trials(plan.trials, plan.out, cpus_per_trial=plan.ray.cpus_per_trial,
                                       max_concurrent=plan.ray.max_concurrent, scheduler=plan.ray.scheduler,
                                       resume=plan.resume, log=log)
    finally:
        tuning.disconnect()
    result.cluster = cluster
    if result.interrupted:
        done = sum(o.status in ("done", "stopped") for o in result.outcomes.values())
        raise Interrupted(f"interrupted: {done} of {len(plan.trials)} trial(s) finished, and are kept (so are the "
                          f"epochs of the one(s) in progress). Continue with: {resume_command(plan.out)}")
    return result


def resume_command(out: Path) -> str:
    import shlex

    return f"edgenets sweep --resume {shlex.quote(str(out))}"


class _sigterm_as_sigint:
    """Inside Tune, SIGTERM (a job scheduler, `kill`) stops the sweep the way Ctrl-C does: Tune's own
    graceful stop, which saves the experiment for --resume."""

    def __enter__(self):
        import signal

        self.previous = None
        try:
            self.previous = signal.signal(signal.SIGTERM, lambda *_: os.kill(os.getpid(), signal.SIGINT))
        except ValueError:  # not the main thread
            pass
        return self

    def __exit__(self, *exc):
        import signal

        if self.previous is not None:
            signal.signal(signal.SIGTERM, self.previous)
        return False


# ------------------------------------------------------------------ 4. latency, measured after

def _candidate_files(plan: SweepPlan, outcomes: dict) -> list[tuple[Trial, str, Path]]:
    from edgenets.sweep.trial import export_paths, run_dir

    files = []
    for trial in plan.trials:
        if outcomes[trial.id].status != "done":
            continue
        for precision, path in export_paths(run_dir(plan.out, trial), trial.precisions).items():
            files.append((trial, precision, path))
    return files


def _reusable(path: Path, files: Sequence[Path], bench: BenchSettings) -> Optional[dict]:
    """bench.json, when it measured exactly these files (by content) with these settings."""
    import hashlib
    import json

    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if not isinstance(doc, dict) or not isinstance(doc.get("results"), list) or doc.get("sweep_bench") != asdict(bench):
        return None
    measured = {r.get("path"): r.get("sha256") for r in doc["results"] if isinstance(r, dict)}
    for f in files:
        if measured.get(str(f)) != hashlib.sha256(f.read_bytes()).hexdigest():
            return None
    return doc if len(measured) == len(files) else None


def measure(plan: SweepPlan, files: Sequence[Path], log: Log) -> dict:
    """Step 4: every candidate in one interleaved bench run on the target; SWEEP/bench.json. A resumed sweep
    reuses bench.json when it measured exactly these files with these settings (``--rebench``: measure)."""
    from edgenets.bench.results import dumps

    path = plan.out / BENCH_FILE
    if not files:
        return {}
    if not plan.rebench:
        doc = _reusable(path, files, plan.bench)
        if doc is not None:
            log(f"latencies from {path} (the same {len(files)} files, the same settings; --rebench measures again)")
            return doc
    b = plan.bench
    target = f"board {b.remote} over SSH" if b.remote else "this machine"
    log(f"benchmarking {len(files)} candidate(s) on {target}: one interleaved run, {b.rounds} rounds, "
        f"{b.threads} thread(s); no training is running")
    started = time.perf_counter()
    dataset = plan.space.fixed["dataset"]  # a path is already absolute (plan_sweep)
    options = {k: plan.space.fixed[k] for k in ("color", "image_size", "image_shape") if plan.space.fixed.get(k) is not None}
    if b.remote:
        doc = _bench_remote(plan, files, dataset, options, log)
    else:
        from edgenets.bench.runner import run_bench

        doc = run_bench([str(f) for f in files], device=b.device, threads=[b.threads], runs=b.runs, warmup=b.warmup,
                        min_seconds=b.min_seconds, rounds=b.rounds, dataset=dataset, limit=b.limit, runtime=b.runtime,
                        dataset_options=options, log=log)
    doc["sweep_bench"] = asdict(b)
    _io.write_text(path, dumps(doc))
    log(f"benchmarked in {time.perf_counter() - started:.0f} s: {path}")
    return doc


def _bench_remote(plan: SweepPlan, files: Sequence[Path], dataset: str, options: dict, log: Log) -> dict:
    from edgenets.remote import DEFAULT_VENV, fleet, ssh

    b = plan.bench
    host = ssh.parse_host(b.remote)
    source: Any = dataset
    if options:
        from edgenets.data import load_dataset

        source = load_dataset(dataset, quiet=True, **options)
    upload = fleet.prepare_upload(list(files), source, b.limit)
    opts = fleet.BenchOptions(device=b.device, threads=str(b.threads), runs=b.runs, warmup=b.warmup,
                              min_seconds=b.min_seconds, rounds=b.rounds, runtime=b.runtime)
    runs = fleet.bench_fleet([host], upload, opts, venv=b.remote_venv or DEFAULT_VENV,
                             ssh_config=None if b.ssh_config is None else Path(b.ssh_config), log=log)
    for note in runs[0].notes:
        log(note)
    if runs[0].error or runs[0].doc is None:
        raise EdgenetsError(f"{host.spec}: {runs[0].error or 'no results'}")
    return runs[0].doc


# ------------------------------------------------------------------ 5. the decision

def candidates(plan: SweepPlan, outcomes: dict, bench_doc: dict) -> list[Candidate]:
    """One candidate per (trial, precision): the bench's accuracy, p50 and size, or why there is none."""
    from edgenets.sweep.trial import export_paths, run_dir

    rows = {r.get("path"): r for r in bench_doc.get("results", [])}
    out = []
    for trial in plan.trials:
        outcome = outcomes[trial.id]
        directory = run_dir(plan.out, trial)
        for precision, path in export_paths(directory, trial.precisions).items():
            extra = {"name": trial.name, "run_dir": str(directory), "tflite": str(path), "trial_status": outcome.status,
                     "val_accuracy": outcome.last.get("val_accuracy"), "node": outcome.node}
            base = dict(trial_id=trial.id, precision=precision, model=trial.model, alpha=trial.alpha, extra=extra)
            if outcome.status != "done":
                reason = outcome.error or outcome.status
                out.append(Candidate(accuracy=None, latency_us=None, size_bytes=None, error=reason, **base))
                continue
            row = rows.get(str(path))
            if row is None or row.get("status") != "ok":
                reason = "not benchmarked" if row is None else f"bench: {row.get('error')}"
                out.append(Candidate(accuracy=None, latency_us=None, size_bytes=None, error=reason, **base))
                continue
            out.append(Candidate(accuracy=float(row["metrics"]["accuracy"]), latency_us=float(row["latency"]["p50_us"]),
                                 size_bytes=int(row["size_bytes"]), **base))
    return out


def decide_sweep(plan: SweepPlan, cands: Sequence[Candidate]) -> Decision:
    """Step 5 (pure: edgenets.sweep.front)."""
    return decide(cands, plan.budget)


# ------------------------------------------------------------------ 6. results

def results_document(plan: SweepPlan, tune_run, bench_doc: dict, decision: Decision, cands: Sequence[Candidate],
                     seconds: dict) -> dict:
    from edgenets._meta import dist_version

    trials = []
    for trial in plan.trials:
        o = tune_run.outcomes[trial.id]
        trials.append({**trial.as_dict(), "status": o.status, "error": o.error, "node": o.node,
                       "val_accuracy": o.last.get("val_accuracy"), "keras_test_accuracy": o.last.get("test_accuracy"),
                       "epochs_reported": o.last.get("epoch")})
    environment = dict(bench_doc.get("environment", {}))
    return {"schema": SCHEMA, "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
            "edgenets": dist_version("edgenets"), "environment": environment,
            "space": plan.space.as_dict(), "budget": plan.budget.as_dict(), "bench": asdict(plan.bench),
            "ray": {**asdict(plan.ray), **tune_run.cluster}, "seconds": seconds, "trials": trials,
            "candidates": [c.as_dict() for c in cands], "decision": decision.as_dict()}


def write_results(plan: SweepPlan, doc: dict, table_markdown: str) -> dict:
    from edgenets.sweep.render import front_plot

    paths = {"results": _io.write_json(plan.out / RESULTS_FILE, doc),
             "table": _io.write_text(plan.out / TABLE_FILE, table_markdown)}
    paths["plot"] = front_plot(doc, plan.out / PLOT_FILE)
    return paths


def sweep_run(plan: SweepPlan, *, force: bool = False, log: Log = lambda m: print(m, file=sys.stderr)) -> dict:
    """Run the planned sweep (steps 2-6); returns the results document (also SWEEP/sweep.json)."""
    from edgenets.sweep.render import markdown_table

    started = time.perf_counter()
    tune_run = train_trials(plan, log, force=force)
    files = _candidate_files(plan, tune_run.outcomes)
    bench_started = time.perf_counter()
    try:
        bench_doc = measure(plan, [f for _, _, f in files], log)
    except KeyboardInterrupt:  # Ctrl-C or SIGTERM while timing: every trial is done; --resume measures
        raise Interrupted(f"interrupted while measuring: every trial is trained and kept. Continue with: "
                          f"{resume_command(plan.out)}") from None
    cands = candidates(plan, tune_run.outcomes, bench_doc)
    decision = decide_sweep(plan, cands)
    seconds = {"trials": round(tune_run.seconds, 1), "bench": round(time.perf_counter() - bench_started, 1),
               "total": round(time.perf_counter() - started, 1)}
    doc = results_document(plan, tune_run, bench_doc, decision, cands, seconds)
    write_results(plan, doc, markdown_table(doc))
    return doc
