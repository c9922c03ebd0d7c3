"""What the report reads: run directories and bench results, loaded, checked and matched to each other.

A run directory is what ``edgenets train`` wrote (config.json through :mod:`edgenets.runconfig`,
metrics.json, history.csv) plus ``export/export.json`` when it was exported; a bench results
document is what ``edgenets bench --output`` wrote. A bench row belongs to a run when its file's
SHA-256 is one that run's export.json lists. Nothing is re-measured.
"""

from __future__ import annotations

import csv
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Optional, Sequence

from edgenets import runconfig
from edgenets.bench.results import EMULATED_TAG, is_emulated
from edgenets.errors import InputError
from edgenets.preprocessing import DEFAULT_PREPROCESSING, Spec
from edgenets.preprocessing import name as preprocessing_name


@dataclass
class Run:
    path: Path
    config: runconfig.RunConfig
    history: list[dict]
    metrics: dict
    export: Optional[dict]
    tflite: dict = field(default_factory=dict)  # precision -> bench row (first device, 1 thread preferred)

    @property
    def name(self) -> str:
        return self.path.name

    @property
    def model(self) -> str:
        return self.config.model

    @property
    def recipe(self) -> str:
        recipe = self.config.raw.get("recipe")
        return str(recipe.get("name") if isinstance(recipe, dict) else recipe)

    @property
    def input_size(self) -> str:
        """The model's input per image, "HxWxC" (e.g. "32x32x3")."""
        return shape_text(self.config.input_shape)

    @property
    def preprocessing(self) -> Spec:
        return self.config.preprocessing


@dataclass
class Inputs:
    """Everything the report shows, as read: the runs, the bench documents and their ok rows."""

    runs: list[Run]
    docs: list[tuple[str, dict]]  # (path, bench results document)
    rows: list[dict]  # every ok bench row, labelled: run, device, input_size, preprocessing

    @property
    def names(self) -> list[str]:
        return [r.name for r in self.runs]

    @property
    def emulated(self) -> bool:
        return any(is_emulated(d["environment"]) for _, d in self.docs)

    @property
    def several_devices(self) -> bool:
        """Do labels need the device (several bench files, or an emulated one that must say so)?"""
        return len(self.docs) > 1 or self.emulated


def shape_text(shape: Sequence[int]) -> str:
    return "x".join(str(int(d)) for d in shape)


def input_text(size: Optional[str], preprocessing: Optional[Spec]) -> Optional[str]:
    """A table cell: "32x32x3, mean-std" (the full mean/std values are in the models table)."""
    if size is None:
        return None
    if isinstance(preprocessing, dict) and "name" not in preprocessing:  # an unchecked value from a bench file
        return size
    return f"{size}, {preprocessing_name(preprocessing)}" if preprocessing else size


def _read_json(path: Path) -> dict:
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise InputError(f"{path}: file not found (is this a finished `edgenets train` run?)") from None
    except (OSError, ValueError) as exc:
        raise InputError(f"{path}: not readable JSON ({exc})") from None
    if not isinstance(doc, dict):
        raise InputError(f"{path}: expected a JSON object")
    return doc


def _num(text: str) -> Any:
    try:
        value = float(text)
    except (TypeError, ValueError):
        return text
    return int(value) if value.is_integer() and "." not in text else value


def load_run(path: str | Path) -> Run:
    """One run directory, checked: config.json (the schema module), metrics.json, history.csv, export.json."""
    path = Path(path)
    config = runconfig.read(path, purpose="a finished `edgenets train` run")
    metrics = _read_json(path / "metrics.json")
    for key in ("test", "training"):
        if not isinstance(metrics.get(key), dict):
            raise InputError(f"{path / 'metrics.json'}: {key}: missing")
    for key in ("accuracy", "precision", "recall", "f1"):
        if not isinstance(metrics["test"].get(key), (int, float)):
            raise InputError(f"{path / 'metrics.json'}: test.{key}: missing or not a number")
    history: list[dict] = []
    if (path / "history.csv").is_file():
        with open(path / "history.csv", newline="") as f:
            history = [{k: _num(v) for k, v in row.items()} for row in csv.DictReader(f)]
    export_json = path / "export" / "export.json"
    export = _read_json(export_json) if export_json.is_file() else None
    return Run(path, config, history, metrics, export)


def row_input_size(row: dict) -> Optional[str]:
    """A bench row's input per image, "HxWxC", from the input tensor it recorded."""
    shape = (row.get("input") or {}).get("shape")
    return shape_text(shape[1:]) if isinstance(shape, list) and len(shape) >= 2 else None


def attach_bench(runs: Sequence[Run], docs: Sequence[tuple[str, dict]]) -> list[dict]:
    """Give each run its TFLite rows (matched by file SHA-256 from export.json); return every ok row, labelled.

    Labels: ``bench_file``, ``run`` (the run's name, else the row's model), ``device`` (host, runtime,
    and whether emulated), ``input_size`` and ``preprocessing`` (the run's config, else what the row recorded)."""
    by_sha = {}
    for run in runs:
        for m in (run.export or {}).get("models", []):
            by_sha[m.get("sha256")] = (run, m.get("precision"))
    rows = []
    for path, doc in docs:
        env = doc["environment"]
        device = f"{env.get('hostname')} {env.get('runtime')} {env.get('runtime_version')}"
        if is_emulated(env):  # its latencies time an emulator: every table and plot label says so
            device += f" {EMULATED_TAG}"
        for row in doc["results"]:
            if row.get("status") != "ok":
                continue
            run, precision = by_sha.get(row.get("sha256"), (None, row.get("precision")))
            labelled = {**row, "bench_file": path, "device": device, "run": run.name if run else row.get("model"),
                        "precision": precision or row.get("precision"),
                        "input_size": run.input_size if run else row_input_size(row),
                        "preprocessing": run.preprocessing if run else row.get("preprocessing", DEFAULT_PREPROCESSING)}
            rows.append(labelled)
            if run is not None:
                best = run.tflite.get(precision)
                if best is None or (row.get("threads") == 1 and best.get("threads") != 1):
                    run.tflite[precision] = labelled
    return rows


def collect_inputs(run_dirs: Sequence[str | Path], bench_files: Sequence[str | Path]) -> Inputs:
    """Read every run directory and bench file (one InputError line for the first bad one) and match them."""
    from edgenets.bench import results as bench_results

    if not run_dirs:
        raise InputError("report needs at least one run directory")
    runs = [load_run(p) for p in run_dirs]
    names = [r.name for r in runs]
    if len(set(names)) != len(names):
        raise InputError(f"run directories must have distinct names; got {', '.join(names)}")
    docs = [(str(p), bench_results.load(p)) for p in bench_files]
    return Inputs(runs, docs, attach_bench(runs, docs))
