"""Run an exported .tflite on images through the LiteRT interpreter (no TensorFlow needed).

Used right after export to measure each model's test accuracy with the same evaluator as
``edgenets bench`` (edgenets.bench.evaluate): the fixed batch-1 input is resized to a larger
batch only when that gives bit-identical outputs, otherwise it runs image by image.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Optional, Union

import numpy as np

from edgenets.bench.evaluate import EVAL_BATCH, dequantize_output, prepare_inputs
from edgenets.bench.evaluate import predict as bench_predict
from edgenets.bench import delegation
from edgenets.errors import first_line, require
from edgenets.preprocessing import DEFAULT_PREPROCESSING

ModelSource = Union[str, Path, bytes]


def make_interpreter(model: ModelSource, num_threads: int = 1, builtin: bool = False) -> Any:
    """An ai_edge_litert interpreter for a file path or flatbuffer bytes (``builtin``: without XNNPACK)."""
    litert = require("ai_edge_litert.interpreter", "device", "running a .tflite model")
    kwargs: dict[str, Any] = {"num_threads": num_threads}
    if builtin:
        kwargs["experimental_op_resolver_type"] = litert.OpResolverType.BUILTIN_WITHOUT_DEFAULT_DELEGATES
    if isinstance(model, (bytes, bytearray)):
        return litert.Interpreter(model_content=bytes(model), **kwargs)
    return litert.Interpreter(model_path=str(model), **kwargs)


def quantize_input(images_uint8: np.ndarray, detail: dict, preprocessing: str = DEFAULT_PREPROCESSING) -> np.ndarray:
    """uint8 pixels -> the model's input tensor: preprocessed, then quantised if the input is integer."""
    return prepare_inputs(images_uint8, detail, preprocessing)


@dataclass
class Predictions:
    raw: np.ndarray  # the output tensor as the model produced it (int8/uint8/float32)
    probs: np.ndarray  # dequantised to float32
    batch_size: int  # the batch actually used (1 when batching would not be exact)
    not_delegated: Optional[dict] = None  # XNNPACK could not prepare the model: message + the node it blames

    @property
    def labels(self) -> np.ndarray:
        return self.raw.argmax(axis=1) if self.raw.dtype != np.float32 else self.probs.argmax(axis=1)


def predict(model: ModelSource, images_uint8: np.ndarray, *, batch_size: int = EVAL_BATCH,
            num_threads: int = 1, preprocessing: str = DEFAULT_PREPROCESSING) -> Predictions:
    """Outputs for every image, through the bench's evaluator (batched only where that is exact)."""

    builtin = False

    def make() -> Any:
        return make_interpreter(model, num_threads=num_threads, builtin=builtin)

    probe = make()
    not_delegated = None
    try:
        probe.allocate_tensors()
    except Exception as exc:  # noqa: BLE001 - only XNNPACK's failure to prepare is recoverable
        if not delegation.is_delegate_prepare_failure(str(exc)):
            raise
        # a valid model XNNPACK cannot run (e.g. a requantisation scale >= 256): it runs on builtin kernels
        builtin = True
        probe = make()
        not_delegated = delegation.reverted(first_line(exc), probe)
    inp, out = probe.get_input_details()[0], probe.get_output_details()[0]
    raw, info = bench_predict(make, quantize_input(images_uint8, inp, preprocessing), batch_size)
    raw = raw.reshape(len(images_uint8), -1)
    return Predictions(raw=raw, probs=dequantize_output(raw, out), batch_size=info["batch"], not_delegated=not_delegated)


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
