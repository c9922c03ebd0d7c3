"""``export_run``: a training run directory -> verified TFLite models, sidecars and export.json.

Order matters for "nothing half-done": everything that can be wrong with the input (run dir,
config, model, data, calibration size) is checked before the first file is written; each file
is written atomically; the quality gate (--max-drop) is checked last, so a failing gate keeps
the artefacts for inspection.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Iterable, Optional

import numpy as np

from edgenets import _io
from edgenets.errors import EdgenetsError, InputError, first_line, require
from edgenets.formats import IO_TYPES, PRECISIONS, get_precision
from edgenets.preprocessing import DEFAULT_PREPROCESSING, preprocess
from edgenets.preprocessing import check as check_preprocessing

REQUIRED_CONFIG = ("model", "dataset", "seed", "val_split", "num_classes", "class_names", "input_shape")
DEBUG_CSV = "quant_debug_int8.csv"
EXPORT_JSON = "export.json"


class QualityGateError(EdgenetsError):
    """int8 accuracy fell more than --max-drop points below float; ``result`` holds the export summary."""

    def __init__(self, message: str, result: dict):
        super().__init__(message)
        self.result = result


def _read_config(run_dir: Path) -> dict:
    path = run_dir / "config.json"
    if not path.is_file():
        raise InputError(f"{path}: not found (is {run_dir} a run directory made by `edgenets train`?)")
    try:
        config = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise InputError(f"{path}: not valid JSON ({exc})") from None
    if not isinstance(config, dict):
        raise InputError(f"{path}: expected a JSON object")
    missing = [k for k in REQUIRED_CONFIG if k not in config]
    if missing:
        raise InputError(f"{path}: missing keys {', '.join(missing)}")
    return config


def _load_model(path: Path) -> Any:
    if not path.is_file():
        raise InputError(f"{path}: not found (is {path.parent} a run directory made by `edgenets train`?)")
    keras = require("keras", "train", "edgenets export")
    try:
        return keras.models.load_model(path, compile=False)
    except Exception as exc:  # noqa: BLE001 - a corrupt/foreign file fails in many ways; one line for all
        raise InputError(f"{path}: not a readable Keras model ({first_line(exc)[:200]})") from None


def _precision_list(precisions: Iterable[str]) -> list[str]:
    wanted = {get_precision(p).name for p in precisions} | {"float32"}  # float32 is always exported
    return [name for name in PRECISIONS if name in wanted]  # table order


def _versions() -> dict:
    from edgenets._meta import dist_version

    return {
        "name": "tf.lite.TFLiteConverter.from_saved_model (keras Model.export, batch 1; batch resized by "
                "edgenets.export.optimize when the graph allows)",
        "tensorflow": dist_version("tensorflow"),
        "keras": dist_version("keras"),
        "ai_edge_litert": dist_version("ai-edge-litert"),
    }


def _graphs(model: Any, names: list[str], options: Any, progress: bool) -> list[tuple[Any, dict, list[str]]]:
    """[(Keras model to convert, transform record, precisions converted from it)]: one graph for all
    precisions, plus a second one for int8 when the int8-only stem rewrite applies to this model."""
    from edgenets.export.optimize import transform_keras

    def log(message: str) -> None:
        if progress:
            print(message, flush=True)

    logits = options.output == "logits"
    base, record = transform_keras(model, logits=logits, fold_shuffle=options.fold_shuffle, log=log)
    stem = {"applied": False, "detail": "int8 only" if options.int8_stem else "off (--no-int8-stem)"}
    if "int8" in names and options.int8_stem:
        stem_model, int8_record = transform_keras(model, logits=logits, fold_shuffle=options.fold_shuffle,
                                                  int8_stem=True, log=lambda message: None)
        if int8_record["int8_stem"]["applied"]:
            return [(base, {**record, "int8_stem": stem}, [n for n in names if n != "int8"]),
                    (stem_model, int8_record, ["int8"])]
        stem = int8_record["int8_stem"]
    return [(base, {**record, "int8_stem": stem}, names)]


def _finish_graph(blob: bytes, record: dict, options: Any) -> tuple[bytes, dict]:
    """The flatbuffer-level step (resizable batch) and the sidecar's "graph" block for one file."""
    from edgenets.export.optimize import graph_record, make_dynamic_batch

    if options.batch == "dynamic":
        blob, batch = make_dynamic_batch(blob)
    else:
        batch = {"batch": 1, "detail": "--batch 1"}
    return blob, graph_record(options, blob, record, batch)


def _keras_accuracy(model: Any, x: np.ndarray, y: np.ndarray, preprocessing: str) -> float:
    from sklearn.metrics import accuracy_score

    probs = model.predict(preprocess(x, preprocessing), batch_size=256, verbose=0)
    return float(accuracy_score(y, np.asarray(probs).argmax(axis=1)))


def export_run(run_dir: str | Path, *, precisions: Iterable[str] = ("float32",), calib_samples: int = 500,
               io_type: str = "int8", max_drop: Optional[float] = None, debug: bool = False,
               out: str | Path | None = None, progress: bool = True, graph: Optional[Any] = None) -> dict:
    """Export a run's model.keras to the requested precisions, verify each on the test set.

    ``graph`` is an :class:`edgenets.export.optimize.GraphOptions` (default: logits output, channel
    shuffles folded, the int8 stem rewrite, a resizable batch); what ran is recorded per file in the
    sidecar's ``graph`` block and in export.json.

    Returns the export summary (also written to ``export.json``). Raises ``InputError`` for a bad
    run dir or arguments (nothing written) and ``QualityGateError`` when ``max_drop`` is set and
    int8 accuracy is more than ``max_drop`` percentage points below the Keras float accuracy.
    """
    from sklearn.metrics import accuracy_score

    from edgenets.data import load_dataset, train_val_split
    from edgenets.export import calibrate, sidecar
    from edgenets.export.convert import convert_saved_model, op_versions, saved_model
    from edgenets.export.optimize import GraphOptions
    from edgenets.export.verify import predict

    # --- validate at the door: arguments first (cheap), then the run directory ---
    names = _precision_list(precisions)
    options = graph if graph is not None else GraphOptions()
    if not isinstance(options, GraphOptions):
        raise InputError(f"graph must be an edgenets.export.optimize.GraphOptions. Received: {type(options).__name__}")
    if calib_samples <= 0:
        raise InputError(f"--calib-samples must be > 0. Received: {calib_samples}")
    if io_type not in IO_TYPES:
        raise InputError(f"--io must be one of {', '.join(IO_TYPES)}. Received: {io_type!r}")
    if max_drop is not None and "int8" not in names:
        raise InputError("--max-drop compares int8 with float: add --int8")
    if debug and "int8" not in names:
        raise InputError("--debug reports int8 quantisation error: add --int8")
    run_dir = Path(run_dir)
    if not run_dir.is_dir():
        raise InputError(f"{run_dir}: run directory not found")
    config = _read_config(run_dir)
    # what the model was trained on; calibration and every accuracy check below must feed the same
    preprocessing = check_preprocessing(str(config.get("preprocessing", DEFAULT_PREPROCESSING)),
                                        f"{run_dir / 'config.json'}")
    model_path = run_dir / "model.keras"
    # every export is verified in LiteRT: fail now, not after minutes of conversion with files half done
    require("ai_edge_litert.interpreter", "device", "edgenets export (verifying the .tflite files)")
    model = _load_model(model_path)
    data = load_dataset(config["dataset"], quiet=True)
    seed, val_split = int(config["seed"]), float(config["val_split"] or 0.0)
    calib = None
    if any(PRECISIONS[n].needs_calibration for n in names):  # the formats table says which ones
        calib = calibrate.draw(data, calib_samples, seed=seed, val_split=val_split)
    if data.x_test is not None and data.y_test is not None:
        x_eval, y_eval, eval_split = data.x_test, data.y_test, "test"
    elif val_split:  # a data set without a test split: the held-out validation images are the next best
        _, _, x_eval, y_eval = train_val_split(data.x_train, data.y_train, val_split, seed)
        eval_split = "validation"
    else:
        raise InputError(f"{config['dataset']}: no test split and no validation split to measure accuracy on")

    # --- exact graph rewrites of a copy of the model (the trained model.keras is never modified) ---
    graphs = _graphs(model, names, options, progress)

    # --- convert everything in memory (one SavedModel per graph, several converters), then write ---
    blobs: dict[str, bytes] = {}
    report = None
    for graph_model, _, group in graphs:
        with saved_model(graph_model) as sm_dir:
            for name in group:
                blobs[name] = convert_saved_model(sm_dir, name, io_type=io_type, progress=progress,
                                                  representative=None if calib is None else calib.images,
                                                  preprocessing=preprocessing)
            if debug and "int8" in group:
                from edgenets.export.debug import quantization_report

                report = quantization_report(sm_dir, calib.images, preprocessing=preprocessing)
    graph_info = {}
    for graph_model, record, group in graphs:
        for name in group:
            blobs[name], graph_info[name] = _finish_graph(blobs[name], record, options)
    out_dir = Path(out) if out is not None else run_dir / "export"
    versions = _versions()
    source = {"run_dir": str(run_dir), "model": config["model"], "model_keras_sha256": _io.sha256_file(model_path),
              "dataset": config["dataset"]}
    float_acc = _keras_accuracy(model, x_eval, y_eval, preprocessing)
    rows = []
    for name in names:
        path = _io.write_bytes(out_dir / PRECISIONS[name].filename, blobs[name])
        side = sidecar.build(path, name, config=config, calibration=calib.info if PRECISIONS[name].needs_calibration else None,
                             versions=versions, source=source, ops=op_versions(blobs[name]), graph=graph_info[name])
        _io.write_json(out_dir / PRECISIONS[name].sidecar_name, side)
        preds = predict(path, x_eval, preprocessing=preprocessing)
        acc = float(accuracy_score(y_eval, preds.labels))
        rows.append({
            "precision": name, "file": path.name, "sidecar": PRECISIONS[name].sidecar_name,
            "size_bytes": side["size_bytes"], "sha256": side["sha256"],
            "input_dtype": side["input"]["dtype"], "output_dtype": side["output"]["dtype"],
            "accuracy": acc, "delta_pp": round((acc - float_acc) * 100, 4),
            "eval_batch": preds.batch_size,  # the evaluator's fastest batch size among those bit-identical to batch 1
            "graph": {"output": graph_info[name]["output"], "batch": graph_info[name]["batch"],
                      "applied": [t for t, info in graph_info[name]["transforms"].items() if info["applied"]]},
            # None, or XNNPACK could not prepare the file: it runs on builtin kernels (several times slower)
            "not_delegated": preds.not_delegated,
        })

    result: dict[str, Any] = {
        "run_dir": str(run_dir), "out_dir": str(out_dir), "model": config["model"], "dataset": config["dataset"],
        "evaluated_on": {"split": eval_split, "images": int(len(y_eval)), "runtime": "ai_edge_litert"},
        "keras_float_accuracy": float_acc, "models": rows,
        "calibration": None if calib is None else calib.info, "io_type": io_type if "int8" in names else None,
        "converter": versions, "graph_options": options.as_dict(), "max_drop_pp": max_drop, "gate": None,
        "debug_csv": None, "debug_worst": None,
    }
    if report is not None:
        from edgenets.export.debug import DEBUG_TOP, write_csv

        result["debug_csv"] = str(write_csv(report, out_dir / DEBUG_CSV))
        result["debug_worst"] = report[:DEBUG_TOP]
    gate = None
    if max_drop is not None:
        int8_acc = next(r["accuracy"] for r in rows if r["precision"] == "int8")
        drop = round((float_acc - int8_acc) * 100, 4)
        gate = {"int8_accuracy": int8_acc, "float_accuracy": float_acc, "drop_pp": drop,
                "max_drop_pp": max_drop, "passed": bool(drop <= max_drop)}
        result["gate"] = gate
    _io.write_json(out_dir / EXPORT_JSON, result)
    if gate is not None and not gate["passed"]:
        raise QualityGateError(
            f"int8 accuracy {gate['int8_accuracy']:.2%} is {gate['drop_pp']:.2f} pp below Keras float "
            f"{gate['float_accuracy']:.2%} (--max-drop {max_drop:g}); artefacts kept in {out_dir}", result)
    return result
