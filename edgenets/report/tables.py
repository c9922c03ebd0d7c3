"""The report's tables and its summary, computed from :class:`edgenets.report.inputs.Inputs`.

Each function returns data (a :class:`~edgenets.report.document.Table`, sentences), never a
rendering; :mod:`edgenets.report.study` places them in the document. Every table that shows a
model says its real input per image ("32x32x3") and how pixels were scaled ("pixels/255",
"mean-std"); the models table spells the preprocessing out in full.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Optional, Sequence

from edgenets.bench.results import EMULATED_TAG, is_emulated
from edgenets.preprocessing import describe as describe_preprocessing
from edgenets.report.document import Table
from edgenets.report.inputs import Inputs, Run, input_text, row_input_size

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
class ProfileSection:
    """bench --profile results: the plot's panels, the two tables and the validation lines."""

    panels: list[dict]
    by_type: Table
    top_nodes: Table
    checks: list[str]


@dataclass
class Tables:
    """Everything the document shows except the plots, in the order the document shows it."""

    summary: list[str]  # the answer in sentences: fastest, accuracy cost of int8, on which CPU, inputs
    answer: Optional[Table]  # quantised vs float32 per run (None without bench results)
    environment: Optional[Table]  # where the TFLite models were benchmarked
    evaluation: Table
    per_class: dict[str, Table]  # run name -> per-class table
    latency: Optional[Table]
    delegation_notes: list[str]
    profile: Optional[ProfileSection]
    training_time: Table
    history: dict[str, Table]  # run name -> per-epoch table
    reference: Optional[Table]
    models: Table
    layers: list[tuple[str, Table]] = field(default_factory=list)  # (model, layer table), one per model


def pct(x: Optional[float]) -> Optional[str]:
    return None if x is None else f"{100 * x:.2f}"


def _round(x: Optional[float], digits: int) -> Optional[float]:
    return None if x is None else round(float(x), digits)


def _whole(x: Optional[float]) -> Optional[int]:
    return None if x is None else int(round(x))


def _input(x: dict) -> Optional[str]:
    return input_text(x.get("input_size"), x.get("preprocessing"))


# --- the answer ------------------------------------------------------------------------------------------------

def quantisation_deltas(inputs: Inputs) -> list[dict]:
    """Each quantised row beside its float32 twin (same run, threads, device), per bench file: accuracy Δ,
    speedup, size and memory ratios (edgenets.bench.tables), labelled with the run, device and input."""
    from edgenets.bench.tables import quantisation_deltas as deltas_of

    out = []
    for path, _ in inputs.docs:
        rows = [{**x, "model": x["run"]} for x in inputs.rows if x["bench_file"] == path]
        label = {x["run"]: x for x in rows}
        for dl in deltas_of(rows):
            x = label[dl["model"]]
            out.append({**dl, "run": dl["model"], "bench_file": path, "device": x["device"],
                        "input_size": x["input_size"], "preprocessing": x["preprocessing"]})
    return out


def _device_sentence(env: dict, threads: int) -> str:
    tag = f" {EMULATED_TAG}" if is_emulated(env) else ""
    return (f"On {env.get('cpu') or 'an unrecorded CPU'}{tag} ({env.get('hostname')}, {env.get('runtime')} "
            f"{env.get('runtime_version')}, {threads} thread{'s' if threads != 1 else ''})")


def summary(inputs: Inputs, deltas: Sequence[dict]) -> list[str]:
    """The answer in a few sentences: per bench file, the fastest model and precision, the most accurate
    one, what quantisation cost in accuracy and bought in speed; then what each model was fed."""
    lines = []
    for path, doc in inputs.docs:
        rows = [x for x in inputs.rows if x["bench_file"] == path]
        if not rows:
            continue
        threads = min(x["threads"] for x in rows)
        rows = [x for x in rows if x["threads"] == threads]
        fastest = min(rows, key=lambda x: x["latency"]["mean_us"])
        best = max(rows, key=lambda x: (x["metrics"]["accuracy"], -x["latency"]["mean_us"]))
        text = (f"{_device_sentence(doc['environment'], threads)}, the fastest is `{fastest['run']}` "
                f"{fastest['precision']} at {fastest['latency']['mean_us']:.0f} µs per image with "
                f"{pct(fastest['metrics']['accuracy'])} % test accuracy")
        if best is not fastest:
            text += (f"; the most accurate is `{best['run']}` {best['precision']}, "
                     f"{pct(best['metrics']['accuracy'])} % at {best['latency']['mean_us']:.0f} µs")
        here = [dl for dl in deltas if dl["bench_file"] == path and dl["threads"] == threads] if deltas else []
        if here:
            text += ". Quantised against float32: " + "; ".join(_delta_phrase(dl) for dl in here)
        lines.append(text + ".")
    if not lines:
        top = max(inputs.runs, key=lambda r: r.metrics["test"]["accuracy"])
        lines.append(f"No `edgenets bench` results were given (`--bench`), so this report has no TFLite latency or "
                     f"int8 accuracy; by Keras float test accuracy the best run is `{top.name}` "
                     f"({pct(top.metrics['test']['accuracy'])} %).")
    fed: dict[tuple, list[str]] = defaultdict(list)
    for r in inputs.runs:
        fed[(r.input_size, describe_preprocessing(r.preprocessing))].append(f"`{r.name}`")
    for x in inputs.rows:
        if x["run"] not in inputs.names and x.get("input_size"):
            key = (x["input_size"], _describe(x.get("preprocessing")))
            if f"`{x['run']}`" not in fed[key]:
                fed[key].append(f"`{x['run']}`")
    lines.append("Inputs: " + "; ".join(f"{', '.join(who)} take{'' if len(who) > 1 else 's'} {size} images, "
                                        f"preprocessed as {how}" for (size, how), who in fed.items()) + ".")
    return lines


def _delta_phrase(dl: dict) -> str:
    """"`run` int8: -0.54 pp accuracy, 1.51x slower, 50 % of the file size"."""
    speed = dl.get("speedup")
    if speed is None or speed <= 0:
        pace = "speed not compared"
    elif speed >= 1:
        pace = f"{speed:.2f}x faster"
    else:
        pace = f"{1 / speed:.2f}x slower"
    size = f", {100 * dl['size_ratio']:.0f} % of the file size" if dl.get("size_ratio") else ""
    return f"`{dl['run']}` {dl['precision']} {dl['accuracy_delta_pp']:+.2f} pp accuracy, {pace}{size}"


def _describe(spec: Any) -> str:
    try:
        return describe_preprocessing(spec)
    except (KeyError, TypeError, ValueError):
        return str(spec)


def answer_table(deltas: Sequence[dict], several_devices: bool) -> Optional[Table]:
    """Quantised vs float32, same run, same device: the headline table."""
    if not deltas:
        return None
    headers = ["run", "threads", "precision", *(["device"] if several_devices else []), "input", "float32 acc %",
               "acc %", "accuracy Δ pp", "F1 Δ", "float32 mean µs", "mean µs", "speedup ×", "per-round ×",
               "size ratio", "memory ratio"]
    from edgenets.bench.tables import format_range

    rows = [[dl["run"], dl["threads"], dl["precision"], *([dl["device"]] if several_devices else []), _input(dl),
             pct(dl["float_accuracy"]), pct(dl["accuracy"]), dl["accuracy_delta_pp"], dl["f1_delta"],
             _round(dl["float_mean_us"], 1), _round(dl["mean_us"], 1), dl["speedup"],
             format_range(dl.get("speedup_range")), dl["size_ratio"], dl["memory_ratio"]] for dl in deltas]
    return Table(headers, rows, caption="Quantised vs float32, same run, same device (speedup: float32 mean / "
                                        "quantised mean, above 1 when quantised is faster; per-round: the range of "
                                        "that ratio within interleaved rounds, bench --rounds)")


def environment_table(inputs: Inputs) -> Optional[Table]:
    from edgenets.bench.results import int8_capability

    if not inputs.docs:
        return None
    rows = []
    for p, d in inputs.docs:
        e = d["environment"]
        features = e.get("cpu_features")
        rows.append([Path(p).name, e.get("hostname"), e.get("cpu"),
                     " ".join(map(str, features)) if isinstance(features, list) else "not recorded",
                     (int8_capability(features) or "not recorded").replace("int8 kernels can use: ", ""),
                     e.get("cores"), f"{e.get('runtime')} {e.get('runtime_version')}",
                     ",".join(map(str, e.get("threads", []))), e.get("dataset")])
    headers = ["bench file", "host", "cpu", "SIMD", "int8 instructions", "cores", "runtime", "threads", "data"]
    return Table(headers, rows, caption="Where the TFLite models were benchmarked")


# --- the other results -----------------------------------------------------------------------------------------

def evaluation_table(runs: Sequence[Run]) -> Table:
    rows = []
    for r in runs:
        t, p = r.metrics["test"], r.metrics.get("perturbed_test") or {}
        fed = input_text(r.input_size, r.preprocessing)
        rows.append([r.name, "Keras float", pct(t["accuracy"]), pct(t["precision"]), pct(t["recall"]), pct(t["f1"]),
                     pct(p.get("accuracy")), fed])
        for precision, x in sorted(r.tflite.items()):
            m = x["metrics"]
            rows.append([r.name, f"TFLite {precision}", pct(m["accuracy"]), pct(m["precision"]), pct(m["recall"]),
                         pct(m["f1"]), None, fed])
    headers = ["run", "model", "accuracy %", "precision %", "recall %", "F1 %", "perturbed-test accuracy %", "input"]
    return Table(headers, rows, caption="Macro averages; the perturbed test set is each test image shifted and "
                                        "darkened once (seeded), the reference study's augmentation, kept as a "
                                        "robustness figure")


def per_class_tables(runs: Sequence[Run]) -> dict[str, Table]:
    out = {}
    for r in runs:
        per = r.metrics["test"].get("per_class") or []
        if not per:
            continue
        int8 = {c["label"]: c for c in (r.tflite.get("int8", {}).get("metrics", {}).get("per_class") or [])}
        out[r.name] = Table(["class", "precision %", "recall %", "F1 %", "support", "int8 F1 %"],
                            [[c["label"], pct(c["precision"]), pct(c["recall"]), pct(c["f1"]), c["support"],
                              pct(int8[c["label"]]["f1"]) if c["label"] in int8 else None] for c in per],
                            caption=f"{r.input_size} images, {len(per)} classes")
    return out


def latency_table(inputs: Inputs) -> Optional[Table]:
    from edgenets.bench import delegation

    if not inputs.rows:
        return None
    rows = [[x["run"], x["precision"], _input(x), x["device"], x["threads"], x["latency"]["mean_us"],
             x["latency"]["p50_us"], x["latency"]["p99_us"], _whole(x["latency"].get("images_per_s")),
             None if not (x.get("memory") or {}).get("peak_rss_increase_bytes")
             else x["memory"]["peak_rss_increase_bytes"] / 1e6,
             delegation.summary_cell(x.get("delegation"))] for x in inputs.rows]
    return Table(["run", "precision", "input", "device", "threads", "mean µs", "p50 µs", "p99 µs", "images/s",
                  "peak RSS MB", "delegated"], rows,
                 caption="Single-image inference (TFLite, LiteRT interpreter); delegated: nodes run inside the "
                         "delegate (XNNPACK on the CPU) of all nodes, and in how many partitions")


def delegation_notes(inputs: Inputs) -> list[str]:
    from edgenets.bench import delegation

    return delegation.notes([{**x, "model": x["run"]} for x in inputs.rows])


def profile_section(inputs: Inputs) -> Optional[ProfileSection]:
    """bench --profile results: per-op-type panels (float32 beside quantised), the tables, their validation."""
    from edgenets.bench import tables as bench_tables

    panels, type_rows, node_rows, checks = [], [], [], []
    for _, d in inputs.docs:
        results = d["results"]
        tag = f" {EMULATED_TAG}" if is_emulated(d["environment"]) else ""
        for key, f, q in bench_tables.profile_pairs(results):
            fp, qp = (f or {}).get("profile") or {}, (q or {}).get("profile") or {}
            f_by = {g["op"]: g["us"] for g in fp.get("by_type", [])}
            q_by = {g["op"]: g["us"] for g in qp.get("by_type", [])}
            order = sorted(set(f_by) | set(q_by), key=lambda op: -(q_by.get(op, f_by.get(op)) or 0.0))
            size = row_input_size(f or q or {})
            panels.append({"title": f"{key['model']} ({size or '?'} input), {key['threads']} thread(s), "
                                    f"{d['environment'].get('cpu')}{tag}",
                           "quant": key.get("precision"), "ops": [(op, f_by.get(op), q_by.get(op)) for op in order]})
        type_rows += bench_tables.profile_type_rows(results)
        node_rows += bench_tables.profile_node_rows(results)
        checks += bench_tables.profile_validation_lines(results)
    if not panels:
        return None
    by_type = Table(bench_tables.headers_for(bench_tables.PROFILE_TYPE_HEADERS, inputs.emulated), type_rows,
                    caption="Summary by node type")
    top = Table(bench_tables.headers_for(bench_tables.PROFILE_NODE_HEADERS, inputs.emulated), node_rows,
                caption="Top nodes by time (the quantised model's, beside the same node of the float32 model)")
    return ProfileSection(panels, by_type, top, checks)


def training_time_table(runs: Sequence[Run]) -> Table:
    return Table(["run", "input", "epochs", "training s", "images/s", "train images / epoch"],
                 [[r.name, r.input_size, *(r.metrics["training"].get(k) for k in
                                           ("epochs", "train_seconds", "images_per_second", "train_images_per_epoch"))]
                  for r in runs], caption="Training (this machine, wall-clock seconds of fit)")


def history_tables(runs: Sequence[Run]) -> dict[str, Table]:
    keys = ["epoch", "loss", "accuracy", "val_loss", "val_accuracy", "lr", "seconds"]
    return {r.name: Table(keys, [[h.get(k) for k in keys] for h in r.history]) for r in runs if r.history}


def reference_table(runs: Sequence[Run]) -> Optional[Table]:
    ref_runs = [r for r in runs if r.model in REFERENCE]
    if not ref_runs:
        return None
    return Table(["run", "params (ref / ours)", "ref accuracy %", "ours %", "ours, perturbed %", "ref F1 %",
                  "our macro F1 %", "ref training s", "our training s"],
                 [[r.name, f"{REFERENCE[r.model]['params']:,} / {r.metrics['training'].get('params', 0):,}",
                   pct(REFERENCE[r.model]["accuracy"]), pct(r.metrics["test"]["accuracy"]),
                   pct((r.metrics.get("perturbed_test") or {}).get("accuracy")), pct(REFERENCE[r.model]["f1"]),
                   pct(r.metrics["test"]["f1"]), REFERENCE[r.model]["seconds"],
                   r.metrics["training"].get("train_seconds")]
                  for r in ref_runs])


# --- the models ------------------------------------------------------------------------------------------------

def architecture(run: Run) -> Optional[Any]:
    """Layer statistics of the trained model (model.keras), via edgenets.models.complexity; None without it."""
    if not (run.path / "model.keras").is_file():
        return None
    from edgenets.errors import InputError, first_line, require
    from edgenets.models.complexity import model_stats

    keras = require("keras", "train", "edgenets report")
    try:
        model = keras.models.load_model(run.path / "model.keras", compile=False)
    except Exception as exc:  # noqa: BLE001 - keras raises many types for a corrupt or foreign file
        raise InputError(f"{run.path / 'model.keras'}: not a readable Keras model ({first_line(exc)})") from None
    return model_stats(model)


def models_table(runs: Sequence[Run], stats: dict[str, Any]) -> Table:
    rows = []
    for r in runs:
        st = stats.get(r.name)
        sizes = {m["precision"]: m["size_bytes"] for m in (r.export or {}).get("models", [])}
        rows.append([r.name, r.model, r.input_size, describe_preprocessing(r.preprocessing),
                     st.params if st else r.metrics["training"].get("params"), f"{st.macs / 1e6:.2f}" if st else None,
                     f"{sizes['float32'] / 1024:.1f}" if "float32" in sizes else None,
                     f"{sizes['int8'] / 1024:.1f}" if "int8" in sizes else None])
    return Table(["run", "model", "input", "preprocessing", "params", "MMACs / image", "float32 .tflite KiB",
                  "int8 .tflite KiB"], rows)


def layer_tables(runs: Sequence[Run], stats: dict[str, Any]) -> list[tuple[str, Table]]:
    """One layer table per model and input size (the first run of each), captioned with its totals."""
    out, seen = [], set()
    for r in runs:
        st = stats.get(r.name)
        if st is None or (r.model, r.input_size) in seen:
            continue
        seen.add((r.model, r.input_size))
        out.append((f"{r.model} ({r.input_size} input)",
                    Table(["layer", "type", "output shape", "params", "MACs"],
                          [[lay.name, lay.kind, str(tuple(lay.output_shape)), lay.params, lay.macs]
                           for lay in st.layers],
                          caption=f"{st.params:,} parameters, {st.macs:,} MACs per {r.input_size} image")))
    return out
