"""How uint8 pixels become a model's float input: one definition for every stage.

A preprocessing is a JSON value, stored as is in ``config.json`` (training) and in each export's
sidecar:

* a name from :data:`PREPROCESSING` -- ``"pixels/255"`` (what ``edgenets train`` uses by default),
  ``"pixels"``, ``"pixels/127.5-1"``;
* or per-channel standardisation, ``{"name": "mean-std", "mean": [...], "std": [...]}``: the input
  is ``(pixels/255 - mean[c]) / std[c]``, with one mean and std per colour channel computed on the
  training split (:func:`mean_std`), as torchvision's ``Normalize`` and timm's configs define it.

Calibration, the Keras accuracy check at export, ``edgenets bench`` and ``edgenets predict`` on
the board and the training pipeline all turn pixels into inputs through :func:`preprocess` (the
pipeline's TensorFlow op is tested against it), so a model is never calibrated or measured on
inputs scaled differently from those it was trained on. NumPy only: the device side imports it.
"""

from __future__ import annotations

from typing import Any, Callable, Union

import numpy as np

from edgenets.errors import InputError

PREPROCESSING: dict[str, Callable[[np.ndarray], np.ndarray]] = {
    "pixels/255": lambda x: x.astype(np.float32) / np.float32(255.0),
    "pixels": lambda x: x.astype(np.float32),
    "pixels/127.5-1": lambda x: x.astype(np.float32) / np.float32(127.5) - np.float32(1.0),
}
DEFAULT_PREPROCESSING = "pixels/255"  # what edgenets train uses unless told --preprocessing mean-std
MEAN_STD = "mean-std"
# What `edgenets train --preprocessing` offers; "mean-std" is computed from the training split.
CHOICES = ("pixels/255", MEAN_STD)
MIN_STD = 1.0 / 255.0  # a constant channel (std 0) is divided by one grey level, not by zero

Spec = Union[str, dict]


def check(spec: Any, where: str = "preprocessing") -> Spec:
    """``spec`` validated (a mean-std dict with float lists), else a one-line ``InputError`` naming ``where``."""
    if isinstance(spec, str):
        if spec not in PREPROCESSING:
            raise InputError(f"{where}: unknown preprocessing {spec!r}; supported: "
                             f"{', '.join(PREPROCESSING)} or {{\"name\": \"mean-std\", \"mean\": [...], \"std\": [...]}}")
        return spec
    if isinstance(spec, dict) and spec.get("name") == MEAN_STD:
        try:
            mean = [float(v) for v in spec["mean"]]
            std = [float(v) for v in spec["std"]]
        except (KeyError, TypeError, ValueError):
            raise InputError(f"{where}: mean-std preprocessing needs lists of numbers 'mean' and 'std'") from None
        if not mean or len(mean) != len(std):
            raise InputError(f"{where}: mean-std preprocessing has {len(mean)} means and {len(std)} stds")
        if not all(np.isfinite(mean)) or not all(np.isfinite(s) and s > 0 for s in std):
            raise InputError(f"{where}: mean-std preprocessing needs finite means and positive stds")
        return {"name": MEAN_STD, "mean": mean, "std": std}
    raise InputError(f"{where}: unknown preprocessing {spec!r}; supported: {', '.join(PREPROCESSING)} or a mean-std block")


def name(spec: Spec) -> str:
    """The preprocessing's name (``"pixels/255"``, ``"mean-std"``)."""
    return spec if isinstance(spec, str) else str(spec["name"])


def describe(spec: Spec) -> str:
    """One line for logs, tables and the report."""
    if isinstance(spec, str):
        return spec
    fmt = lambda values: "[" + ", ".join(f"{v:.4f}" for v in values) + "]"  # noqa: E731
    return f"(pixels/255 - mean) / std, mean={fmt(spec['mean'])}, std={fmt(spec['std'])}"


def mean_std(images: np.ndarray) -> dict:
    """Per-channel mean and std of uint8 images (N, H, W, C), in pixels/255 units: the mean-std block."""
    x = np.asarray(images)
    if x.ndim != 4 or len(x) == 0:
        raise InputError(f"mean-std preprocessing needs images (N, H, W, C); received shape {x.shape}")
    flat = x.reshape(-1, x.shape[-1]).astype(np.float64) / 255.0
    mean = flat.mean(axis=0)
    std = np.maximum(flat.std(axis=0), MIN_STD)
    return {"name": MEAN_STD, "mean": [round(float(v), 6) for v in mean], "std": [round(float(v), 6) for v in std]}


def resolve(choice: str, train_images: np.ndarray) -> Spec:
    """A ``--preprocessing`` choice made concrete for a training split (mean-std is computed on it)."""
    if choice == MEAN_STD:
        return mean_std(train_images)
    return check(choice, "--preprocessing")


def preprocess(images: np.ndarray, spec: Spec = DEFAULT_PREPROCESSING) -> np.ndarray:
    """uint8 pixels (..., C) -> float32 model input, as ``spec`` says."""
    spec = check(spec)
    if isinstance(spec, str):
        return PREPROCESSING[spec](images)
    x = np.asarray(images)
    channels = x.shape[-1] if x.ndim else 0
    if channels != len(spec["mean"]):
        raise InputError(f"mean-std preprocessing has {len(spec['mean'])} channel(s); the images have {channels}")
    mean = np.asarray(spec["mean"], dtype=np.float32)
    std = np.asarray(spec["std"], dtype=np.float32)
    return (x.astype(np.float32) / np.float32(255.0) - mean) / std
