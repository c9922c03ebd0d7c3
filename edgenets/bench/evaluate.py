"""Accuracy of a .tflite model on labelled images, computed the way the device computes it.

Inputs are preprocessed as the model was trained (sidecar ``preprocessing``, default pixels/255),
then quantised with the model's own input scale/zero point; outputs are dequantised with its
output scale/zero point before the argmax. Where the model's graph allows it, images go through a
second interpreter whose input tensor is resized to a batch; the batched outputs are checked to be
bit-identical to batch-1 outputs on the first batch, else evaluation falls back to batch 1.
Metrics are computed with numpy from the confusion matrix, with scikit-learn's definitions (macro
averages over all classes); see ``classification_metrics``.
"""

from __future__ import annotations

import functools
import time
from typing import Any, Callable, Optional, Sequence

import numpy as np

from edgenets.errors import first_line
from edgenets.preprocessing import DEFAULT_PREPROCESSING, preprocess

EVAL_BATCH = 64  # big enough to amortise the Python call overhead, small enough for a Pi's RAM


def tensor_info(detail: dict) -> dict:
    """The JSON-able part of an interpreter tensor detail: dtype, shape, scale, zero point."""
    scale, zero_point = detail.get("quantization", (0.0, 0))
    return {
        "dtype": np.dtype(detail["dtype"]).name,
        "shape": [int(d) for d in detail["shape"]],
        "scale": float(scale),
        "zero_point": int(zero_point),
    }


def quantize_input(x: np.ndarray, detail: dict) -> np.ndarray:
    """Float model input -> the tensor's dtype, using its own scale / zero point when it is quantised."""
    dtype = np.dtype(detail["dtype"])
    if dtype.kind == "f":
        return x.astype(dtype)
    scale, zero_point = detail.get("quantization", (0.0, 0))
    if not scale:
        raise ValueError(f"input tensor is {dtype.name} but has no quantisation scale")
    info = np.iinfo(dtype)
    q = np.round(x / np.float32(scale)) + zero_point
    return np.clip(q, info.min, info.max).astype(dtype)


def dequantize_output(y: np.ndarray, detail: dict) -> np.ndarray:
    dtype = np.dtype(detail["dtype"])
    scale, zero_point = detail.get("quantization", (0.0, 0))
    if dtype.kind == "f" or not scale:
        return y.astype(np.float32)
    return (y.astype(np.float32) - np.float32(zero_point)) * np.float32(scale)


def prepare_inputs(images: np.ndarray, detail: dict, preprocessing: str) -> np.ndarray:
    """uint8 (N,28,28,1) -> (N, *model input shape[1:]) in the model's input dtype."""
    per_image = tuple(int(d) for d in detail["shape"][1:])
    if int(np.prod(per_image)) != int(np.prod(images.shape[1:])):
        raise ValueError(f"model input shape {list(detail['shape'])} does not fit the data set's "
                         f"{'x'.join(map(str, images.shape[1:]))} images")
    x = preprocess(images, preprocessing).reshape((len(images), *per_image))
    return np.ascontiguousarray(quantize_input(x, detail))


def infer_precision(interpreter: Any) -> str:
    """Precision name (edgenets.formats) from tensor dtypes, for a model without a sidecar.

    int8/uint8 input -> int8 (full integer); any float16 tensor -> float16; float I/O with int8
    tensors -> int8 if a QUANTIZE op brings activations to int8 (float-I/O int8 export), else
    dynamic-range; otherwise float32.
    """
    inp = np.dtype(interpreter.get_input_details()[0]["dtype"])
    if inp in (np.int8, np.uint8):
        return "int8"
    dtypes = {np.dtype(t["dtype"]) for t in interpreter.get_tensor_details()}
    if np.dtype(np.float16) in dtypes:
        return "float16"
    if np.dtype(np.int8) in dtypes or np.dtype(np.uint8) in dtypes:
        ops = getattr(interpreter, "_get_ops_details", lambda: [])()
        return "int8" if any(op.get("op_name") == "QUANTIZE" for op in ops) else "dynamic"
    return "float32"


def _run_batched(interpreter: Any, x: np.ndarray, batch: int) -> np.ndarray:
    if len(x) == 0:
        out = interpreter.get_output_details()[0]
        return np.zeros((0, *[int(d) for d in out["shape"][1:]]), dtype=out["dtype"])
    inp = interpreter.get_input_details()[0]
    out = interpreter.get_output_details()[0]
    n = len(x)
    results = []
    for start in range(0, n, batch):
        chunk = x[start : start + batch]
        if len(chunk) < batch:  # pad the last chunk instead of re-allocating the arena
            pad = np.zeros((batch - len(chunk), *chunk.shape[1:]), dtype=chunk.dtype)
            chunk = np.concatenate([chunk, pad])
        interpreter.set_tensor(inp["index"], chunk)
        interpreter.invoke()
        results.append(interpreter.get_tensor(out["index"])[: min(batch, n - start)].copy())
    return np.concatenate(results)


def run_batch1(interpreter: Any, x: np.ndarray) -> np.ndarray:
    """Raw output tensor for each input, one invoke per image (the device's own path)."""
    inp = interpreter.get_input_details()[0]
    out = interpreter.get_output_details()[0]
    if len(x) == 0:  # np.stack needs one array; an empty rest after the probe batch is normal
        return np.zeros((0, *[int(d) for d in out["shape"][1:]]), dtype=out["dtype"])
    results = []
    for i in range(len(x)):
        interpreter.set_tensor(inp["index"], x[i : i + 1])
        interpreter.invoke()
        results.append(interpreter.get_tensor(out["index"])[0].copy())
    return np.stack(results)


# Batch sizes tried for evaluation (besides 1): which is fastest depends on the model and the CPU
# (measured: mobilenet float32 evaluated 10,000 images faster at batch 1 than at 64 on one VM).
BATCH_CANDIDATES = (8, 64)


def predict(make_interpreter: Callable[[], Any], x: np.ndarray, batch: int = EVAL_BATCH,
            make_batched: Optional[Callable[[], Any]] = None) -> tuple[np.ndarray, dict]:
    """Raw outputs for ``x`` (already in the model's input dtype), at the fastest exact batch size.

    The first ``batch`` images (the probe) run at batch 1 and at each candidate batch size up to
    ``batch``; a batch size is used only if its outputs on the probe are bit-identical to batch 1's.
    Among those, the fastest per image wins: each candidate times the probe three times, in turn
    (a busy machine slows all of them alike), and keeps its best pass. ``make_batched`` (default
    ``make_interpreter``) makes the batched interpreters, e.g. with more threads: their outputs are held
    to the same bit-identity with the batch-1 outputs of ``make_interpreter``. Returns (outputs, info) with
    info = {"batch": the batch size used, "note": why larger batches were not used, if so,
    "us_per_image": {batch size: the best measured µs per image on the probe}}.
    """
    single = make_interpreter()
    single.allocate_tensors()
    if batch <= 1 or len(x) <= 1:
        return run_batch1(single, x), {"batch": 1, "note": None, "us_per_image": None}
    probe = x[: min(batch, len(x))]
    expected = run_batch1(single, probe)
    runners: dict[int, Callable[[np.ndarray], np.ndarray]] = {1: lambda images: run_batch1(single, images)}
    note = None
    for size in sorted({c for c in BATCH_CANDIDATES if c < batch} | {batch}):
        try:
            batched = (make_batched or make_interpreter)()
            shape = [size, *[int(d) for d in batched.get_input_details()[0]["shape"][1:]]]
            batched.resize_tensor_input(batched.get_input_details()[0]["index"], shape, strict=False)
            batched.allocate_tensors()
            got = _run_batched(batched, probe, size)
        except Exception as exc:  # noqa: BLE001 - a graph with a hard-coded batch of 1 cannot be resized
            note = f"input tensor cannot be resized: {first_line(exc)}"
            break
        if got.shape != expected.shape or not np.array_equal(got, expected):
            note = f"outputs at batch {size} differ from batch-1 outputs"
            break
        runners[size] = functools.partial(_run_batched, batched, batch=size)
    best_us = {size: float("inf") for size in runners}
    if len(runners) > 1:
        for _ in range(3):
            for size, run in runners.items():
                t0 = time.perf_counter()
                run(probe)
                best_us[size] = min(best_us[size], (time.perf_counter() - t0) / len(probe) * 1e6)
    best = min(runners, key=lambda size: best_us[size])
    rest = x[len(probe):]
    out = runners[best](rest) if len(rest) else expected[:0]
    info = {"batch": best, "note": note,
            "us_per_image": {str(k): round(v, 2) for k, v in best_us.items()} if len(runners) > 1 else None}
    return np.concatenate([expected, out]), info


def _divide(numerator: np.ndarray, denominator: np.ndarray) -> np.ndarray:
    """numerator / denominator in float64, 0 where the denominator is 0 (sklearn's zero_division=0)."""
    numerator, denominator = np.asarray(numerator, np.float64), np.asarray(denominator, np.float64)
    zero = denominator == 0
    return np.where(zero, 0.0, numerator / np.where(zero, 1.0, denominator))


def classification_metrics(y_true: np.ndarray, y_pred: np.ndarray, class_names: Sequence[str]) -> dict:
    """Accuracy, macro precision/recall/F1, per-class scores and the confusion matrix, in numpy.

    The definitions are scikit-learn's (``precision_recall_fscore_support(labels=range(K),
    zero_division=0)``, ``confusion_matrix(labels=range(K))``, ``accuracy_score``), computed from
    the counts: precision = tp / predicted, recall = tp / true, F1 = 2 tp / (true + predicted), each
    0 where its denominator is 0 (a class never predicted, never present, or both); macro = the
    unweighted mean over all K classes. Every count is an exact integer in float64, so each score is
    one correctly rounded division, and the macro mean is numpy's mean as in sklearn:
    tests/test_light_deps.py checks the results equal sklearn's exactly (==) on random cases.
    Labels outside 0..K-1 count in accuracy only, as in sklearn.
    """
    y_true = np.asarray(y_true).reshape(-1)
    y_pred = np.asarray(y_pred).reshape(-1)
    if y_true.shape != y_pred.shape:
        raise ValueError(f"{len(y_true)} labels but {len(y_pred)} predictions")
    k = len(class_names)
    true_in = (y_true >= 0) & (y_true < k)
    pred_in = (y_pred >= 0) & (y_pred < k)
    both = true_in & pred_in
    # confusion[i, j]: images of class i predicted as j (rows true, columns predicted, as in sklearn)
    # np.intp: bincount refuses int64 on a 32-bit board (armv7)
    confusion = np.bincount(y_true[both].astype(np.intp) * k + y_pred[both].astype(np.intp),
                            minlength=k * k).reshape(k, k)
    tp = np.diagonal(confusion)
    # per-class totals over all images, so a label outside 0..K-1 on the other side still counts
    # (when every label is in range these are the confusion matrix's row and column sums)
    support = np.bincount(y_true[true_in].astype(np.intp), minlength=k)
    predicted = np.bincount(y_pred[pred_in].astype(np.intp), minlength=k)
    precision = _divide(tp, predicted)
    recall = _divide(tp, support)
    f1 = _divide(2.0 * tp, support.astype(np.float64) + predicted)
    return {
        "accuracy": float(np.mean(y_true == y_pred)),
        "precision": float(np.mean(precision)),
        "recall": float(np.mean(recall)),
        "f1": float(np.mean(f1)),
        "per_class": [
            {"label": str(name), "precision": float(precision[i]), "recall": float(recall[i]), "f1": float(f1[i]),
             "support": int(support[i])}
            for i, name in enumerate(class_names)
        ],
        "confusion_matrix": confusion.tolist(),
    }


def evaluate(make_interpreter: Callable[[], Any], images: np.ndarray, labels: np.ndarray, *,
             preprocessing: str = DEFAULT_PREPROCESSING, class_names: Optional[Sequence[str]] = None,
             batch: int = EVAL_BATCH, make_batched: Optional[Callable[[], Any]] = None) -> dict:
    """Metrics of the model on ``images`` (uint8 (N,28,28,1)) against ``labels``; ``make_batched``: see
    :func:`predict`."""
    start = time.perf_counter()
    probe = make_interpreter()
    probe.allocate_tensors()
    inp, out = probe.get_input_details()[0], probe.get_output_details()[0]
    del probe
    x = prepare_inputs(images, inp, preprocessing)
    raw, info = predict(make_interpreter, x, batch, make_batched)
    scores = dequantize_output(raw, out).reshape(len(x), -1)
    num_classes = scores.shape[1]
    names = list(class_names) if class_names is not None and len(class_names) == num_classes \
        else [str(i) for i in range(num_classes)]
    if labels.max(initial=0) >= num_classes:
        raise ValueError(f"the model has {num_classes} outputs but the data set has label {int(labels.max())}")
    metrics = classification_metrics(labels, scores.argmax(axis=1), names)
    metrics["eval"] = {"images": int(len(x)), "batch": info["batch"], "batch_note": info["note"],
                       "batch_us_per_image": info.get("us_per_image"), "seconds": round(time.perf_counter() - start, 4)}
    return metrics
