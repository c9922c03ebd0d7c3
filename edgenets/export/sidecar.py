"""The JSON sidecar beside each .tflite: everything a device needs to feed and read the model.

``edgenets bench`` and ``edgenets predict`` read it: the labels (the class names), the
preprocessing (a name, or a mean-std block since schema 2), the image size and colour the model
takes. The input/output dtype and quantisation parameters are copied from what the interpreter
reports for the written file, not from what we asked the converter for, so the sidecar cannot
disagree with the model.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Optional, Sequence

from edgenets._io import sha256_file
from edgenets.export.verify import io_details
from edgenets.formats import get_precision
from edgenets.preprocessing import Spec

# 2: "preprocessing" may be a mean-std block; "image" and "data_options" added
SCHEMA = "edgenets.tflite-sidecar/2"

# Oldest runtime the exported ops were checked against (tests/test_export.py::test_legacy_runtime_compat,
# docs/export.md); ai-edge-litert is the current runtime.
CHECKED_RUNTIMES = {"ai_edge_litert": ">=2.3", "tflite_runtime": ">=2.14 (checked: 2.14.0)"}


def image_info(input_shape: Sequence[int]) -> dict:
    """The sidecar's "image" block: the pixels the model takes, before preprocessing ((H, W, C) of uint8)."""
    height, width, channels = (int(d) for d in input_shape)
    return {"height": height, "width": width, "channels": channels, "color": "grey" if channels == 1 else "rgb"}


def build(tflite_path: Path, precision: str, *, labels: Sequence[str], preprocessing: Spec,
          input_shape: Sequence[int], calibration: Optional[dict], versions: dict, source: dict,
          ops: dict[str, int], graph: Optional[dict] = None, data_options: Optional[dict] = None) -> dict[str, Any]:
    """The sidecar of one written file. ``preprocessing`` is the full spec (a name or a mean-std block);
    ``data_options`` are the data set's load options (colour, size), so bench and predict can load
    images exactly as export did."""
    fmt = get_precision(precision)
    tflite_path = Path(tflite_path)
    details = io_details(tflite_path)
    return {
        "schema": SCHEMA,
        "file": tflite_path.name,
        "precision": fmt.name,
        "description": fmt.description,
        "weight_dtype": fmt.weight_dtype,
        "activation_dtype": fmt.activation_dtype,
        "size_bytes": tflite_path.stat().st_size,
        "sha256": sha256_file(tflite_path),
        "input": details["input"],
        "output": details["output"],
        "image": image_info(input_shape),
        "num_classes": len(labels),
        "labels": [str(c) for c in labels],
        "preprocessing": preprocessing,
        "data_options": dict(data_options or {}),
        "calibration": calibration,
        "converter": versions,
        "ops": ops,
        # what the graph outputs ("logits" | "probabilities" | "scores"), whether its batch can be
        # resized ("dynamic" | 1), the export options and what each transform did
        # (edgenets.export.optimize); None for a file written without them
        "graph": graph,
        "runtimes": CHECKED_RUNTIMES,
        "source": source,
    }
