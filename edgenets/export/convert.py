"""Keras model -> TFLite flatbuffer bytes, one function per precision (see edgenets.formats).

Path: ``model.export()`` to a SavedModel with a fixed ``[1, H, W, C]`` input signature, then
``tf.lite.TFLiteConverter.from_saved_model``. ``from_keras_model`` is avoided on purpose: with
Keras 3 it fails on several TF releases (tensorflow/tensorflow#63867 "'Sequential' object has no
attribute '_get_save_spec'", keras-team/keras#19108), and the SavedModel path is what Keras 3
recommends. The batch dimension is fixed to 1 because device models run one image at a time and
some runtimes/delegates reject dynamic shapes: a ``None`` batch in the signature makes the converter
compute every Reshape's target at run time (SHAPE + STRIDED_SLICE + PACK before each RESHAPE).
``edgenets export`` makes the batch resizable afterwards instead, by rewriting the few ops that
hard-code it (:func:`edgenets.export.optimize.make_dynamic_batch`).
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from typing import Any, Callable, Iterator, Optional

import numpy as np

from edgenets._io import keras_verbose
from edgenets.errors import EdgenetsError, InputError, first_line, require
from edgenets.formats import IO_TYPES, get_precision
from edgenets.preprocessing import DEFAULT_PREPROCESSING, Spec, preprocess
from edgenets.preprocessing import check as check_preprocessing

_PURPOSE = "edgenets export"


def _tf():
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")  # before the first TF import; hides C++ info spam
    return require("tensorflow", "train", _PURPOSE)


@contextlib.contextmanager
def quiet_native_logs() -> Iterator[None]:
    """Silence what the converter's C++ code prints straight to fd 2 (e.g. "fully_quantize: 0, ...").

    Python-level errors still surface as exceptions; EDGENETS_DEBUG=1 keeps the native output.
    """
    if os.environ.get("EDGENETS_DEBUG", "").strip() not in ("", "0", "false", "no"):
        yield
        return
    try:
        saved = os.dup(2)
    except OSError:  # no real fd 2 (embedded interpreters): nothing to silence
        yield
        return
    try:
        with open(os.devnull, "w") as devnull:
            os.dup2(devnull.fileno(), 2)
            yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)


def representative_dataset(images: np.ndarray, *, progress: bool = True,
                           preprocessing: Spec = DEFAULT_PREPROCESSING) -> Callable[[], Iterator[list]]:
    """A converter-ready factory: yields ``[float32 (1,H,W,C)]`` one calibration image at a time.

    ``images`` are uint8 pixels, as the data layer stores them; ``preprocessing`` must be the one
    the model was trained with (config.json "preprocessing": a name or a mean-std block), so
    calibration sees real input ranges.
    """
    check_preprocessing(preprocessing)
    images = np.asarray(images)
    if images.ndim != 4 or len(images) == 0:
        raise InputError(f"representative images must be a non-empty (N,H,W,C) array. Received shape {images.shape}")

    def gen() -> Iterator[list]:
        bar = None
        if progress:
            from keras.utils import Progbar

            print(f"calibrating on {len(images)} training images", flush=True)
            bar = Progbar(len(images), unit_name="image", verbose=keras_verbose())
        for i in range(len(images)):
            yield [preprocess(images[i : i + 1], preprocessing)]
            if bar is not None:
                bar.update(i + 1)

    return gen


def _configure(converter: Any, precision: str, representative: Optional[np.ndarray], io_type: str,
               progress: bool, preprocessing: Spec) -> None:
    """Set the converter options that define each precision (the table in edgenets.formats)."""
    tf = _tf()
    if precision == "float32":
        return
    if precision == "float16":
        converter.optimizations = [tf.lite.Optimize.DEFAULT]
        converter.target_spec.supported_types = [tf.float16]
        return
    if precision == "dynamic":
        # DEFAULT without a representative data set = dynamic-range quantisation (int8 weights only).
        converter.optimizations = [tf.lite.Optimize.DEFAULT]
        # TF 2.21 quantises Dense weights per channel here, which needs FULLY_CONNECTED version 12;
        # tflite-runtime 2.14 (still on many Pi images) stops at "Didn't find op for builtin opcode
        # 'FULLY_CONNECTED' version '12'". Per-tensor Dense weights give version 9, which it runs
        # (measured: docs/export.md). Private flag, so only set it where this TF has it.
        if hasattr(converter, "_experimental_disable_per_channel_quantization_for_dense_layers"):
            converter._experimental_disable_per_channel_quantization_for_dense_layers = True
        return
    if precision == "int8":
        if representative is None:
            raise InputError("int8 export needs representative (calibration) images")
        converter.optimizations = [tf.lite.Optimize.DEFAULT]
        converter.representative_dataset = representative_dataset(representative, progress=progress,
                                                                  preprocessing=preprocessing)
        # Full-integer only: conversion fails instead of silently leaving float ops in the graph.
        converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
        dtype = {"int8": tf.int8, "uint8": tf.uint8, "float32": tf.float32}[io_type]
        converter.inference_input_type = dtype
        converter.inference_output_type = dtype
        return
    raise AssertionError(precision)  # get_precision() already rejected unknown names


def _validate(precision: str, io_type: str) -> None:
    get_precision(precision)
    if io_type not in IO_TYPES:
        raise InputError(f"--io must be one of {', '.join(IO_TYPES)}. Received: {io_type!r}")


@contextlib.contextmanager
def saved_model(model: Any, batch_size: int = 1, image_shape: Optional[tuple] = None) -> Iterator[str]:
    """Export ``model`` to a temporary SavedModel with a fixed-batch input signature; yield its path.

    ``image_shape`` (H, W, C) fixes the input's size where the model leaves it open (``None`` height
    or width: a fully convolutional model), so the converted graph has static shapes.
    """
    tf = _tf()
    dims = list(model.input_shape[1:])
    if image_shape is not None:
        dims = [int(s) if d is None else int(d) for d, s in zip(dims, image_shape)]
    if any(d is None for d in dims):
        raise InputError(f"the model's input shape {tuple(model.input_shape)} has open dimensions; give the image size")
    shape = [batch_size, *[int(d) for d in dims]]
    with tempfile.TemporaryDirectory(prefix="edgenets-savedmodel-") as tmp:
        try:
            model.export(tmp, format="tf_saved_model", verbose=False,
                         input_signature=[tf.TensorSpec(shape, tf.float32, name="image")])
        except Exception as exc:  # noqa: BLE001 - any export failure is one readable line
            raise EdgenetsError(f"could not export the Keras model to a SavedModel: {type(exc).__name__}: {exc}") from exc
        yield tmp


def make_converter(saved_model_dir: str, precision: str, *, representative: Optional[np.ndarray] = None,
                   io_type: str = "int8", progress: bool = True, preprocessing: Spec = DEFAULT_PREPROCESSING) -> Any:
    """A ``TFLiteConverter`` configured for ``precision`` (also what the quantisation debugger needs)."""
    _validate(precision, io_type)
    converter = _tf().lite.TFLiteConverter.from_saved_model(saved_model_dir)
    _configure(converter, precision, representative, io_type, progress, preprocessing)
    return converter


def convert_saved_model(saved_model_dir: str, precision: str, *, representative: Optional[np.ndarray] = None,
                        io_type: str = "int8", progress: bool = True,
                        preprocessing: Spec = DEFAULT_PREPROCESSING) -> bytes:
    """Like :func:`to_tflite`, from a SavedModel made by :func:`saved_model` (export it once, convert many)."""
    converter = make_converter(saved_model_dir, precision, representative=representative, io_type=io_type,
                               progress=progress, preprocessing=preprocessing)
    try:
        with quiet_native_logs():
            return bytes(converter.convert())
    except Exception as exc:  # noqa: BLE001 - converter errors are long C++ dumps; keep the first line
        raise EdgenetsError(f"TFLite conversion to {precision} failed: {first_line(exc)}") from exc


def to_tflite(model: Any, precision: str, *, representative: Optional[np.ndarray] = None,
              io_type: str = "int8", progress: bool = True, preprocessing: Spec = DEFAULT_PREPROCESSING) -> bytes:
    """Convert a Keras model (float32 input, batch 1) to a TFLite flatbuffer.

    ``precision`` is a name from :data:`edgenets.formats.PRECISIONS`; ``representative`` (uint8
    images, (N,H,W,C)) is required for int8; ``io_type`` sets the int8 model's input/output dtype.
    """
    _validate(precision, io_type)
    with saved_model(model) as path:
        return convert_saved_model(path, precision, representative=representative, io_type=io_type,
                                   progress=progress, preprocessing=preprocessing)


def op_versions(flatbuffer: bytes) -> dict[str, int]:
    """{"CONV_2D": 3, ...}: the builtin op versions a runtime must support to load the model."""
    from tensorflow.lite.python import schema_py_generated as schema

    model = schema.ModelT.InitFromObj(schema.Model.GetRootAsModel(flatbuffer, 0))
    names = {v: k for k, v in vars(schema.BuiltinOperator).items() if not k.startswith("_")}
    versions: dict[str, int] = {}
    for code in model.operatorCodes:
        # Codes >= 127 live in builtinCode; older ones in deprecatedBuiltinCode (schema v3a).
        name = names.get(max(code.builtinCode, code.deprecatedBuiltinCode), str(code.builtinCode))
        versions[name] = max(versions.get(name, 0), int(code.version))
    return dict(sorted(versions.items()))
