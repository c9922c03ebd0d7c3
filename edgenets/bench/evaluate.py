"""Accuracy of a .tflite model on labelled images, computed the way the device computes it.

The images become scores through :func:`edgenets.inference.batching.scores` (the sidecar's
preprocessing, the model's own input quantisation, batched only where bit-identical to batch 1,
dequantised outputs), the same path ``edgenets predict`` takes; the argmax is scored with
:func:`edgenets.inference.metrics.classification_metrics` (scikit-learn's definitions, in numpy).
The tensor, batching and metric helpers that used to live here are re-exported under their old names.
"""

from __future__ import annotations

import time
from typing import Any, Callable, Optional, Sequence

import numpy as np

from edgenets.inference.batching import BATCH_CANDIDATES, EVAL_BATCH, predict, run_batch1, scores
from edgenets.inference.batching import run_batched as _run_batched  # noqa: F401 - the old private name
from edgenets.inference.metrics import classification_metrics
from edgenets.inference.tensors import (dequantize_output, infer_precision, prepare_inputs, quantize_input,
                                        shape_text, tensor_info)
from edgenets.preprocessing import DEFAULT_PREPROCESSING, Spec


def predictions(make_interpreter: Callable[[], Any], images: np.ndarray, *, preprocessing: Spec = DEFAULT_PREPROCESSING,
                batch: int = EVAL_BATCH, make_batched: Optional[Callable[[], Any]] = None) -> tuple[np.ndarray, np.ndarray, dict]:
    """(predicted class per image, float scores (N, K), batching info): what :func:`evaluate` scores."""
    out, info = scores(make_interpreter, images, preprocessing=preprocessing, batch=batch, make_batched=make_batched)
    return out.argmax(axis=1), out, info


def evaluate(make_interpreter: Callable[[], Any], images: np.ndarray, labels: np.ndarray, *,
             preprocessing: Spec = DEFAULT_PREPROCESSING, class_names: Optional[Sequence[str]] = None,
             batch: int = EVAL_BATCH, make_batched: Optional[Callable[[], Any]] = None) -> dict:
    """Metrics of the model on ``images`` (uint8 (N, H, W, C)) against ``labels``; ``make_batched``: see
    :func:`edgenets.inference.batching.predict`."""
    start = time.perf_counter()
    predicted, out, info = predictions(make_interpreter, images, preprocessing=preprocessing, batch=batch,
                                       make_batched=make_batched)
    num_classes = out.shape[1]
    names = list(class_names) if class_names is not None and len(class_names) == num_classes \
        else [str(i) for i in range(num_classes)]
    if labels.max(initial=0) >= num_classes:
        raise ValueError(f"the model has {num_classes} outputs but the data set has label {int(labels.max())}")
    metrics = classification_metrics(labels, predicted, names)
    metrics["eval"] = {"images": int(len(images)), "image_shape": [int(d) for d in np.shape(images)[1:]],
                       "batch": info["batch"], "batch_note": info["note"],
                       "batch_us_per_image": info.get("us_per_image"), "seconds": round(time.perf_counter() - start, 4)}
    return metrics


__all__ = ["BATCH_CANDIDATES", "DEFAULT_PREPROCESSING", "EVAL_BATCH", "classification_metrics", "dequantize_output",
           "evaluate", "infer_precision", "predict", "predictions", "prepare_inputs", "quantize_input", "run_batch1",
           "scores", "shape_text", "tensor_info"]
