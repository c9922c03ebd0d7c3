"""How uint8 pixels become a model's float input: one named table for every stage.

``config.json`` (training) and each export's sidecar record the name; calibration, the Keras
accuracy check at export, ``edgenets bench`` on the board and the training pipeline all turn
pixels into inputs through this table (the pipeline's TensorFlow op is tested against it), so a
model is never calibrated or measured on inputs scaled differently from those it was trained on.
NumPy only: the device side imports it.
"""

from __future__ import annotations

from typing import Callable

import numpy as np

from edgenets.errors import InputError

PREPROCESSING: dict[str, Callable[[np.ndarray], np.ndarray]] = {
    "pixels/255": lambda x: x.astype(np.float32) / np.float32(255.0),
    "pixels": lambda x: x.astype(np.float32),
    "pixels/127.5-1": lambda x: x.astype(np.float32) / np.float32(127.5) - np.float32(1.0),
}
DEFAULT_PREPROCESSING = "pixels/255"  # what edgenets train uses


def check(name: str, where: str = "preprocessing") -> str:
    """``name`` if it is in the table, else a one-line ``InputError`` that says where it came from."""
    if name not in PREPROCESSING:
        raise InputError(f"{where}: unknown preprocessing {name!r}; supported: {', '.join(PREPROCESSING)}")
    return name


def preprocess(images: np.ndarray, name: str = DEFAULT_PREPROCESSING) -> np.ndarray:
    """uint8 pixels -> float32 model input, as ``name`` says."""
    return PREPROCESSING[check(name)](images)
