"""Run an exported .tflite on images through the LiteRT interpreter (no TensorFlow needed).

Used right after export to measure each model's test accuracy with the same code as ``edgenets bench``
and ``edgenets predict`` (:mod:`edgenets.inference`): the fixed batch-1 input is resized to a larger
batch only when that gives bit-identical outputs, otherwise it runs image by image. The names here
are that package's, kept under their old import path.
"""

from __future__ import annotations

import numpy as np

from edgenets.inference.batching import EVAL_BATCH
from edgenets.inference.litert import ModelSource, Predictions, io_details, make_interpreter
from edgenets.inference.litert import predict_images as predict
from edgenets.inference.tensors import prepare_inputs
from edgenets.preprocessing import DEFAULT_PREPROCESSING, Spec


def quantize_input(images_uint8: np.ndarray, detail: dict, preprocessing: Spec = DEFAULT_PREPROCESSING) -> np.ndarray:
    """uint8 pixels -> the model's input tensor: preprocessed, then quantised if the input is integer."""
    return prepare_inputs(images_uint8, detail, preprocessing)


__all__ = ["EVAL_BATCH", "ModelSource", "Predictions", "io_details", "make_interpreter", "predict", "quantize_input"]
