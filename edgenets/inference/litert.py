"""An ai-edge-litert interpreter for a .tflite file or bytes, and the images-to-predictions path of the
accuracy check after export (``edgenets.export.verify`` re-exports these names).

A valid model that the default XNNPACK delegate cannot prepare (e.g. a requantisation scale >= 256)
makes ``allocate_tensors()`` raise; :func:`load_with_fallback` then runs it on builtin kernels and keeps
the diagnosis (``edgenets.bench.delegation``, imported only on that path).
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Optional, Union

import numpy as np

from edgenets.errors import first_line, require
from edgenets.inference.batching import EVAL_BATCH, predict as predict_raw
from edgenets.inference.tensors import dequantize_output, prepare_inputs
from edgenets.preprocessing import DEFAULT_PREPROCESSING, Spec

ModelSource = Union[str, Path, bytes]


def make_interpreter(model: ModelSource, num_threads: int = 1, builtin: bool = False) -> Any:
    """An ai_edge_litert interpreter for a file path or flatbuffer bytes (``builtin``: without XNNPACK)."""
    litert = require("ai_edge_litert.interpreter", "device", "running a .tflite model")
    kwargs: dict[str, Any] = {"num_threads": num_threads}
    if builtin:
        kwargs["experimental_op_resolver_type"] = litert.OpResolverType.BUILTIN_WITHOUT_DEFAULT_DELEGATES
    from edgenets._quiet import quiet_interpreter_class

    cls = quiet_interpreter_class(litert.Interpreter)  # LiteRT's "Created ... XNNPACK delegate" INFO line
    if isinstance(model, (bytes, bytearray)):
        return cls(model_content=bytes(model), **kwargs)
    return cls(model_path=str(model), **kwargs)


def load_with_fallback(make: Callable[[bool], Any]) -> tuple[Callable[[], Any], Any, Optional[dict]]:
    """(factory, an allocated interpreter from it, not_delegated) for ``make(builtin)``.

    ``not_delegated`` is None when the default path prepared, else the delegate's message and the node
    it blames, and the factory then makes builtin-kernel interpreters. Any other failure raises."""
    interpreter = make(False)
    try:
        interpreter.allocate_tensors()
        return functools.partial(make, False), interpreter, None
    except Exception as exc:  # noqa: BLE001 - only XNNPACK's failure to prepare is recoverable
        from edgenets.bench import delegation

        if not delegation.is_delegate_prepare_failure(str(exc)):
            raise
        interpreter = make(True)
        return functools.partial(make, True), interpreter, delegation.reverted(first_line(exc), interpreter)


@dataclass
class Predictions:
    raw: np.ndarray  # the output tensor as the model produced it (int8/uint8/float32)
    probs: np.ndarray  # dequantised to float32
    batch_size: int  # the batch actually used (1 when batching would not be exact)
    not_delegated: Optional[dict] = None  # XNNPACK could not prepare the model: message + the node it blames

    @property
    def labels(self) -> np.ndarray:
        return self.raw.argmax(axis=1) if self.raw.dtype != np.float32 else self.probs.argmax(axis=1)


def predict_images(model: ModelSource, images_uint8: np.ndarray, *, batch_size: int = EVAL_BATCH,
                   num_threads: int = 1, preprocessing: Spec = DEFAULT_PREPROCESSING) -> Predictions:
    """Outputs for every image, through bench's batching (batched only where that is exact)."""
    make, probe, not_delegated = load_with_fallback(
        lambda builtin: make_interpreter(model, num_threads=num_threads, builtin=builtin))
    inp, out = probe.get_input_details()[0], probe.get_output_details()[0]
    raw, info = predict_raw(make, prepare_inputs(images_uint8, inp, preprocessing), batch_size)
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
