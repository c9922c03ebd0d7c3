"""Enumerated option values, so `--help` lists the choices and typer rejects anything else (exit 2)."""

from __future__ import annotations

from enum import Enum


class Color(str, Enum):
    """--color: what colour images are loaded as."""

    rgb = "rgb"
    grey = "grey"


class OutputFormat(str, Enum):
    """--format of bench/compare."""

    table = "table"
    json = "json"
    csv = "csv"
    md = "md"


class Device(str, Enum):
    """--device of bench."""

    cpu = "cpu"
    cpu_ref = "cpu-ref"


class Runtime(str, Enum):
    """--runtime of bench."""

    auto = "auto"
    litert = "litert"
    tflite_runtime = "tflite-runtime"
    tensorflow = "tensorflow"


class Preprocessing(str, Enum):
    """--preprocessing of train: pixels/255, or per-channel mean/std computed on the training split."""

    pixels_255 = "pixels/255"
    mean_std = "mean-std"
