"""Export as named steps: a Keras model -> verified TFLite models, sidecars and export.json.

Two ways in, one pipeline (as ai-edge-quantizer splits calibrate / quantize / validate):

* :func:`export_run` -- a run directory made by ``edgenets train``: its ``config.json`` (read by
  :mod:`edgenets.runconfig`) says which data set, split, seed and preprocessing the model was
  trained with, and export reuses them exactly.
* :func:`export_keras` -- the user's own ``.keras`` file and a data set (``--dataset``): the data is
  loaded at the model's input size (an image folder is resized to it and converted to its colour
  unless ``--image-size`` / ``--color`` say otherwise), the class names come from the data set, the
  preprocessing is ``--preprocessing`` (default pixels/255). There is no training split to protect:
  calibration draws from all training images (seed 0), and accuracy is measured on the test split,
  or, for a data set without one, on a seeded, stratified 20 % of the training images held out from
  calibration (the model may have been trained on them: that number is optimistic, and says so).

The steps (:func:`run_steps`): check arguments -> load the model and the data (both checked) ->
choose the evaluation images -> draw calibration images -> rewrite graphs -> convert -> write files
-> validate (accuracy of every file) -> export.json and the quality gate.

Order matters for "nothing half-done": everything that can be wrong with the input (arguments,
config, model, data, the model's fit to the data, calibration size) is checked before the first file
is written; each file is written atomically; the quality gate (--max-drop) is checked last, so a
failing gate keeps the artefacts for inspection.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable, Optional

import numpy as np

from edgenets import _io
from edgenets.errors import EdgenetsError, InputError, first_line, require
from edgenets.formats import IO_TYPES, PRECISIONS, get_precision
from edgenets.preprocessing import DEFAULT_PREPROCESSING, MEAN_STD, Spec, describe, preprocess
from edgenets.preprocessing import check as check_preprocessing

DEBUG_CSV = "quant_debug_int8.csv"
EXPORT_JSON = "export.json"
KERAS_SUFFIXES = (".keras", ".h5")  # what export_keras loads (keras.models.load_model)
USER_SEED = 0  # a user model's calibration draw and held-out split
USER_EVAL_FRACTION = 0.2  # held out for accuracy when a user's data set has no test split
SUSPICIOUS = 1.5  # a user's model scoring under 1.5x chance on its own data gets a warning


class QualityGateError(EdgenetsError):
    """int8 accuracy fell more than --max-drop points below float; ``result`` holds the export summary."""

    def __init__(self, message: str, result: dict):
        super().__init__(message)
        self.result = result


@dataclass
class Plan:
    """The export's arguments, checked: what to write and how."""

    precisions: list[str]  # table order, float32 always first
    calib_samples: Optional[int]  # None: the default (calibrate.DEFAULT_SAMPLES, or all there is)
    io_type: str
    max_drop: Optional[float]
    debug: bool
    graph: Any  # edgenets.export.optimize.GraphOptions
    progress: bool

    def log(self, message: str) -> None:
        if self.progress:
            print(message, flush=True)

    @property
    def needs_calibration(self) -> bool:
        return any(PRECISIONS[n].needs_calibration for n in self.precisions)  # the formats table says which


@dataclass
class Source:
    """What is exported and what it is checked on: the Keras model, its data, how pixels become inputs."""

    model: Any  # the Keras model as trained (never modified)
    model_path: Path
    name: str  # the model's name in tables and export.json
    data: Any  # edgenets.data.Dataset
    dataset: str  # the data set as given (a built-in name or a path)
    preprocessing: Spec
    input_shape: tuple[int, int, int]  # (H, W, C) the converted graph takes
    seed: int
    val_split: float  # the training images calibration must not draw from (held out)
    labels: list[str]
    default_out: Path
    source: dict  # the sidecar's "source" block
    run_dir: Optional[Path] = None
    notes: list[str] = field(default_factory=list)  # what export decided for the user, logged and in export.json


@dataclass
class Evaluation:
    """The labelled images every accuracy is measured on."""

    x: np.ndarray
    y: np.ndarray
    split: str  # "test" | "validation" | "held-out"
    detail: str


# ------------------------------------------------------------------------------------------ entry points


def export_run(run_dir: str | Path, *, precisions: Iterable[str] = ("float32",), calib_samples: Optional[int] = None,
               io_type: str = "int8", max_drop: Optional[float] = None, debug: bool = False,
               out: str | Path | None = None, progress: bool = True, graph: Optional[Any] = None) -> dict:
    """Export a run's model.keras to the requested precisions, verify each on the test set.

    ``calib_samples`` None: 500 calibration images, or all of the training split when it has fewer
    (said in the log and in export.json); an explicit number larger than the split is an error.
    ``graph`` is an :class:`edgenets.export.optimize.GraphOptions` (default: logits output, channel
    shuffles folded, the int8 stem rewrite, a resizable batch); what ran is recorded per file in the
    sidecar's ``graph`` block and in export.json.

    Returns the export summary (also written to ``export.json``). Raises ``InputError`` for a bad
    run dir or arguments (nothing written) and ``QualityGateError`` when ``max_drop`` is set and
    int8 accuracy is more than ``max_drop`` percentage points below the Keras float accuracy.
    """
    plan = check_arguments(precisions, calib_samples, io_type, max_drop, debug, graph, progress)
    return run_steps(plan, load_run(run_dir), out)


def export_keras(model_path: str | Path, dataset: Any, *, preprocessing: Optional[str | dict] = None,
                 color: Optional[str] = None, image_size: Optional[tuple[int, int]] = None,
                 image_shape: Optional[tuple[int, int, int]] = None, precisions: Iterable[str] = ("float32",),
                 calib_samples: Optional[int] = None, io_type: str = "int8", max_drop: Optional[float] = None,
                 debug: bool = False, out: str | Path | None = None, progress: bool = True,
                 graph: Optional[Any] = None) -> dict:
    """Export the user's own Keras model (a ``.keras`` file), calibrated and verified on ``dataset``.

    ``dataset`` is anything ``edgenets.data.load_dataset`` takes (or a loaded ``Dataset``);
    ``color`` / ``image_size`` / ``image_shape`` are its loading options (an image folder defaults to
    the model's input size and colour). ``preprocessing``: a name (``"pixels/255"``, the default;
    ``"pixels"``, ``"pixels/127.5-1"``), ``"mean-std"`` (computed on the training images), or a
    mean-std block (a dict, or its JSON text). ``out`` defaults to ``<model stem>_export/`` beside
    the model file. Other arguments and the result: :func:`export_run`.
    """
    plan = check_arguments(precisions, calib_samples, io_type, max_drop, debug, graph, progress)
    source = load_user_model(model_path, dataset, preprocessing=preprocessing, color=color,
                             image_size=image_size, image_shape=image_shape)
    return run_steps(plan, source, out)


def run_steps(plan: Plan, src: Source, out: str | Path | None) -> dict:
    """The steps both entry points share, in order; nothing is written before step 5."""
    for note in src.notes:
        plan.log(note)
    evaluation = evaluation_split(src)  # 1. what accuracy is measured on
    calib = calibrate(src, plan)  # 2. calibration images (int8), drawn away from the evaluation images
    graphs = rewrite_graphs(src.model, plan)  # 3. exact graph rewrites of a copy of the model
    blobs, graph_info, report = convert(graphs, plan, calib, src)  # 4. convert / quantise, in memory
    out_dir = Path(out) if out is not None else src.default_out
    rows = write_files(out_dir, blobs, graph_info, src, calib)  # 5. .tflite files + sidecars
    result = validate(out_dir, rows, src, evaluation, plan, calib)  # 6. accuracy of every file vs Keras float
    return finish(result, out_dir, plan, report)  # 7. export.json, the quality gate


# ------------------------------------------------------------------------------------------ step 0: check


def check_arguments(precisions: Iterable[str], calib_samples: Optional[int], io_type: str, max_drop: Optional[float],
                    debug: bool, graph: Optional[Any], progress: bool) -> Plan:
    """The arguments checked before anything is loaded (cheap, names the argument)."""
    from edgenets.export.optimize import GraphOptions

    wanted = {get_precision(p).name for p in precisions} | {"float32"}  # float32 is always exported
    names = [name for name in PRECISIONS if name in wanted]  # table order
    options = graph if graph is not None else GraphOptions()
    if not isinstance(options, GraphOptions):
        raise InputError(f"graph must be an edgenets.export.optimize.GraphOptions. Received: {type(options).__name__}")
    if calib_samples is not None and calib_samples <= 0:
        raise InputError(f"--calib-samples must be > 0. Received: {calib_samples}")
    if io_type not in IO_TYPES:
        raise InputError(f"--io must be one of {', '.join(IO_TYPES)}. Received: {io_type!r}")
    if max_drop is not None and "int8" not in names:
        raise InputError("--max-drop compares int8 with float: add --int8")
    if debug and "int8" not in names:
        raise InputError("--debug reports int8 quantisation error: add --int8")
    return Plan(names, calib_samples, io_type, max_drop, debug, options, progress)


# ------------------------------------------------------------------------------------------ step 0: load


def _load_model(path: Path, missing_hint: str) -> Any:
    if not path.is_file():
        raise InputError(f"{path}: {'is a directory, expected a Keras model file' if path.is_dir() else 'not found'}"
                         f"{missing_hint}")
    keras = require("keras", "train", "edgenets export")
    try:
        return keras.models.load_model(path, compile=False)
    except Exception as exc:  # noqa: BLE001 - a corrupt/foreign file fails in many ways; one line for all
        raise InputError(f"{path}: not a readable Keras model ({first_line(exc)[:200]})") from None


def _shape_text(shape: Iterable[Any]) -> str:
    return "x".join("?" if d is None else str(int(d)) for d in shape)


def check_fit(model: Any, model_path: Path, data: Any, dataset: str, fix: str = "") -> tuple[int, int, int]:
    """The model takes one image input and gives one (None, K) class-score output that fit ``data``;
    ``fix`` ends the message of a size mismatch (what the user can do about it).

    Returns the (H, W, C) the converted graph takes (an open height/width is the data's).
    """
    inputs, outputs = list(getattr(model, "inputs", None) or []), list(getattr(model, "outputs", None) or [])
    if len(inputs) != 1 or len(outputs) != 1:
        raise InputError(f"{model_path}: the model has {len(inputs)} input(s) and {len(outputs)} output(s); "
                         f"edgenets export takes one image input and one class-score output")
    in_shape, out_shape = tuple(inputs[0].shape), tuple(outputs[0].shape)
    data_shape = tuple(int(d) for d in data.image_shape)
    if len(in_shape) != 4 or in_shape[-1] is None:
        raise InputError(f"{model_path}: input shape {in_shape} is not a batch of images (None, height, width, channels)")
    size = tuple(d if d is not None else s for d, s in zip(in_shape[1:], data_shape))
    if size != data_shape:
        raise InputError(f"{model_path}: the model takes {_shape_text(in_shape[1:])} images (HxWxC) but "
                         f"{dataset} has {_shape_text(data_shape)} images{fix}")
    if len(out_shape) != 2 or out_shape[-1] is None:
        raise InputError(f"{model_path}: output shape {out_shape} is not a class-score output (None, K)")
    k = int(out_shape[-1])
    if k != data.num_classes:
        hint = " (a single sigmoid unit: export needs one score per class, e.g. Dense(2, softmax))" if k == 1 else ""
        raise InputError(f"{model_path}: the model outputs {k} class scores but {dataset} has "
                         f"{data.num_classes} classes{hint}")
    return size  # type: ignore[return-value]


def load_run(run_dir: str | Path) -> Source:
    """A run directory's model and data, as its config.json says training saw them."""
    from edgenets import runconfig

    config = runconfig.read(run_dir)  # one-line errors: missing dir, missing/corrupt config, bad keys
    run_dir = config.run_dir
    # every export is verified in LiteRT: fail now, not after minutes of conversion with files half done
    require("ai_edge_litert.interpreter", "device", "edgenets export (verifying the .tflite files)")
    model_path = run_dir / "model.keras"
    model = _load_model(model_path, f" (is {run_dir} a run directory made by `edgenets train`?)")
    data = config.load_data()
    if data.y_train is None:
        raise InputError(f"{config.dataset}: training images have no labels")
    shape = check_fit(model, model_path, data, config.dataset, f" (has {config.dataset} changed since training?)")
    source = {"kind": "run", "run_dir": str(run_dir), "model": config.model,
              "model_keras_sha256": _io.sha256_file(model_path), "dataset": config.dataset}
    return Source(model=model, model_path=model_path, name=config.model, data=data, dataset=config.dataset,
                  preprocessing=config.preprocessing, input_shape=shape, seed=config.seed,
                  val_split=config.val_split, labels=list(config.class_names), default_out=run_dir / "export",
                  source=source, run_dir=run_dir)


def _parse_preprocessing(value: Optional[str | dict]) -> Optional[Spec]:
    """--preprocessing as given: None (the default), "mean-std" (computed later), a name or a mean-std block."""
    if value is None or value == MEAN_STD:
        return value
    if isinstance(value, str) and value.lstrip().startswith("{"):
        try:
            value = json.loads(value)
        except json.JSONDecodeError as exc:
            raise InputError(f"--preprocessing: not valid JSON ({exc})") from None
    return check_preprocessing(value, "--preprocessing")


def _is_image_folder(dataset: Any) -> bool:
    """A folder of class sub-folders (or train/ test/ image folders), not IDX or CSV files: the
    one kind of source that can be loaded at any size and colour."""
    path = Path(str(dataset)).expanduser()
    if not path.is_dir() or (path / "train.csv").is_file():
        return False
    try:
        return not any(f.is_file() and "idx" in f.name for f in path.iterdir())
    except OSError:
        return False


def _user_data(dataset: Any, model: Any, given: Any) -> tuple[Any, dict, list[str]]:
    """The data set loaded to fit the model where the user left it open (``given``: the LoadOptions the
    user gave); returns (data, its load options, notes saying what was chosen)."""
    from edgenets.data import Dataset, load_dataset

    if isinstance(dataset, Dataset):
        return dataset, dict(getattr(dataset, "load_options", {}) or {}), []
    options = {k: v for k, v in (("color", given.color), ("image_size", given.image_size),
                                 ("image_shape", given.image_shape)) if v is not None}
    notes = []
    in_shape = tuple(model.inputs[0].shape) if len(getattr(model, "inputs", None) or []) == 1 else ()
    if len(in_shape) == 4 and given.image_shape is None and _is_image_folder(dataset):
        height, width, channels = in_shape[1:]
        if given.image_size is None and height is not None and width is not None:
            options["image_size"] = (int(height), int(width))
            notes.append(f"data: images resized to {height}x{width}, the model's input size (--image-size to change)")
        if given.color is None and channels in (1, 3):
            options["color"] = "grey" if channels == 1 else "rgb"
            notes.append(f"data: images loaded as {options['color']}, the model's {channels} input channel(s) "
                         f"(--color to change)")
    data = load_dataset(str(dataset), quiet=True, **options)
    return data, dict(getattr(data, "load_options", None) or options), notes


def load_user_model(model_path: str | Path, dataset: Any, *, preprocessing: Optional[str | dict] = None,
                    color: Optional[str] = None, image_size: Optional[tuple[int, int]] = None,
                    image_shape: Optional[tuple[int, int, int]] = None) -> Source:
    """The user's .keras model and the data set to calibrate and verify it on, checked against each other."""
    from edgenets.data.options import LoadOptions
    from edgenets.export.calibrate import training_pool
    from edgenets.preprocessing import mean_std

    model_path = Path(model_path)
    if dataset is None:
        raise InputError(f"{model_path}: --dataset is required to export a Keras model file "
                         f"(the images to calibrate and verify it on)")
    # typos fail before minutes of loading
    spec = _parse_preprocessing(preprocessing)
    given = LoadOptions.parse(color, image_size, image_shape)
    require("ai_edge_litert.interpreter", "device", "edgenets export (verifying the .tflite files)")
    model = _load_model(model_path, "")
    data, options, notes = _user_data(dataset, model, given)
    name = str(dataset) if not hasattr(dataset, "x_train") else data.name
    if data.y_train is None:
        raise InputError(f"{name}: the images have no labels; export needs labelled images to verify accuracy")
    shape = check_fit(model, model_path, data, name, " (--image-size HxW / --color convert them)")
    if any(d is None for d in tuple(model.inputs[0].shape)[1:3]):
        notes.append(f"model: its input size is open; exported for the data's {shape[0]}x{shape[1]}")
    held_out = 0.0 if data.x_test is not None and data.y_test is not None else USER_EVAL_FRACTION
    if spec is None:
        spec = DEFAULT_PREPROCESSING
        notes.append(f"preprocessing: {spec} (the default; --preprocessing if the model was trained on other inputs)")
    elif spec == MEAN_STD:
        pool = training_pool(data, held_out, USER_SEED)
        spec = mean_std(data.x_train[pool])
        notes.append(f"preprocessing: {describe(spec)} (computed on {len(pool)} training images)")
    source = {"kind": "keras", "model": model_path.stem, "model_keras": str(model_path),
              "model_keras_sha256": _io.sha256_file(model_path), "dataset": name, "data_options": options}
    return Source(model=model, model_path=model_path, name=model_path.stem, data=data, dataset=name,
                  preprocessing=spec, input_shape=shape, seed=USER_SEED, val_split=held_out,
                  labels=[str(c) for c in data.class_names], default_out=model_path.parent / f"{model_path.stem}_export",
                  source=source, notes=notes)


# ------------------------------------------------------------------------------------------ steps 1-2


def evaluation_split(src: Source) -> Evaluation:
    """The test split; else the images held out from training (a run's validation split, or a user
    data set's held-out part); never an image calibration may draw."""
    from edgenets.data import train_val_split

    data = src.data
    if data.x_test is not None and data.y_test is not None:
        return Evaluation(data.x_test, data.y_test, "test", f"the test split of {src.dataset}")
    if not src.val_split:
        raise InputError(f"{src.dataset}: no test split and no validation split to measure accuracy on")
    _, _, x, y = train_val_split(data.x_train, data.y_train, src.val_split, src.seed)
    if src.run_dir is not None:
        return Evaluation(x, y, "validation", f"the run's validation split ({src.val_split:g} of the training "
                                              f"images, seed {src.seed}; {src.dataset} has no test split)")
    return Evaluation(x, y, "held-out", f"{len(y)} training images held out from calibration ({src.val_split:.0%}, "
                                        f"stratified, seed {src.seed}; {src.dataset} has no test split; the model "
                                        f"may have been trained on them)")


def calibrate(src: Source, plan: Plan) -> Optional[Any]:
    """The int8 calibration images (None when no precision needs them): stratified, seeded, from the training
    images training fitted on; how many is logged ("calibration: 405 images (all of the training split ...)")."""
    from edgenets.export import calibrate as calibration

    if not plan.needs_calibration:
        return None
    calib = calibration.draw(src.data, plan.calib_samples, seed=src.seed, val_split=src.val_split)
    plan.log(calib.summary)
    return calib


# ------------------------------------------------------------------------------------------ steps 3-4


def rewrite_graphs(model: Any, plan: Plan) -> list[tuple[Any, dict, list[str]]]:
    """[(Keras model to convert, transform record, precisions converted from it)]: one graph for all
    precisions, plus a second one for int8 when the int8-only stem rewrite applies to this model."""
    from edgenets.export.optimize import transform_keras

    options, names = plan.graph, plan.precisions
    logits = options.output == "logits"
    base, record = transform_keras(model, logits=logits, fold_shuffle=options.fold_shuffle, log=plan.log)
    stem = {"applied": False, "detail": "int8 only" if options.int8_stem else "off (--no-int8-stem)"}
    if "int8" in names and options.int8_stem:
        stem_model, int8_record = transform_keras(model, logits=logits, fold_shuffle=options.fold_shuffle,
                                                  int8_stem=True, log=lambda message: None)
        if int8_record["int8_stem"]["applied"]:
            return [(base, {**record, "int8_stem": stem}, [n for n in names if n != "int8"]),
                    (stem_model, int8_record, ["int8"])]
        stem = int8_record["int8_stem"]
    return [(base, {**record, "int8_stem": stem}, names)]


def convert(graphs: list[tuple[Any, dict, list[str]]], plan: Plan, calib: Optional[Any],
            src: Source) -> tuple[dict[str, bytes], dict[str, dict], Optional[list]]:
    """Every precision converted in memory (one SavedModel per graph, several converters), the batch made
    resizable where asked; returns ({precision: flatbuffer}, {precision: sidecar graph block}, debug rows)."""
    from edgenets.export.convert import convert_saved_model, saved_model
    from edgenets.export.optimize import graph_record, make_dynamic_batch

    blobs: dict[str, bytes] = {}
    report = None
    for graph_model, _, group in graphs:
        with saved_model(graph_model, image_shape=src.input_shape) as sm_dir:
            for name in group:
                blobs[name] = convert_saved_model(sm_dir, name, io_type=plan.io_type, progress=plan.progress,
                                                  representative=None if calib is None else calib.images,
                                                  preprocessing=src.preprocessing)
            if plan.debug and "int8" in group:
                from edgenets.export.debug import quantization_report

                report = quantization_report(sm_dir, calib.images, preprocessing=src.preprocessing)
    graph_info = {}
    for _, record, group in graphs:
        for name in group:
            if plan.graph.batch == "dynamic":
                blobs[name], batch = make_dynamic_batch(blobs[name])
            else:
                batch = {"batch": 1, "detail": "--batch 1"}
            graph_info[name] = graph_record(plan.graph, blobs[name], record, batch)
    return blobs, graph_info, report


# ------------------------------------------------------------------------------------------ steps 5-7


def _versions() -> dict:
    from edgenets._meta import dist_version

    return {
        "name": "tf.lite.TFLiteConverter.from_saved_model (keras Model.export, batch 1; batch resized by "
                "edgenets.export.optimize when the graph allows)",
        "tensorflow": dist_version("tensorflow"),
        "keras": dist_version("keras"),
        "ai_edge_litert": dist_version("ai-edge-litert"),
    }


def write_files(out_dir: Path, blobs: dict[str, bytes], graph_info: dict[str, dict], src: Source,
                calib: Optional[Any]) -> list[dict]:
    """Each .tflite and its sidecar, written atomically; returns one row per file (precision, paths, sidecar)."""
    from edgenets.export import sidecar
    from edgenets.export.convert import op_versions

    versions = _versions()
    data_options = dict(getattr(src.data, "load_options", None) or src.source.get("data_options") or {})
    rows = []
    for name in [n for n in PRECISIONS if n in blobs]:  # table order
        fmt, blob = PRECISIONS[name], blobs[name]
        path = _io.write_bytes(out_dir / fmt.filename, blob)
        side = sidecar.build(path, name, labels=src.labels, preprocessing=src.preprocessing,
                             input_shape=src.input_shape,
                             calibration=calib.info if fmt.needs_calibration and calib is not None else None,
                             versions=versions, source=src.source, ops=op_versions(blob), graph=graph_info[name],
                             data_options=data_options)
        _io.write_json(out_dir / fmt.sidecar_name, side)
        rows.append({"precision": name, "path": path, "sidecar": side})
    return rows


def _keras_accuracy(model: Any, x: np.ndarray, y: np.ndarray, preprocessing: Spec) -> float:
    from sklearn.metrics import accuracy_score

    probs = model.predict(preprocess(x, preprocessing), batch_size=256, verbose=0)
    return float(accuracy_score(y, np.asarray(probs).argmax(axis=1)))


def validate(out_dir: Path, written: list[dict], src: Source, evaluation: Evaluation, plan: Plan,
             calib: Optional[Any]) -> dict:
    """Every written file run in LiteRT on the evaluation images, next to the Keras model's own accuracy:
    the export summary (without the gate)."""
    from sklearn.metrics import accuracy_score

    from edgenets.export.verify import predict

    float_acc = _keras_accuracy(src.model, evaluation.x, evaluation.y, src.preprocessing)
    warnings = []
    chance = 1 / len(src.labels)
    if src.run_dir is None and float_acc < SUSPICIOUS * chance:
        # a user's model near chance on its own data: most likely a different class order or preprocessing
        warnings.append(f"the Keras model itself scores {float_acc:.1%} on these images (chance {chance:.1%}): check "
                        f"that its classes are in the data set's order ({', '.join(src.labels[:10])}"
                        f"{', ...' if len(src.labels) > 10 else ''}) and its --preprocessing "
                        f"({describe(src.preprocessing)})")
    rows = []
    for item in written:
        name, path, side = item["precision"], item["path"], item["sidecar"]
        preds = predict(path, evaluation.x, preprocessing=src.preprocessing)
        acc = float(accuracy_score(evaluation.y, preds.labels))
        graph = side["graph"]
        rows.append({
            "precision": name, "file": path.name, "sidecar": PRECISIONS[name].sidecar_name,
            "size_bytes": side["size_bytes"], "sha256": side["sha256"],
            "input_dtype": side["input"]["dtype"], "output_dtype": side["output"]["dtype"],
            "accuracy": acc, "delta_pp": round((acc - float_acc) * 100, 4),
            "eval_batch": preds.batch_size,  # the evaluator's fastest batch size among those bit-identical to batch 1
            "graph": {"output": graph["output"], "batch": graph["batch"],
                      "applied": [t for t, info in graph["transforms"].items() if info["applied"]]},
            # None, or XNNPACK could not prepare the file: it runs on builtin kernels (several times slower)
            "not_delegated": preds.not_delegated,
        })
    return {
        "run_dir": None if src.run_dir is None else str(src.run_dir), "out_dir": str(out_dir),
        "model": src.name, "dataset": src.dataset, "source": src.source,
        "evaluated_on": {"split": evaluation.split, "images": int(len(evaluation.y)), "runtime": "ai_edge_litert",
                         "detail": evaluation.detail},
        "keras_float_accuracy": float_acc, "models": rows,
        "preprocessing": src.preprocessing, "image": written[0]["sidecar"]["image"], "labels": src.labels,
        "calibration": None if calib is None else calib.info,
        "io_type": plan.io_type if "int8" in plan.precisions else None,
        "converter": _versions(), "graph_options": plan.graph.as_dict(), "max_drop_pp": plan.max_drop, "gate": None,
        "debug_csv": None, "debug_worst": None, "notes": list(src.notes), "warnings": warnings,
    }


def finish(result: dict, out_dir: Path, plan: Plan, report: Optional[list]) -> dict:
    """The debug CSV, the quality gate's verdict, export.json; raises QualityGateError (files kept) when it fails."""
    if report is not None:
        from edgenets.export.debug import DEBUG_TOP, write_csv

        result["debug_csv"] = str(write_csv(report, out_dir / DEBUG_CSV))
        result["debug_worst"] = report[:DEBUG_TOP]
    gate = None
    if plan.max_drop is not None:
        int8_acc = next(r["accuracy"] for r in result["models"] if r["precision"] == "int8")
        float_acc = result["keras_float_accuracy"]
        drop = round((float_acc - int8_acc) * 100, 4)
        gate = {"int8_accuracy": int8_acc, "float_accuracy": float_acc, "drop_pp": drop,
                "max_drop_pp": plan.max_drop, "passed": bool(drop <= plan.max_drop)}
        result["gate"] = gate
    _io.write_json(out_dir / EXPORT_JSON, result)
    if gate is not None and not gate["passed"]:
        raise QualityGateError(
            f"int8 accuracy {gate['int8_accuracy']:.2%} is {gate['drop_pp']:.2f} pp below Keras float "
            f"{gate['float_accuracy']:.2%} (--max-drop {plan.max_drop:g}); artefacts kept in {out_dir}", result)
    return result
