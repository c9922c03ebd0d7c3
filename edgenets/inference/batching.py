"""Raw outputs of a .tflite model for many inputs, batched only where that is exact.

Where the model's graph allows it, inputs go through a second interpreter whose input tensor is
resized to a batch; the batched outputs are checked to be bit-identical to batch-1 outputs on the
first batch, else everything runs at batch 1 (the device's own path). :func:`scores` is the whole
step from uint8 images to float class scores, shared by bench's accuracy and ``edgenets predict``.
"""

from __future__ import annotations

import functools
import time
from typing import Any, Callable, Optional

import numpy as np

from edgenets.errors import first_line
from edgenets.inference.tensors import dequantize_output, prepare_inputs
from edgenets.preprocessing import DEFAULT_PREPROCESSING, Spec

EVAL_BATCH = 64  # big enough to amortise the Python call overhead, small enough for a Pi's RAM

# Batch sizes tried (besides 1): which is fastest depends on the model and the CPU
# (measured: mobilenet float32 evaluated 10,000 images faster at batch 1 than at 64 on one VM).
BATCH_CANDIDATES = (8, 64)


def _empty_outputs(interpreter: Any) -> np.ndarray:
    out = interpreter.get_output_details()[0]
    return np.zeros((0, *[int(d) for d in out["shape"][1:]]), dtype=out["dtype"])


def run_batched(interpreter: Any, x: np.ndarray, batch: int) -> np.ndarray:
    """Raw outputs for ``x`` through an interpreter whose input is already resized to ``batch``."""
    if len(x) == 0:
        return _empty_outputs(interpreter)
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
    if len(x) == 0:  # np.stack needs one array; an empty rest after the probe batch is normal
        return _empty_outputs(interpreter)
    inp = interpreter.get_input_details()[0]
    out = interpreter.get_output_details()[0]
    results = []
    for i in range(len(x)):
        interpreter.set_tensor(inp["index"], x[i : i + 1])
        interpreter.invoke()
        results.append(interpreter.get_tensor(out["index"])[0].copy())
    return np.stack(results)


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
            got = run_batched(batched, probe, size)
        except Exception as exc:  # noqa: BLE001 - a graph with a hard-coded batch of 1 cannot be resized
            note = f"input tensor cannot be resized: {first_line(exc)}"
            break
        if got.shape != expected.shape or not np.array_equal(got, expected):
            note = f"outputs at batch {size} differ from batch-1 outputs"
            break
        runners[size] = functools.partial(run_batched, batched, batch=size)
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


def io_details(make_interpreter: Callable[[], Any]) -> tuple[dict, dict]:
    """(input detail, output detail) of the model, from an allocated interpreter that is then dropped."""
    probe = make_interpreter()
    probe.allocate_tensors()
    return probe.get_input_details()[0], probe.get_output_details()[0]


def scores(make_interpreter: Callable[[], Any], images: np.ndarray, *, preprocessing: Spec = DEFAULT_PREPROCESSING,
           batch: int = EVAL_BATCH, make_batched: Optional[Callable[[], Any]] = None) -> tuple[np.ndarray, dict]:
    """Float class scores (N, K) for uint8 images (N, H, W, C): preprocessed and quantised as the model
    expects (:func:`edgenets.inference.tensors.prepare_inputs`), run by :func:`predict`, dequantised.
    Returns (scores, info) with :func:`predict`'s info."""
    inp, out = io_details(make_interpreter)
    x = prepare_inputs(images, inp, preprocessing)
    raw, info = predict(make_interpreter, x, batch, make_batched)
    return dequantize_output(raw, out).reshape(len(x), -1), info
