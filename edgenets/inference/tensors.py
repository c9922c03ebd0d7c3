"""A .tflite model's input and output tensors: uint8 pixels in, float class scores out (numpy only).

Inputs are preprocessed as the model was trained (:mod:`edgenets.preprocessing`: a name such as
``pixels/255`` or a per-channel mean-std block), then quantised with the input tensor's own scale and
zero point; outputs are dequantised with the output tensor's. Every consumer (bench, the export check,
``edgenets predict``) goes through these functions, so they cannot feed a model differently.
"""

from __future__ import annotations

from typing import Any, Optional

import numpy as np

from edgenets.errors import InputError
from edgenets.preprocessing import DEFAULT_PREPROCESSING, Spec, preprocess


def tensor_info(detail: dict) -> dict:
    """The JSON-able part of an interpreter tensor detail: dtype, shape, scale, zero point."""
    scale, zero_point = detail.get("quantization", (0.0, 0))
    return {
        "dtype": np.dtype(detail["dtype"]).name,
        "shape": [int(d) for d in detail["shape"]],
        "scale": float(scale),
        "zero_point": int(zero_point),
    }


def shape_text(shape: Any) -> str:
    """(32, 32, 3) -> "32x32x3"."""
    return "x".join(str(int(d)) for d in shape)


def image_shape(detail: dict) -> Optional[tuple[int, int, int]]:
    """(H, W, C) of an image-shaped input tensor ((N, H, W, C), or (N, H, W) for one channel); None for
    any other layout (e.g. a flattened (N, 784) input)."""
    shape = [int(d) for d in detail["shape"]]
    if len(shape) == 4:
        return shape[1], shape[2], shape[3]
    if len(shape) == 3:
        return shape[1], shape[2], 1
    return None


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
    """The output tensor as float32 scores (its own scale / zero point when it is quantised)."""
    dtype = np.dtype(detail["dtype"])
    scale, zero_point = detail.get("quantization", (0.0, 0))
    if dtype.kind == "f" or not scale:
        return y.astype(np.float32)
    return (y.astype(np.float32) - np.float32(zero_point)) * np.float32(scale)


def check_fits(images_shape: tuple, detail: dict, what: str = "the data set's") -> None:
    """InputError unless uint8 images of ``images_shape`` (N, H, W, C) fit the model's input tensor.

    An image-shaped input must match (H, W, C) exactly; any other layout (a flattened input) takes
    images with as many values. The message says both shapes."""
    per_image = tuple(int(d) for d in images_shape[1:])
    expected = image_shape(detail)
    if expected is not None:
        fits = per_image == expected
    else:
        fits = int(np.prod(detail["shape"][1:])) == int(np.prod(per_image))
    if not fits:
        model = shape_text(expected) if expected is not None else str([int(d) for d in detail["shape"]])
        raise InputError(f"the model takes {model} inputs but {what} images are {shape_text(per_image)}")


def prepare_inputs(images: np.ndarray, detail: dict, preprocessing: Spec = DEFAULT_PREPROCESSING) -> np.ndarray:
    """uint8 images (N, H, W, C) -> (N, *model input shape[1:]) in the model's input dtype.

    ``preprocessing`` is a name or a mean-std block (applied per channel, before any reshape)."""
    images = np.asarray(images)
    if images.ndim == 3:  # (N, H, W): one channel
        images = images[..., None]
    check_fits(images.shape, detail)
    per_image = tuple(int(d) for d in detail["shape"][1:])
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


# What a graph's output is, as the export sidecar's graph block says ("output"); see edgenets.export.optimize.
LOGITS, PROBABILITIES = "logits", "probabilities"


def softmax(scores: np.ndarray) -> np.ndarray:
    """Row-wise softmax in float64 (exact enough for logits of any size), returned as float64."""
    z = np.asarray(scores, np.float64)
    z = z - z.max(axis=1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=1, keepdims=True)


def look_like_probabilities(scores: np.ndarray, detail: Optional[dict] = None) -> bool:
    """Every row in [0, 1] and summing to 1 (within the output's quantisation step per class)?"""
    s = np.asarray(scores, np.float64)
    if s.size == 0:
        return True
    scale = float((detail or {}).get("quantization", (0.0, 0))[0] or 0.0)
    tolerance = 1e-3 + s.shape[1] * scale
    return bool(s.min() >= -tolerance and s.max() <= 1 + tolerance
                and np.all(np.abs(s.sum(axis=1) - 1.0) <= tolerance))


def to_probabilities(scores: np.ndarray, output_kind: Optional[str], detail: Optional[dict] = None) -> tuple[np.ndarray, str]:
    """(probabilities, how they were obtained) for dequantised scores.

    ``output_kind`` is the sidecar's graph output: "logits" -> softmax; "probabilities" -> as they are;
    anything else (no sidecar, "scores") -> softmax unless every row already sums to ~1."""
    if output_kind == LOGITS:
        return softmax(scores), "softmax of the logits (sidecar: the graph outputs logits)"
    if output_kind == PROBABILITIES:
        return np.asarray(scores, np.float64), "the model's own softmax output"
    if look_like_probabilities(scores, detail):
        return np.asarray(scores, np.float64), "the model's outputs (they already sum to 1)"
    return softmax(scores), "softmax of the model's outputs (they do not sum to 1)"
