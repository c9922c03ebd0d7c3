"""The one table of TFLite precisions: export writes them, bench recognises them.

Every place that needs a precision's file name, dtypes, calibration need or description reads it from
:data:`PRECISIONS`; nothing is listed twice (ultralytics' ``export_formats()`` idea).
This module imports nothing heavy, so the device side (``edgenets bench``) can use it.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Optional


@dataclass(frozen=True)
class Precision:
    name: str  # what the CLI and the sidecar call it
    weight_dtype: str  # how the weights are stored in the .tflite file
    activation_dtype: str  # what the kernels compute in
    needs_calibration: bool  # needs a representative data set to fix activation ranges
    description: str

    @property
    def filename(self) -> str:
        return f"model_{self.name}.tflite"

    @property
    def sidecar_name(self) -> str:
        return f"model_{self.name}.json"


PRECISIONS: dict[str, Precision] = {
    p.name: p
    for p in (
        Precision("float32", "float32", "float32", False,
                  "reference float model, no quantisation"),
        Precision("float16", "float16", "float32", False,
                  "float16 weights (half size), dequantised to float32 at load; float I/O"),
        Precision("dynamic", "int8", "float32 (int8 matmuls where supported)", False,
                  "dynamic-range: int8 weights, activations quantised on the fly; float I/O"),
        Precision("int8", "int8", "int8", True,
                  "full-integer: int8 weights and activations (TFLITE_BUILTINS_INT8), "
                  "calibrated on training images; I/O int8 by default (uint8/float32 with --io)"),
    )
}

# The int8 model's input/output type is a choice (--io); uint8 is what Edge TPU-style accelerators want.
IO_TYPES = ("int8", "uint8", "float32")


def list_precisions() -> list[str]:
    return list(PRECISIONS)


def get_precision(name: str) -> Precision:
    from edgenets.errors import InputError

    try:
        return PRECISIONS[name]
    except KeyError:
        raise InputError(f"unknown precision {name!r}; choose from {', '.join(PRECISIONS)}") from None


def precision_from_filename(path: str | Path) -> Optional[str]:
    """``model_int8.tflite`` -> ``"int8"``; None for a file name that is not one of ours."""
    name = Path(path).name
    for p in PRECISIONS.values():
        if name == p.filename:
            return p.name
    return None
