"""`edgenets report`: the study as Markdown + self-contained HTML + PNG plots.

Inputs are what the other commands wrote: run directories (config.json, history.csv,
metrics.json, curves.png, confusion.png, export/export.json) and bench results documents.
Nothing is re-measured here; every number in the report is read from those files.
"""

from __future__ import annotations

import csv
import json
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Optional, Sequence

from edgenets import _io
from edgenets.bench.results import EMULATED_TAG, is_emulated
from edgenets.errors import InputError
from edgenets.report.document import Code, Document, Heading, Image, Paragraph, Table, to_html, to_markdown

# The reference study's own figures (seed-study.md, sections 4.2 and 5, "Result-1": 15 epochs, batch 32).
# Its accuracy is on an augmented copy of the test set and its precision/recall/F1 are not macro
# averages over the ten classes, so these are not comparable number for number; see docs/results.md.
REFERENCE = {
    "mobilenet": {"params": 810826, "train_accuracy": 0.9942, "accuracy": 0.837, "precision": 0.9623188405797102,
                  "recall": 0.9940119760479041, "f1": 0.9779086892488954, "seconds": 1548.18},
    "shufflenet": {"params": 39282, "train_accuracy": 0.9631, "accuracy": 0.9149, "precision": 0.9982142857142857,
                   "recall": 1.0, "f1": 0.9991063449508489, "seconds": 1309.48},
}


@dataclass
class Run:
    path: Path
    config: dict
    history: list[dict]
    metrics: dict
    export: Optional[dict]
    tflite: dict = field(default_factory=dict)  # precision -> bench row (first device, 1 thread preferred)

    @property
    def name(self) -> str:
        return self.path.name

    @property
    def model(self) -> str:
        return str(self.config.get("model", "?"))

    @property
    def recipe(self) -> str:
        recipe = self.config.get("recipe")
        return str(recipe.get("name") if isinstance(recipe, dict) else recipe)


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


def load_run(path: str | Path) -> Run:
    path = Path(path)
    if not path.is_dir():
        raise InputError(f"{path}: run directory not found")
    config = _read_json(path / "config.json")
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


def _num(text: str) -> Any:
    try:
        value = float(text)
    except (TypeError, ValueError):
        return text
    return int(value) if value.is_integer() and "." not in text else value


def _attach_bench(runs: Sequence[Run], docs: Sequence[tuple[str, dict]]) -> list[dict]:
    """Give each run its TFLite rows (matched by file SHA-256 from export.json); return every ok row, labelled."""
    by_sha = {}
    for run in runs:
        for m in (run.export or {}).get("models", []):
            by_sha[m.get("sha256")] = (run, m.get("precision"))
    rows = []
    for _, doc in docs:
        env = doc["environment"]
        device = f"{env.get('hostname')} {env.get('runtime')} {env.get('runtime_version')}"
        if is_emulated(env):  # its latencies time an emulator: every table and plot label says so
            device += f" {EMULATED_TAG}"
        for row in doc["results"]:
            if row.get("status") != "ok":
                continue
            run, precision = by_sha.get(row.get("sha256"), (None, row.get("precision")))
            labelled = {**row, "device": device, "run": run.name if run else row.get("model"),
                        "precision": precision or row.get("precision")}
            rows.append(labelled)
            if run is not None:
                best = run.tflite.get(precision)
                if best is None or (row.get("threads") == 1 and best.get("threads") != 1):
                    run.tflite[precision] = labelled
    return rows


def _pct(x: Optional[float]) -> Optional[str]:
    return None if x is None else f"{100 * x:.2f}"


def _copy(src: Path, dest: Path) -> Optional[Path]:
    if not src.is_file():
        return None
    with _io.atomic_path(dest) as tmp:
        shutil.copyfile(src, tmp)
    return dest


def _architecture(run: Run) -> Optional[Any]:
    """Layer table of the trained model (model.keras), via edgenets.models.complexity."""
    if not (run.path / "model.keras").is_file():
        return None
    from edgenets.errors import require
    from edgenets.models.complexity import model_stats

    keras = require("keras", "train", "edgenets report")
    return model_stats(keras.models.load_model(run.path / "model.keras", compile=False))


def _add_profiles(doc: Document, docs: Sequence[tuple[str, dict]], out: Path, emulated: bool) -> None:
    """bench --profile results: the per-op-type plot (float32 beside quantised), the tables and their validation."""
    from edgenets.bench import tables
    from edgenets.report import plots

    panels, type_rows, node_rows, checks = [], [], [], []
    for _, d in docs:
        results = d["results"]
        tag = f" {EMULATED_TAG}" if is_emulated(d["environment"]) else ""
        for key, f, q in tables.profile_pairs(results):
            fp, qp = (f or {}).get("profile") or {}, (q or {}).get("profile") or {}
            f_by = {g["op"]: g["us"] for g in fp.get("by_type", [])}
            q_by = {g["op"]: g["us"] for g in qp.get("by_type", [])}
            order = sorted(set(f_by) | set(q_by), key=lambda op: -(q_by.get(op, f_by.get(op)) or 0.0))
            panels.append({"title": f"{key['model']}, {key['threads']} thread(s), {d['environment'].get('cpu')}{tag}",
                           "quant": key.get("precision"), "ops": [(op, f_by.get(op), q_by.get(op)) for op in order]})
        type_rows += tables.profile_type_rows(results)
        node_rows += tables.profile_node_rows(results)
        checks += tables.profile_validation_lines(results)
    if not panels:
        return
    doc.add(Heading("Where the time goes: per-node profile", 3))
    doc.add(Paragraph("Measured by `edgenets bench --profile`: each node's time is the difference between the model cut "
                      "after it and the model cut before it, checked against the node timed alone as a one-node model "
                      "on the same activations (docs/bench.md). Latencies are this CPU's, not the network's."))
    doc.add(Image(plots.profile_by_type(panels, out / "profile.png"), "time per op type, float32 beside quantised"))
    doc.add(Table(tables.headers_for(tables.PROFILE_TYPE_HEADERS, emulated), type_rows, caption="Summary by node type"))
    doc.add(Table(tables.headers_for(tables.PROFILE_NODE_HEADERS, emulated), node_rows,
                  caption="Top nodes by time (the quantised model's, beside the same node of the float32 model)"))
    for line in checks:
        doc.add(Paragraph(line))


def build_report(run_dirs: Sequence[str | Path], bench_files: Sequence[str | Path] = (), out: str | Path = "report",
                 command: str = "") -> dict:
    """Write ``out/index.md``, ``out/index.html`` and the PNGs; return their paths."""
    from edgenets.bench import delegation
    from edgenets.bench import results as bench_results
    from edgenets.bench.tables import format_range, quantisation_deltas
    from edgenets.report import plots

    if not run_dirs:
        raise InputError("report needs at least one run directory")
    runs = [load_run(p) for p in run_dirs]
    names = [r.name for r in runs]
    if len(set(names)) != len(names):
        raise InputError(f"run directories must have distinct names; got {', '.join(names)}")
    docs = [(str(p), bench_results.load(p)) for p in bench_files]
    rows = _attach_bench(runs, docs)
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    doc = Document("edgenets study: " + ", ".join(names))
    if command:
        doc.add(Paragraph("Generated with:"), Code(command))
    doc.add(Paragraph("Every number below is read from the files that `edgenets train`, `edgenets export` and "
                      "`edgenets bench` wrote; test metrics are on the untouched test set, precision / recall / F1 "
                      "are macro averages over the classes."))
    envs = [d["environment"] for _, d in docs]
    if envs:
        doc.add(Table(["bench file", "host", "cpu", "SIMD", "int8 instructions", "cores", "runtime", "threads", "data"],
                      [[Path(p).name, e.get("hostname"), e.get("cpu"),
                        " ".join(map(str, e["cpu_features"])) if isinstance(e.get("cpu_features"), list) else "not recorded",
                        (bench_results.int8_capability(e.get("cpu_features")) or "not recorded").replace(
                            "int8 kernels can use: ", ""),
                        e.get("cores"),
                        f"{e.get('runtime')} {e.get('runtime_version')}", ",".join(map(str, e.get("threads", []))),
                        e.get("dataset")] for (p, _), e in zip(docs, envs)], caption="Where the TFLite models were benchmarked"))

    # 1. models
    doc.add(Heading("1. Models and complexity"))
    stats = {r.name: _architecture(r) for r in runs}
    table = []
    for r in runs:
        st = stats[r.name]
        sizes = {m["precision"]: m["size_bytes"] for m in (r.export or {}).get("models", [])}
        table.append([r.name, r.model, st.params if st else r.metrics["training"].get("params"),
                      f"{st.macs / 1e6:.2f}" if st else None,
                      f"{sizes['float32'] / 1024:.1f}" if "float32" in sizes else None,
                      f"{sizes['int8'] / 1024:.1f}" if "int8" in sizes else None])
    doc.add(Table(["run", "model", "params", "MMACs / image", "float32 .tflite KiB", "int8 .tflite KiB"], table))
    seen = set()
    for r in runs:
        st = stats[r.name]
        if st is None or r.model in seen:
            continue
        seen.add(r.model)
        doc.add(Heading(f"Architecture: {r.model}", 3),
                Table(["layer", "type", "output shape", "params", "MACs"],
                      [[lay.name, lay.kind, str(tuple(lay.output_shape)), lay.params, lay.macs] for lay in st.layers],
                      caption=f"{st.params:,} parameters, {st.macs:,} MACs per 28x28 image"))

    # 2. training
    doc.add(Heading("2. Training convergence"))
    for r in runs:
        doc.add(Heading(f"{r.name} ({r.model}, recipe {r.recipe}, {r.config.get('dataset')})", 3))
        if r.history:
            doc.add(Table(["epoch", "loss", "accuracy", "val_loss", "val_accuracy", "lr", "seconds"],
                          [[h.get("epoch"), h.get("loss"), h.get("accuracy"), h.get("val_loss"), h.get("val_accuracy"),
                            h.get("lr"), h.get("seconds")] for h in r.history]))
        img = _copy(r.path / "curves.png", out / f"{r.name}-curves.png")
        if img:
            doc.add(Image(img, f"{r.name} training curves"))

    # 3. efficiency
    doc.add(Heading("3. Computational efficiency"))
    doc.add(Table(["run", "epochs", "training s", "images/s", "train images / epoch"],
                  [[r.name, r.metrics["training"].get("epochs"), r.metrics["training"].get("train_seconds"),
                    r.metrics["training"].get("images_per_second"), r.metrics["training"].get("train_images_per_epoch")]
                   for r in runs], caption="Training (this machine, wall-clock seconds of fit)"))
    if rows:
        doc.add(Table(["run", "precision", "device", "threads", "mean µs", "p50 µs", "p99 µs", "images/s", "peak RSS MB",
                       "delegated"],
                      [[x["run"], x["precision"], x["device"], x["threads"], x["latency"]["mean_us"],
                        x["latency"]["p50_us"], x["latency"]["p99_us"], x["latency"].get("images_per_s"),
                        None if not (x.get("memory") or {}).get("peak_rss_increase_bytes")
                        else x["memory"]["peak_rss_increase_bytes"] / 1e6,
                        delegation.summary_cell(x.get("delegation"))] for x in rows],
                      caption="Single-image inference (TFLite, LiteRT interpreter); delegated: nodes run inside the "
                              "delegate (XNNPACK on the CPU) of all nodes, and in how many partitions"))
        for line in delegation.notes([{**x, "model": x["run"]} for x in rows]):
            doc.add(Paragraph(line))
        deltas = [dl for _, d in docs for dl in quantisation_deltas(d["results"])]
        if deltas:
            doc.add(Table(["model", "threads", "precision", "accuracy Δ pp", "F1 Δ", "speedup ×", "per-round ×",
                           "size ratio", "memory ratio"],
                          [[dl.get("model"), dl.get("threads"), dl.get("precision"), dl.get("accuracy_delta_pp"),
                            dl.get("f1_delta"), dl.get("speedup"),
                            format_range(dl.get("speedup_range")),
                            dl.get("size_ratio"), dl.get("memory_ratio")]
                           for dl in deltas], caption="Quantised vs float32, same model, same device (per-round: "
                                                      "the range of the ratio within interleaved rounds, bench --rounds)"))
        emulated = any(is_emulated(d["environment"]) for _, d in docs)
        _add_profiles(doc, docs, out, emulated)
        where = (lambda x: f" ({x['device']})") if len(docs) > 1 or emulated else (lambda x: "")
        series = [{"label": f"{x['run']} {x['precision']} t{x['threads']}{where(x)}",
                   "group": f"{x['run']} t{x['threads']}{where(x)}", "percentiles_us": x["latency"]["percentiles_us"],
                   "quantised": x["precision"] != "float32"} for x in rows if x["latency"].get("percentiles_us")]
        if series:
            doc.add(Image(plots.latency_cdf(series, out / "latency.png"), "latency distribution"))

    # 4. evaluation
    doc.add(Heading("4. Evaluation on the untouched test set"))
    table = []
    for r in runs:
        t, p = r.metrics["test"], r.metrics.get("perturbed_test") or {}
        table.append([r.name, "Keras float", _pct(t["accuracy"]), _pct(t["precision"]), _pct(t["recall"]), _pct(t["f1"]),
                      _pct(p.get("accuracy"))])
        for precision, x in sorted(r.tflite.items()):
            m = x["metrics"]
            table.append([r.name, f"TFLite {precision}", _pct(m["accuracy"]), _pct(m["precision"]), _pct(m["recall"]),
                          _pct(m["f1"]), None])
    doc.add(Table(["run", "model", "accuracy %", "precision %", "recall %", "F1 %", "perturbed-test accuracy %"], table,
                  caption="Macro averages; the perturbed test set is each test image shifted and darkened once (seeded), "
                          "the reference study's augmentation, kept as a robustness figure"))
    for r in runs:
        per = r.metrics["test"].get("per_class") or []
        int8 = {c["label"]: c for c in (r.tflite.get("int8", {}).get("metrics", {}).get("per_class") or [])}
        if per:
            doc.add(Heading(f"Per class: {r.name}", 3),
                    Table(["class", "precision %", "recall %", "F1 %", "support", "int8 F1 %"],
                          [[c["label"], _pct(c["precision"]), _pct(c["recall"]), _pct(c["f1"]), c["support"],
                            _pct(int8[c["label"]]["f1"]) if c["label"] in int8 else None] for c in per]))
        img = _copy(r.path / "confusion.png", out / f"{r.name}-confusion.png")
        if img:
            doc.add(Image(img, f"{r.name} confusion matrix"))
    if rows:
        points = [{"model": x["run"], "precision": x["precision"], "device": x["device"] if len(docs) > 1 or emulated else "",
                   "mean_us": x["latency"]["mean_us"], "accuracy": x["metrics"]["accuracy"]}
                  for x in rows if x["threads"] == min(y["threads"] for y in rows)]
        doc.add(Image(plots.accuracy_vs_latency(points, out / "accuracy_vs_latency.png"), "accuracy vs latency"))

    # 5. the reference study
    ref_runs = [r for r in runs if r.model in REFERENCE]
    if ref_runs:
        doc.add(Heading("5. Beside the reference study"))
        doc.add(Paragraph("The reference study's figures (its section 5, Result-1: 15 epochs, batch 32) were measured on an "
                          "augmented copy of the test set, and its precision / recall / F1 are not macro averages over the "
                          "ten classes (a macro precision of 1.0 with 56 % accuracy is impossible). Ours are the standard "
                          "metrics on the untouched MNIST test set; the perturbed-test column is the closest to its setting."))
        doc.add(Table(["run", "params (ref / ours)", "ref accuracy %", "ours %", "ours, perturbed %", "ref F1 %", "our macro F1 %",
                       "ref training s", "our training s"],
                      [[r.name, f"{REFERENCE[r.model]['params']:,} / {r.metrics['training'].get('params', 0):,}",
                        _pct(REFERENCE[r.model]["accuracy"]), _pct(r.metrics["test"]["accuracy"]),
                        _pct((r.metrics.get("perturbed_test") or {}).get("accuracy")), _pct(REFERENCE[r.model]["f1"]),
                        _pct(r.metrics["test"]["f1"]), REFERENCE[r.model]["seconds"], r.metrics["training"].get("train_seconds")]
                       for r in ref_runs]))

    md = _io.write_text(out / "index.md", to_markdown(doc, out))
    page = _io.write_text(out / "index.html", to_html(doc))
    pngs = sorted(str(p) for p in out.glob("*.png"))
    return {"markdown": str(md), "html": str(page), "images": pngs}
