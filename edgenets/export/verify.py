"""Run an exported .tflite on images through the LiteRT interpreter (no TensorFlow needed).

Used right after export to measure each model's test accuracy. For speed the fixed batch-1
input is resized to a larger batch on the host; every op in our models works row by row, so
the result is the same as batch 1 (tests/test_export.py checks that).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Union

import numpy as np

from edgenets.errors import require

ModelSource = Union[str, Path, bytes]


def make_interpreter(model: ModelSource, num_threads: int = 1) -> Any:
    """An ai_edge_litert interpreter for a file path or flatbuffer bytes."""
    litert = require("ai_edge_litert.interpreter", "device", "running a .tflite model")
    if isinstance(model, (bytes, bytearray)):
        return litert.Interpreter(model_content=bytes(model), num_threads=num_threads)
    return litert.Interpreter(model_path=str(model), num_threads=num_threads)


def quantize_input(images_uint8: np.ndarray, detail: dict) -> np.ndarray:
    """uint8 pixels -> the model's input tensor: pixels/255, then quantised if the input is integer."""
    x = images_uint8.astype(np.float32) / 255.0
    dtype = np.dtype(detail["dtype"])
    if dtype == np.float32:
        return x
    scale, zero_point = detail["quantization"]
    info = np.iinfo(dtype)
    return np.clip(np.round(x / scale + zero_point), info.min, info.max).astype(dtype)


def dequantize_output(raw: np.ndarray, detail: dict) -> np.ndarray:
    if np.dtype(detail["dtype"]) == np.float32:
        return raw.astype(np.float32)
    scale, zero_point = detail["quantization"]
    return (raw.astype(np.float32) - zero_point) * scale


@dataclass
class Predictions:
    raw: np.ndarray  # the output tensor as the model produced it (int8/uint8/float32)
    probs: np.ndarray  # dequantised to float32
    batch_size: int  # the batch actually used (1 when the model could not be resized)

    @property
    def labels(self) -> np.ndarray:
        return self.raw.argmax(axis=1) if self.raw.dtype != np.float32 else self.probs.argmax(axis=1)


def predict(model: ModelSource, images_uint8: np.ndarray, *, batch_size: int = 256,
            num_threads: int = 1) -> Predictions:
    """Outputs for every image; batches by resizing the input tensor, falls back to batch 1."""
    interp = make_interpreter(model, num_threads=num_threads)
    inp = interp.get_input_details()[0]
    n = len(images_uint8)
    batch = max(1, min(batch_size, n))
    if batch > 1:
        try:
            interp.resize_tensor_input(inp["index"], [batch, *inp["shape"][1:]], strict=False)
            interp.allocate_tensors()
        except (RuntimeError, ValueError):
            batch = 1
    if batch == 1:
        interp = make_interpreter(model, num_threads=num_threads)
        interp.allocate_tensors()
    inp = interp.get_input_details()[0]
    out = interp.get_output_details()[0]
    x = quantize_input(images_uint8, inp)
    raws = []
    for start in range(0, n, batch):
        chunk = x[start : start + batch]
        if len(chunk) < batch:  # pad the last batch instead of re-allocating tensors
            chunk = np.concatenate([chunk, np.zeros((batch - len(chunk), *chunk.shape[1:]), chunk.dtype)])
        interp.set_tensor(inp["index"], chunk)
        interp.invoke()
        raws.append(interp.get_tensor(out["index"])[: n - start].copy())
    raw = np.concatenate(raws)
    return Predictions(raw=raw, probs=dequantize_output(raw, out), batch_size=batch)


def io_details(model: ModelSource) -> dict:
    """Input/output name, shape, dtype and quantisation parameters, as the interpreter reports them."""
    interp = make_interpreter(model)

    def one(d: dict) -> dict:
        scale, zero_point = d["quantization"]
        return {
            "name": d["name"],
            "shape": [int(v) for v in d["shape"]],
            "dtype": np.dtype(d["dtype"]).name,
            "scale": float(scale) if scale else None,
            "zero_point": int(zero_point) if scale else None,
        }

    return {"input": one(interp.get_input_details()[0]), "output": one(interp.get_output_details()[0])}
