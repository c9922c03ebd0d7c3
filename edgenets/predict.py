"""``edgenets predict``: run an exported .tflite on the user's own inputs and report the top-k classes.

Inputs are image files, folders of them (searched recursively, in sorted order), an unlabelled CSV of
pixel rows, or an NPZ of images. Images are decoded with :func:`edgenets.data.images.read_image` at the
model's input size and colour; then everything goes the way ``edgenets bench`` goes
(:func:`edgenets.inference.batching.scores`): the sidecar's preprocessing, the model's own input
quantisation, batches only where bit-identical to batch 1, dequantised outputs. So a top-1 here is
bench's prediction for the same image (tests/test_predict.py checks it).

Probabilities: a graph that outputs logits (the sidecar's ``graph.output``, what ``edgenets export``
writes by default) gets a softmax; a model without that record gets one unless its outputs already
sum to 1. Class names come from the sidecar's ``labels``, else the output index.

An input that cannot be read is one line naming it; the rest are still predicted. Nothing here
imports TensorFlow: like bench it runs on a board with ``pip install "edgenets[device]"``.
"""

from __future__ import annotations

import csv
import functools
import io
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Optional, Sequence

import numpy as np

from edgenets.errors import InputError, first_line
from edgenets.inference.tensors import shape_text

SCHEMA = "edgenets.predict/1"
DEFAULT_TOP_K = 3
NPZ_KEYS = ("x", "x_test", "images")  # the array an NPZ's images are read from, first found (else its only array)
OUTPUT_SUFFIXES = (".csv", ".json")
CSV_HEADER = ("input", "rank", "class", "index", "probability")

Log = Optional[Callable[[str], None]]


# ------------------------------------------------------------------ the model


@dataclass
class Model:
    """A loaded model and everything needed to feed it and read its outputs."""

    path: Path
    sidecar: Optional[dict]
    runtime: Any  # edgenets.bench.runtime.Runtime
    device: str  # "cpu", or "cpu-ref" when XNNPACK could not prepare the model
    make: Callable[[], Any]  # batch-1 interpreters
    make_batched: Callable[[], Any]  # interpreters for the batched path (more threads; outputs held bit-identical)
    input: dict  # the interpreter's input detail
    output: dict
    shape: tuple[int, int, int]  # (H, W, C) of one input image
    preprocessing: Any  # edgenets.preprocessing.Spec
    labels: list[str]
    labels_from: str  # "sidecar" or "index"
    output_kind: Optional[str]  # the sidecar's graph.output: "logits", "probabilities", "scores" or None
    precision: str
    not_delegated: Optional[dict] = None


def _output_kind(sidecar: Optional[dict]) -> Optional[str]:
    graph = (sidecar or {}).get("graph")
    kind = graph.get("output") if isinstance(graph, dict) else None
    return kind if isinstance(kind, str) else None


def load_model(path: str | Path, *, runtime: str = "auto", log: Log = None) -> Model:
    """Check and load ``path`` with the bench's runtime resolution; a bad model is one InputError."""
    from edgenets.bench.ops import FlatbufferError, check_header, parse_op_counts
    from edgenets.bench.runner import eval_threads, model_preprocessing, read_sidecar, sidecar_labels
    from edgenets.bench.runtime import resolve_runtime
    from edgenets.formats import precision_from_filename
    from edgenets.inference.litert import load_with_fallback
    from edgenets.inference.tensors import image_shape, infer_precision

    path = Path(path)
    reason = check_header(path)
    if reason is not None:
        raise InputError(f"{path}: {reason}")
    try:
        parse_op_counts(path.read_bytes())  # bounds-checked walk: a truncated file fails here, not in the runtime
    except (FlatbufferError, OSError) as exc:
        raise InputError(f"{path}: not a valid TFLite model: {first_line(exc)}") from None
    sidecar = read_sidecar(path)
    preprocessing = model_preprocessing(path, sidecar)
    rt = resolve_runtime(runtime)

    def make(builtin: bool, threads: int = 1) -> Any:
        return rt.make_interpreter(str(path), threads=threads, device="cpu-ref" if builtin else "cpu")

    try:
        factory, probe, not_delegated = load_with_fallback(make)
    except Exception as exc:  # noqa: BLE001 - whatever the runtime raises, the model is what is wrong
        raise InputError(f"{path}: {rt.describe()} cannot load it ({first_line(exc)})") from None
    builtin = not_delegated is not None
    if builtin and log:
        log(f"{path}: XNNPACK could not prepare this model ({not_delegated['message']}); running it on builtin kernels")
    inputs, outputs = probe.get_input_details(), probe.get_output_details()
    if len(inputs) != 1 or len(outputs) != 1:
        raise InputError(f"{path}: has {len(inputs)} inputs and {len(outputs)} outputs; predict runs image "
                         f"classifiers with one input and one output")
    inp, out = inputs[0], outputs[0]
    shape = image_shape(inp)
    if shape is None or shape[2] not in (1, 3):
        raise InputError(f"{path}: input tensor {[int(d) for d in inp['shape']]} is not an image batch (N, H, W, C) "
                         f"with 1 (grey) or 3 (rgb) channels")
    num_classes = int(np.prod([int(d) for d in out["shape"][1:]]))
    labels = sidecar_labels(sidecar)
    labels_from = "sidecar"
    if labels is None or len(labels) != num_classes:
        if labels is not None and log:
            log(f"{path.with_suffix('.json')}: {len(labels)} labels for {num_classes} outputs; showing output indices")
        labels, labels_from = [str(i) for i in range(num_classes)], "index"
    precision = str((sidecar or {}).get("precision") or precision_from_filename(path) or infer_precision(probe))
    return Model(path=path, sidecar=sidecar, runtime=rt, device="cpu-ref" if builtin else "cpu", make=factory,
                 make_batched=functools.partial(make, builtin, max(1, eval_threads())), input=inp, output=out,
                 shape=shape, preprocessing=preprocessing, labels=labels, labels_from=labels_from,
                 output_kind=_output_kind(sidecar), precision=precision, not_delegated=not_delegated)


# ------------------------------------------------------------------ the inputs


@dataclass
class Inputs:
    """What could be read: names and uint8 images (N, H, W, C), and a one-line reason per input that could not."""

    names: list[str] = field(default_factory=list)
    chunks: list[np.ndarray] = field(default_factory=list)
    failures: list[tuple[str, str]] = field(default_factory=list)

    @property
    def images(self) -> np.ndarray:
        return np.concatenate(self.chunks) if self.chunks else np.zeros((0, 1, 1, 1), np.uint8)

    def add(self, names: Sequence[str], images: np.ndarray) -> None:
        self.names.extend(names)
        self.chunks.append(images)


def _whole_pixels(values: np.ndarray, where: str) -> np.ndarray:
    """uint8 from numbers that must be whole and within 0..255 (an InputError naming ``where`` otherwise)."""
    if values.dtype == np.uint8:
        return values
    if values.dtype.kind not in "iuf" or values.size and (
            not np.all(np.isfinite(values)) or values.min() < 0 or values.max() > 255 or np.any(values != np.round(values))):
        raise InputError(f"{where}: pixel values must be whole numbers 0..255")
    return values.astype(np.uint8)


def read_csv(path: Path, shape: tuple[int, int, int]) -> np.ndarray:
    """Pixel rows of H*W*C values (row-major H, W, C), header optional; a ``label`` column (named in a
    header, or first in a header-less file one column wider, the Kaggle layout) is ignored."""
    pixels = int(np.prod(shape))
    try:
        text = path.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as exc:
        raise InputError(f"{path}: cannot read ({first_line(exc)})") from None
    try:
        rows = [r for r in csv.reader(io.StringIO(text)) if any(cell.strip() for cell in r)]
    except csv.Error as exc:  # e.g. a stray quote that swallows the rest of the file
        raise InputError(f"{path}: not a well-formed CSV ({first_line(exc)})") from None
    if not rows:
        raise InputError(f"{path}: no rows")

    def number(cell: str) -> bool:
        try:
            float(cell)
            return True
        except ValueError:
            return False

    header = None if all(number(c) for c in rows[0]) else [c.strip().lower() for c in rows[0]]
    body, first_line_no = (rows[1:], 2) if header is not None else (rows, 1)
    width = len(rows[0])
    if header is not None and "label" in header:
        drop: Optional[int] = header.index("label")
    elif header is None and width == pixels + 1:
        drop = 0
    else:
        drop = None
    got = width - (drop is not None)
    if got != pixels:
        raise InputError(f"{path}: {got} pixel columns, but the model takes {shape_text(shape)} images = {pixels} "
                         f"values per row (plus an optional label column)")
    if not body:
        raise InputError(f"{path}: a header but no rows")
    for i, row in enumerate(body):
        if len(row) != width:
            raise InputError(f"{path}: line {i + first_line_no} has {len(row)} columns, expected {width}")
    try:
        values = np.array(body, dtype=np.float64)
    except ValueError:
        raise InputError(f"{path}: a pixel value is not a number") from None
    if drop is not None:
        values = np.delete(values, drop, axis=1)
    return _whole_pixels(values, str(path)).reshape((len(values), *shape))


def read_npz(path: Path, shape: tuple[int, int, int]) -> np.ndarray:
    """Images (N, H, W[, C]) from the array ``x``, ``x_test`` or ``images`` (else the only array)."""
    try:
        with np.load(path, allow_pickle=False) as npz:
            keys = list(npz.files)
            key = next((k for k in NPZ_KEYS if k in keys), keys[0] if len(keys) == 1 else None)
            if key is None:
                raise InputError(f"{path}: no array named {', '.join(NPZ_KEYS)} among {', '.join(keys) or 'none'}")
            array = npz[key]
    except InputError:
        raise
    except Exception as exc:  # noqa: BLE001 - zipfile/zlib/numpy raise a dozen types on corrupt archives
        raise InputError(f"{path}: not a readable .npz ({type(exc).__name__}: {first_line(exc)})") from None
    if array.ndim == 3:
        array = array[..., None]
    if array.ndim != 4 or tuple(array.shape[1:]) != tuple(shape):
        raise InputError(f"{path}[{key}]: images of shape {shape_text(array.shape[1:]) or array.shape} but the model "
                         f"takes {shape_text(shape)} images")
    return _whole_pixels(array, f"{path}[{key}]")


def _image_files(folder: Path) -> list[Path]:
    from edgenets.data.images import IMAGE_SUFFIXES

    return sorted(p for p in folder.rglob("*") if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES
                  and not any(part.startswith(".") for part in p.relative_to(folder).parts))


def read_inputs(paths: Sequence[str | Path], shape: tuple[int, int, int]) -> Inputs:
    """Every input as uint8 (H, W, C) images the model takes; a file that fails is a failure, not an exception."""
    from edgenets.data.images import IMAGE_SUFFIXES, read_image

    color = "grey" if shape[2] == 1 else "rgb"
    found = Inputs()

    def image(p: Path) -> None:
        try:
            found.add([str(p)], read_image(p, size=shape[:2], color=color)[None])
        except InputError as exc:
            found.failures.append((str(p), str(exc)))

    for given in paths:
        p = Path(given)
        if p.is_dir():
            files = _image_files(p)
            if not files:
                found.failures.append((str(p), f"{p}: no image files ({', '.join(sorted(IMAGE_SUFFIXES))})"))
            for f in files:
                image(f)
        elif not p.exists():
            found.failures.append((str(p), f"{p}: file not found"))
        elif p.suffix.lower() in (".csv", ".npz"):
            try:
                images = read_csv(p, shape) if p.suffix.lower() == ".csv" else read_npz(p, shape)
            except InputError as exc:
                found.failures.append((str(p), str(exc)))
                continue
            found.add([f"{p}[{i}]" for i in range(len(images))], images)
        else:
            image(p)
    return found


# ------------------------------------------------------------------ predicting


def check_output(path: Optional[str | Path]) -> None:
    """--output: .csv or .json, not a folder, in a folder we can write to -- checked before any work."""
    import os

    if path is None:
        return
    path = Path(path)
    if path.suffix.lower() not in OUTPUT_SUFFIXES:
        raise InputError(f"--output {path}: unknown suffix {path.suffix or '(none)'!r}; use .csv or .json")
    if path.is_dir():
        raise InputError(f"--output {path}: is a directory")
    parent = path.parent if str(path.parent) else Path(".")
    if parent.exists() and not os.access(parent, os.W_OK):
        raise InputError(f"--output {path}: cannot write into {parent}")


def predict(model: str | Path, inputs: Sequence[str | Path], *, top_k: int = DEFAULT_TOP_K, runtime: str = "auto",
            log: Log = None) -> dict:
    """The predictions document for ``inputs`` (see the module docstring); its ``failed`` lists the inputs that
    could not be read. Raises InputError for a bad model or argument, or when no input could be read."""
    from edgenets._io import sha256_file
    from edgenets.inference.batching import EVAL_BATCH, scores
    from edgenets.inference.tensors import tensor_info, to_probabilities
    from edgenets.preprocessing import describe

    if top_k < 1:
        raise InputError(f"--top-k must be >= 1. Received: {top_k}")
    if not inputs:
        raise InputError("give at least one INPUT (an image, a folder of images, a .csv or an .npz)")
    m = load_model(model, runtime=runtime, log=log)
    found = read_inputs(inputs, m.shape)
    if not found.names:
        if len(found.failures) == 1:
            raise InputError(found.failures[0][1])
        for _, reason in found.failures:
            if log:
                log(reason)
        raise InputError(f"none of the {len(found.failures)} inputs could be read (each is named above)")
    for _, reason in found.failures:
        if log:
            log(f"{reason}; skipped")
    out, info = scores(m.make, found.images, preprocessing=m.preprocessing, batch=EVAL_BATCH,
                       make_batched=m.make_batched)
    probs, how = to_probabilities(out, m.output_kind, m.output)
    k = min(int(top_k), out.shape[1])
    # ranked by the scores themselves (a stable sort: ties go to the lower index, as argmax does), so rank 1 is
    # exactly bench's prediction; the probabilities are monotone in the scores
    order = np.argsort(-out, axis=1, kind="stable")[:, :k]
    predictions = [{"input": name, "top": [{"rank": r + 1, "class": m.labels[c], "index": int(c),
                                            "probability": float(probs[i, c])} for r, c in enumerate(order[i])]}
                   for i, name in enumerate(found.names)]
    return {
        "schema": SCHEMA,
        "model": {"path": str(m.path), "sha256": sha256_file(m.path), "precision": m.precision,
                  "input": tensor_info(m.input), "output": tensor_info(m.output), "input_size": shape_text(m.shape),
                  "graph_output": m.output_kind, "labels_from": m.labels_from},
        "preprocessing": m.preprocessing,
        "preprocessing_text": describe(m.preprocessing),
        "probabilities": how,
        "runtime": {"name": m.runtime.name, "version": m.runtime.version, "device": m.device,
                    "not_delegated": m.not_delegated, "batch": info["batch"]},
        "top_k": k,
        "predictions": predictions,
        "failed": [{"input": name, "error": reason} for name, reason in found.failures],
    }


# ------------------------------------------------------------------ renderings


def describe_run(doc: dict) -> str:
    """One line on what ran: the model, its input, the runtime, the preprocessing and where probabilities come from."""
    m, rt = doc["model"], doc["runtime"]
    device = f", {rt['device']}" if rt.get("device") not in (None, "cpu") else ""
    return (f"{m['path']}: {m['precision']}, input {m['input_size']}, {rt['name']} {rt['version']}{device}; "
            f"preprocessing {doc['preprocessing_text']}; probabilities: {doc['probabilities']}")


def render_text(doc: dict) -> str:
    """One line per input: its name, then the top-k classes with their probabilities, best first."""
    lines = [f"{p['input']}: " + ", ".join(f"{t['class']} ({t['probability']:.3f})" for t in p["top"])
             for p in doc["predictions"]]
    return "\n".join(lines) + "\n"


def render_csv(doc: dict) -> str:
    """Tidy rows: one per (input, rank) -- input, rank, class, index, probability."""
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(CSV_HEADER)
    for p in doc["predictions"]:
        for t in p["top"]:
            writer.writerow([p["input"], t["rank"], t["class"], t["index"], repr(t["probability"])])
    return buf.getvalue()


def write(doc: dict, path: str | Path) -> Path:
    """``doc`` to ``path`` as CSV or JSON by its suffix, atomically."""
    from edgenets._io import write_text

    path = Path(path)
    check_output(path)
    text = render_csv(doc) if path.suffix.lower() == ".csv" else json.dumps(doc, indent=2) + "\n"
    return write_text(path, text)


__all__ = ["Model", "check_output", "load_model", "predict", "read_csv", "read_inputs", "read_npz", "render_csv",
           "render_text", "write"]
