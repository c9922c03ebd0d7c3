"""Per-layer quantisation error of the int8 model (``edgenets export --debug``).

TFLite's ``tf.lite.experimental.QuantizationDebugger`` builds a debug model in which every
quantised op is followed by a NumericVerify op that compares its dequantised output with the
float op's output on the same input. Per layer we report RMSE and RMSE / scale: the error
measured in quantisation steps, comparable across layers whatever their range (the TFLite
"Inspecting quantization errors" guide uses the same ratio; around 0.3 steps is the rounding
floor, much more means that layer's range or distribution quantises badly).
"""

from __future__ import annotations

import io
import re
import warnings
from pathlib import Path
import numpy as np

from edgenets._io import atomic_path
from edgenets.export.convert import make_converter, quiet_native_logs, representative_dataset
from edgenets.preprocessing import DEFAULT_PREPROCESSING, Spec

DEBUG_TOP = 10  # layers printed by the CLI; the CSV has them all

COLUMNS = ["rank", "layers", "op_name", "rmse", "rmse_over_scale", "max_abs_error", "mean_error",
           "scale", "zero_point", "num_elements", "tensor_name"]


def _layer_names(tensor_name: str) -> str:
    """'functional_1/b1_relu_1/Relu;functional_1/b1_dw_1/depthwise;1' -> 'b1_relu, b1_dw' (the Keras names)."""
    names = []
    for part in str(tensor_name).split(";"):
        pieces = part.split("/")
        if len(pieces) >= 2:
            name = re.sub(r"_\d+$", "", pieces[1])
            if name not in names:
                names.append(name)
    return ", ".join(names) or str(tensor_name)


def quantization_report(saved_model_dir: str, calibration_images: np.ndarray, *,
                        debug_samples: int = 100, preprocessing: Spec = DEFAULT_PREPROCESSING) -> list[dict]:
    """Rows, worst first (by RMSE / scale), one per quantised op of the full-integer model.

    ``saved_model_dir`` comes from :func:`edgenets.export.convert.saved_model`; the debug model is
    calibrated on the same images as the exported int8 model.
    """
    import tensorflow as tf

    images = calibration_images[:debug_samples]
    # Float I/O for the debug model: the debugger feeds float samples and compares float outputs.
    converter = make_converter(saved_model_dir, "int8", representative=calibration_images, io_type="float32",
                               progress=False, preprocessing=preprocessing)
    with warnings.catch_warnings(), quiet_native_logs():
        warnings.simplefilter("ignore")  # tf.lite.Interpreter deprecation inside the debugger
        debugger = tf.lite.experimental.QuantizationDebugger(
            converter=converter, debug_dataset=representative_dataset(images, progress=False, preprocessing=preprocessing))
        debugger.run()
        buf = io.StringIO()
        debugger.layer_statistics_dump(buf)
    import pandas as pd

    stats = pd.read_csv(io.StringIO(buf.getvalue()))
    stats["rmse"] = np.sqrt(stats["mean_squared_error"])
    stats["rmse_over_scale"] = stats["rmse"] / stats["scale"]
    stats["layers"] = stats["tensor_name"].map(_layer_names)
    stats = stats.sort_values("rmse_over_scale", ascending=False).reset_index(drop=True)
    stats["rank"] = np.arange(1, len(stats) + 1)
    return stats[COLUMNS].to_dict(orient="records")


def write_csv(rows: list[dict], path: Path) -> Path:
    import pandas as pd

    with atomic_path(path) as tmp:
        pd.DataFrame(rows, columns=COLUMNS).to_csv(tmp, index=False)
    return Path(path)
