"""``run_bench``: every model x every thread count -> one results document (see results.py).

Per model: cheap checks first (file size, "TFL3" identifier, a bounds-checked walk of the
flatbuffer, the sidecar), then per thread count an isolated probe (probe.py), the accuracy
evaluation (once per model; it does not depend on the thread count) and a loaded interpreter.
Then the latency of every loaded row, in ``rounds`` interleaved rounds (latency.py).
Anything that goes wrong becomes that row's ``status: "error"`` with a one-line reason; the
other rows still run.
"""

from __future__ import annotations

import functools
import json
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Optional, Sequence

import numpy as np

from edgenets._io import sha256_file
from edgenets.bench import delegation
from edgenets.bench import evaluate as ev
from edgenets.bench import DEFAULT_MIN_SECONDS, DEFAULT_ROUNDS, DEFAULT_RUNS, DEFAULT_WARMUP
from edgenets.bench.latency import LatencySession, round_budget
from edgenets.bench.memory import PeakRss
from edgenets.bench.ops import FlatbufferError, check_header, interpreter_op_counts, parse_op_counts
from edgenets.bench.probe import probe
from edgenets.bench.results import collect_environment, make_document
from edgenets.bench.runtime import DEVICES, Runtime, resolve_runtime
from edgenets.errors import InputError, first_line
from edgenets.formats import PRECISIONS, precision_from_filename
from edgenets.preprocessing import DEFAULT_PREPROCESSING, Spec
from edgenets.preprocessing import check as check_preprocessing

Log = Optional[Callable[[str], None]]


# ------------------------------------------------------------------ inputs


def load_eval_data(dataset: Any = "mnist", limit: Optional[int] = None, options: Optional[dict] = None) -> dict:
    """Labelled uint8 images to evaluate on: the test split, or the whole source if it has none.

    ``options``: load_dataset's keyword arguments (color, image_size, image_shape), passed only when given."""
    from edgenets.data import Dataset, load_dataset, stratified_indices

    given = {k: v for k, v in (options or {}).items() if v is not None}
    if isinstance(dataset, Dataset) and given:
        raise InputError(f"dataset options {', '.join(given)} apply to a data set loaded from a name or path")
    data = dataset if isinstance(dataset, Dataset) else load_dataset(dataset, quiet=True, trainable=False, **given)
    x, y, split = data.x_test, data.y_test, "test"
    if x is None or y is None:
        x, y, split = data.x_train, data.y_train, "all"
    if y is None:
        raise InputError(f"--dataset {dataset}: has no labels; bench needs labelled images to measure accuracy")
    if limit is not None:
        idx = stratified_indices(y, limit, seed=0)
        x, y = x[idx], y[idx]
    name = dataset if isinstance(dataset, str) else data.name
    return {"images": x, "labels": y, "class_names": list(data.class_names), "name": str(name), "split": split}


def read_sidecar(model_path: Path) -> Optional[dict]:
    """The export sidecar beside the model (model_int8.json for model_int8.tflite), or None."""
    path = model_path.with_suffix(".json")
    if not path.is_file():
        return None
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise InputError(f"{path}: unreadable sidecar ({first_line(exc)})") from None
    if not isinstance(doc, dict):
        raise InputError(f"{path}: sidecar is not a JSON object")
    return doc


def model_name(path: Path, sidecar: Optional[dict]) -> str:
    """A name to pair float and int8 files of the same model: the run it was exported from (the sidecar's
    source.run_dir, which survives copying the files to a board), the user's .keras file for `export
    MODEL.keras`, else the file / run folder name."""
    source = (sidecar or {}).get("source")
    if isinstance(source, dict) and isinstance(source.get("run_dir"), str) and Path(source["run_dir"]).name:
        return Path(source["run_dir"]).name
    if isinstance(source, dict) and source.get("kind") == "keras" and isinstance(source.get("model"), str) and source["model"]:
        return source["model"]  # `edgenets export MODEL.keras`: the .keras file's stem
    stem = path.stem
    for name in PRECISIONS:
        if stem.endswith("_" + name):
            stem = stem[: -len(name) - 1]
            break
    if stem in ("", "model"):  # runs/<name>/export/model_int8.tflite -> <name>
        parent = path.resolve().parent
        if parent.name == "export":
            parent = parent.parent
        return parent.name or stem or path.stem
    return stem


def sidecar_labels(sidecar: Optional[dict]) -> Optional[list[str]]:
    """The class names the sidecar carries ("labels", or "class_names" in older files), or None."""
    for key in ("labels", "class_names"):
        value = (sidecar or {}).get(key)
        if isinstance(value, list) and value:
            return [str(v) for v in value]
    return None


def model_labels(path: Path, sidecar: Optional[dict], data: dict) -> tuple[np.ndarray, list[str]]:
    """The data set's labels as this model's class indices, and the model's class names.

    Labels are matched by class NAME: a data set holding only some of the model's classes, or holding them in
    another order, is scored against the right output. Data whose names are the bare indices "0".."K-1" (a
    CSV or NPZ without names) keeps its indices when the model has at least K classes. Anything else is an
    InputError naming the classes that do not match."""
    names = [str(c) for c in data["class_names"]]
    labels = np.asarray(data["labels"])
    model = sidecar_labels(sidecar)
    if model is None or model == names:
        return labels, model or names
    index = {name: i for i, name in enumerate(model)}
    if all(name in index for name in names):
        return np.asarray([index[name] for name in names], dtype=np.int64)[labels], model
    if names == [str(i) for i in range(len(names))] and len(names) <= len(model):
        return labels, model
    missing = [n for n in names if n not in index]
    raise InputError(f"{path.with_suffix('.json')}: the data set's classes {', '.join(missing[:5])}"
                     f"{' ...' if len(missing) > 5 else ''} are not among the model's {len(model)} labels "
                     f"({', '.join(model[:5])}{' ...' if len(model) > 5 else ''})")


def model_preprocessing(path: Path, sidecar: Optional[dict]) -> Spec:
    """How pixels become this model's input: the sidecar's ``preprocessing`` (a name, or a mean-std block
    applied exactly as recorded), pixels/255 without one; an unknown value is an InputError naming the sidecar."""
    value = (sidecar or {}).get("preprocessing")
    return check_preprocessing(DEFAULT_PREPROCESSING if value in (None, "") else value, f"{path.with_suffix('.json')}")


# ------------------------------------------------------------------ one model


def eval_threads() -> int:
    """Threads for the batched evaluation interpreters: the cores this process may use (outputs are checked
    bit-identical to the row's own batch-1 outputs, so the thread count cannot change a metric)."""
    import os

    try:
        return max(1, len(os.sched_getaffinity(0)))
    except (AttributeError, OSError):
        return max(1, os.cpu_count() or 1)


def _model_facts(rt: Runtime, path: Path, make: Callable[[], Any], sidecar: Optional[dict], data: dict,
                 eval_batch: int, make_batched: Optional[Callable[[], Any]] = None) -> dict:
    """What does not depend on the thread count: precision, I/O tensors, accuracy."""
    it = make()
    it.allocate_tensors()
    inp, out = it.get_input_details()[0], it.get_output_details()[0]
    precision = (sidecar or {}).get("precision") or precision_from_filename(path) or ev.infer_precision(it)
    preprocessing = model_preprocessing(path, sidecar)
    sample = ev.prepare_inputs(data["images"][:1], inp, preprocessing)  # a model/data shape mismatch fails here first
    labels, class_names = model_labels(path, sidecar, data)
    metrics = ev.evaluate(make, data["images"], labels, preprocessing=preprocessing, make_batched=make_batched,
                          class_names=class_names, batch=eval_batch)
    metrics["eval"].update(dataset=data["name"], split=data["split"])
    return {
        "precision": str(precision),
        "preprocessing": preprocessing,
        "input": ev.tensor_info(inp),
        "output": ev.tensor_info(out),
        "metrics": metrics,
        "sample": sample,
    }


@dataclass
class _Timed:
    """A row whose model loaded and evaluated: its interpreter waits for the timed rounds."""

    row: dict
    session: Optional[LatencySession]  # None once the row is done or failed: the interpreter is freed
    static_ops: Optional[dict]
    expected_delegate: Optional[str] = None  # what the row should run in (delegation.report)
    reverted: Optional[dict] = None  # the delegate failed to prepare: the row runs on builtin kernels
    device_used: str = "cpu"  # the interpreter options the row was measured with (cpu-ref after a fallback)
    sample: Any = None  # one input in the model's dtype: what the timing and the profile feed


def expected_delegate(device: str, delegate: Optional[str]) -> Optional[str]:
    """The delegate a row is meant to run in: an external one, XNNPACK (the runtimes' default on CPU), or
    none (--device cpu-ref: builtin kernels by choice)."""
    if delegate:
        return Path(str(delegate)).name
    return "XNNPACK" if device == "cpu" else None


def _load_or_fall_back(rt: Runtime, path: Path, *, threads: int, device: str, delegate: Optional[str],
                       isolate: bool, log: Log) -> tuple[str, Optional[dict], Optional[dict]]:
    """(device to load the row with, probe report, reverted) for one row.

    On the default CPU path a model XNNPACK cannot prepare (e.g. a requantisation scale >= 256) makes
    ai-edge-litert's allocate_tensors() raise. Such a model is valid and runs on builtin kernels, so the
    row is measured there instead of failing, with ``reverted`` = the message and the diagnosed node.
    Any other load failure raises.
    """
    def maker(dev: str) -> Callable[[], Any]:
        return functools.partial(rt.make_interpreter, str(path), threads=threads, device=dev, delegate=delegate)

    def attempt(dev: str) -> tuple[Optional[dict], Optional[str]]:
        if isolate:
            return probe(str(path), rt.name, threads=threads, device=dev, delegate=delegate)
        try:
            maker(dev)().allocate_tensors()
        except Exception as exc:  # noqa: BLE001 - the caller decides what the failure means
            return None, first_line(exc)
        return None, None

    report, why = attempt(device)
    if why is None:
        return device, report, None
    if device != "cpu" or delegate or not delegation.is_delegate_prepare_failure(why):
        raise RuntimeError(why)
    report, why_ref = attempt("cpu-ref")
    if why_ref is not None:
        raise RuntimeError(f"{why}; on builtin kernels too: {why_ref}")
    reverted = delegation.reverted(why, maker("cpu-ref")())
    if log:
        log(f"{path}: XNNPACK could not prepare this model ({why}); measuring it on builtin kernels")
    return "cpu-ref", report, reverted


def _prepare_model(path: Path, rt: Runtime, data: dict, *, threads: Sequence[int], device: str,
                   delegate: Optional[str], warmup: int, isolate: bool, eval_batch: int,
                   log: Log) -> tuple[list[dict], list[_Timed]]:
    """Checks, probe, accuracy and a loaded interpreter per thread count; no latency yet."""
    base: dict[str, Any] = {
        "model": path.stem, "path": str(path), "sha256": None, "precision": precision_from_filename(path) or "unknown",
        "size_bytes": None, "threads": None, "device": device, "delegate": delegate,
        "runtime": rt.name, "runtime_version": rt.version, "status": "ok", "error": None,
    }
    static_ops: Optional[dict] = None
    sidecar = None
    reason = check_header(path)
    if reason is None:
        try:
            base["size_bytes"] = path.stat().st_size
            base["sha256"] = sha256_file(path)
            static_ops = parse_op_counts(path.read_bytes())
            sidecar = read_sidecar(path)
        except (FlatbufferError, InputError, OSError) as exc:
            reason = f"not a valid TFLite model: {first_line(exc)}" if isinstance(exc, FlatbufferError) else first_line(exc)
    base["model"] = model_name(path, sidecar)
    if sidecar and sidecar.get("precision"):
        base["precision"] = str(sidecar["precision"])
    if reason is not None:
        if log:
            log(f"{path}: error: {reason}")
        return [{**base, "threads": int(t), "status": "error", "error": reason} for t in threads], []

    facts: Optional[dict] = None
    facts_error: Optional[str] = None
    rows: list[dict] = []
    timed: list[_Timed] = []
    for t in threads:
        row = {**base, "threads": int(t)}
        rows.append(row)
        try:
            device_used, report, reverted = _load_or_fall_back(rt, path, threads=int(t), device=device,
                                                               delegate=delegate, isolate=isolate, log=log)
            make = functools.partial(rt.make_interpreter, str(path), threads=int(t), device=device_used,
                                     delegate=delegate)
            if facts is None and facts_error is None:
                try:
                    batched_threads = max(int(t), eval_threads())
                    make_batched = functools.partial(rt.make_interpreter, str(path), threads=batched_threads,
                                                     device=device_used, delegate=delegate)
                    facts = _model_facts(rt, path, make, sidecar, data, eval_batch, make_batched)
                    facts["metrics"]["eval"].update(threads=int(t), batched_threads=batched_threads)
                except Exception as exc:  # noqa: BLE001 - reported on every row of this model
                    facts_error = first_line(exc)
            if facts_error is not None:
                raise RuntimeError(facts_error)
            with PeakRss() as mem:  # load + allocate + the first invoke
                session = LatencySession(make, facts["sample"], warmup=warmup)
            memory = {"peak_rss_increase_bytes": mem.increase, "method": f"in-process {mem.method}"}
            if report is not None:  # the fresh child's figure is the honest one
                memory = {"peak_rss_increase_bytes": report.get("peak_rss_increase_bytes"),
                          "method": f"isolated process, {report.get('method')}"}
            row.update({k: v for k, v in facts.items() if k != "sample"})
            row["memory"] = memory
            timed.append(_Timed(row, session, static_ops, expected_delegate(device, delegate), reverted,
                                device_used, facts["sample"]))
            if log:
                log(f"{path}: {row['precision']}, {t} thread(s): accuracy "
                    f"{facts['metrics']['accuracy'] * 100:.2f}%, loaded")
        except Exception as exc:  # noqa: BLE001 - a failed row, not a failed benchmark
            _fail(row, exc, static_ops, log)
    return rows, timed


def _fail(row: dict, exc: BaseException, static_ops: Optional[dict], log: Log) -> None:
    row.update(status="error", error=first_line(exc))
    if static_ops is not None:
        row["ops"] = static_ops
    if log:
        log(f"{row['path']}: {row['threads']} thread(s): error: {row['error']}")


def _time_rounds(timed: list[_Timed], *, rounds: int, runs: int, min_seconds: float, warmup: int,
                 log: Log) -> None:
    """Time every loaded configuration ``rounds`` times, visiting them in turn (order reversed on odd
    rounds), so that machine drift falls on all of them alike; then fill in each row's latency."""
    per_runs, per_seconds, rewarm = round_budget(runs, min_seconds, warmup, rounds)
    live = list(timed)
    if log and live:
        log(f"timing {len(live)} row(s)" + (f" in {rounds} interleaved rounds" if rounds > 1 else "")
            + f", at least {min_seconds:g} s and {runs} runs each")
    for r in range(rounds):
        for t in (live if r % 2 == 0 else live[::-1]):
            try:
                t.session.round(per_runs, per_seconds, rewarm)
            except Exception as exc:  # noqa: BLE001 - a failed row, not a failed benchmark
                t.session = None
                _fail(t.row, exc, t.static_ops, log)
        live = [t for t in live if t.session is not None]
    for t in live:
        try:
            it = t.session.interpreter
            latency = t.session.block()
            block = delegation.report(it, expected=t.expected_delegate, reverted=t.reverted)
            t.row.update(latency=latency, ops=interpreter_op_counts(it) or t.static_ops,
                         delegate_partitions=block["partitions"] if block else None, delegation=block)
        except Exception as exc:  # noqa: BLE001 - a failed row, not a failed benchmark
            t.row.pop("latency", None)
            _fail(t.row, exc, t.static_ops, log)
            continue
        finally:
            t.session = None
        if log:
            log(f"{t.row['path']}: {t.row['precision']}, {t.row['threads']} thread(s): mean "
                f"{latency['mean_us']:.1f} us, p50 {latency['p50_us']:.1f} us over {latency['runs']} runs"
                + (f" in {rounds} rounds" if rounds > 1 else ""))


PROFILE_OPTIONS: dict[str, Any] = {}  # profile_model's keyword arguments (its defaults; tests shorten them)


def _profile(timed: list[_Timed], rt: Runtime, *, delegate: Optional[str], log: Log) -> None:
    """``bench --profile``: each ok row's per-node profile (edgenets.bench.profile), after all timing, one row at a
    time, with the row's own interpreter options; each node says whether it ran inside the delegate."""
    from edgenets.bench.profile import content_factory, profile_model

    for t in timed:
        row = t.row
        if row.get("status") != "ok":
            continue
        if log:
            log(f"{row['path']}: {row['precision']}, {row['threads']} thread(s): profiling per node")
        try:
            make = content_factory(rt, threads=int(row["threads"]), device=t.device_used, delegate=delegate)
            profile = profile_model(row["path"], make, t.sample, **PROFILE_OPTIONS)
        except Exception as exc:  # noqa: BLE001 - the row's other measurements stand
            row["profile"] = {"error": first_line(exc)}
            if log:
                log(f"{row['path']}: profile failed: {first_line(exc)}")
            continue
        block = row.get("delegation") or {}
        builtin = {n.get("node") for n in block.get("builtin_nodes") or []}
        if block.get("status") in ("full", "partial", "not delegated", "builtin by choice"):
            for node in profile["nodes"]:
                node["delegated"] = node["index"] not in builtin
        row["profile"] = profile
        if log:
            v = profile.get("validation") or {}
            log(f"{row['path']}: profile of {len(profile['nodes'])} nodes in {profile['seconds']:.1f} s, "
                f"validation {'ok' if v.get('ok') else 'NOT ok' if v.get('ok') is False else 'not run'}")


def bench_model(path: str | Path, rt: Runtime, data: dict, *, threads: Sequence[int], device: str = "cpu",
                delegate: Optional[str] = None, runs: int = DEFAULT_RUNS, warmup: int = DEFAULT_WARMUP, min_seconds: float = DEFAULT_MIN_SECONDS,
                rounds: int = DEFAULT_ROUNDS, isolate: bool = True, eval_batch: int = ev.EVAL_BATCH, log: Log = None) -> list[dict]:
    """One row per thread count for the model at ``path`` (its thread counts interleaved if ``rounds`` > 1)."""
    validate_options(device=device, runs=runs, warmup=warmup, min_seconds=min_seconds, limit=None, rounds=rounds)
    rows, timed = _prepare_model(Path(path), rt, data, threads=threads, device=device, delegate=delegate,
                                 warmup=warmup, isolate=isolate, eval_batch=eval_batch, log=log)
    _time_rounds(timed, rounds=rounds, runs=runs, min_seconds=min_seconds, warmup=warmup, log=log)
    return rows


# ------------------------------------------------------------------ the run


def parse_threads(text: str | Sequence[int]) -> list[int]:
    items = text.split(",") if isinstance(text, str) else list(text)
    try:
        values = [int(str(v).strip()) for v in items if str(v).strip()]
    except ValueError:
        raise InputError(f"--threads must be comma-separated whole numbers like 1,2,4. Received: {text!r}") from None
    if not values or any(v < 1 for v in values):
        raise InputError(f"--threads must be >= 1. Received: {text!r}")
    return list(dict.fromkeys(values))


def validate_options(*, device: str, runs: int, warmup: int, min_seconds: float, limit: Optional[int],
                     rounds: int = 1) -> None:
    if device not in DEVICES:
        raise InputError(f"--device must be one of {', '.join(DEVICES)}. Received: {device!r}")
    if runs < 1:
        raise InputError(f"--runs must be >= 1. Received: {runs}")
    if warmup < 0:
        raise InputError(f"--warmup must be >= 0. Received: {warmup}")
    if not 0 <= min_seconds < 86400:  # also rejects NaN and inf
        raise InputError(f"--min-seconds must be >= 0 and finite. Received: {min_seconds}")
    if limit is not None and limit < 1:
        raise InputError(f"--limit must be >= 1. Received: {limit}")
    if not 1 <= rounds <= 1000:
        raise InputError(f"--rounds must be between 1 and 1000. Received: {rounds}")


def run_bench(models: Sequence[str | Path], *, device: str = "cpu", delegate: Optional[str] = None,
              threads: Sequence[int] | str = (1,), runs: int = DEFAULT_RUNS, warmup: int = DEFAULT_WARMUP, min_seconds: float = DEFAULT_MIN_SECONDS,
              rounds: int = DEFAULT_ROUNDS, dataset: Any = "mnist", limit: Optional[int] = None, runtime: str = "auto",
              isolate: bool = True, eval_batch: int = ev.EVAL_BATCH, profile: bool = False, log: Log = None,
              dataset_options: Optional[dict] = None) -> dict:
    """Benchmark ``models``; returns the results document (results.py), failures included as rows.

    ``dataset_options``: load_dataset's keyword arguments for ``dataset`` (color, image_size, image_shape).

    Every model is loaded and evaluated first; then the latency of all (model, threads) rows is
    timed in ``rounds`` interleaved rounds, each with 1/rounds of ``runs`` and ``min_seconds``;
    then, with ``profile``, each row's per-node profile (after the timing, so it disturbs none of it).
    """
    if not models:
        raise InputError("give at least one MODEL.tflite")
    thread_list = parse_threads(threads)
    validate_options(device=device, runs=runs, warmup=warmup, min_seconds=min_seconds, limit=limit, rounds=rounds)
    rt = resolve_runtime(runtime)
    data = load_eval_data(dataset, limit, dataset_options)
    start = time.perf_counter()
    results: list[dict] = []
    timed: list[_Timed] = []
    for model in models:
        rows, ready = _prepare_model(Path(model), rt, data, threads=thread_list, device=device, delegate=delegate,
                                     warmup=warmup, isolate=isolate, eval_batch=eval_batch, log=log)
        results.extend(rows)
        timed.extend(ready)
    _time_rounds(timed, rounds=rounds, runs=runs, min_seconds=min_seconds, warmup=warmup, log=log)
    if profile:
        _profile(timed, rt, delegate=delegate, log=log)
    env = collect_environment(runtime=rt, threads=thread_list, device=device, delegate=delegate,
                              dataset=f"{data['name']} ({data['split']}, {len(data['labels'])} images)")
    env["rounds"] = rounds
    env["seconds"] = round(time.perf_counter() - start, 2)
    from edgenets.bench.tables import quantisation_deltas

    doc = make_document(env, results)
    doc["comparisons"] = quantisation_deltas(results)
    return doc


def failed(doc: dict) -> list[dict]:
    return [r for r in doc["results"] if r.get("status") != "ok"]


__all__ = ["bench_model", "failed", "load_eval_data", "model_name", "model_preprocessing", "parse_threads", "read_sidecar",
           "run_bench", "sidecar_labels"]
