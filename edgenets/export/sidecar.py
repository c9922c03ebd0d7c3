"""The JSON sidecar beside each .tflite: everything a device needs to feed and read the model.

``edgenets bench`` reads it (labels, preprocessing); the input/output dtype and quantisation
parameters are copied from what the interpreter reports for the written file, not from what we
asked the converter for, so the sidecar cannot disagree with the model.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Optional

from edgenets._io import sha256_file
from edgenets.export.verify import io_details
from edgenets.formats import get_precision
from edgenets.preprocessing import DEFAULT_PREPROCESSING

SCHEMA = "edgenets.tflite-sidecar/1"

# Oldest runtime the exported ops were checked against (tests/test_export.py::test_legacy_runtime_compat,
# docs/export.md); ai-edge-litert is the current runtime.
CHECKED_RUNTIMES = {"ai_edge_litert": ">=2.3", "tflite_runtime": ">=2.14 (checked: 2.14.0)"}


def build(tflite_path: Path, precision: str, *, config: dict, calibration: Optional[dict],
          versions: dict, source: dict, ops: dict[str, int], graph: Optional[dict] = None) -> dict[str, Any]:
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
        "num_classes": int(config["num_classes"]),
        "labels": list(config["class_names"]),
        "preprocessing": config.get("preprocessing", DEFAULT_PREPROCESSING),
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
