"""A keras-layout ``.npz``: ``x_train``, ``y_train`` and, optionally, ``x_test``, ``y_test``, ``class_names``.

Images are (N, H, W) (grey), (N, H, W, C) with C 1 or 3, or flat (N, pixels) rows (a square grey
image unless ``--image-shape`` says otherwise), whole numbers 0..255 of any numeric dtype. Labels are
whole numbers or strings. ``class_names`` (an array of strings; or a ``classes.txt`` / ``labels.txt``
beside the file) makes integer labels indices into it and string labels names in it.
"""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import numpy as np

from edgenets.data.arrays import check_images
from edgenets.data.dataset import Dataset
from edgenets.data.labels import ClassNames, RawLabels, assign, check_names, find_names_file, whole_numbers
from edgenets.data.options import LoadOptions
from edgenets.data.sources.files import require_file
from edgenets.errors import InputError


def load_npz(path: Path, options: LoadOptions = LoadOptions()) -> Dataset:
    path = Path(path)
    require_file(path)
    try:
        with np.load(path, allow_pickle=False) as npz:
            arrays = {k: npz[k] for k in npz.files}
    except Exception as exc:  # noqa: BLE001 - zipfile/zlib/numpy raise a dozen types on corrupt archives
        raise InputError(f"{path}: not a readable .npz ({type(exc).__name__}: {exc})") from None
    need = ("x_train", "y_train")
    missing = [k for k in need if k not in arrays]
    if missing:
        raise InputError(f"{path}: missing key(s) {', '.join(missing)} (has {', '.join(sorted(arrays)) or 'none'})")
    x_train, y_train = _split(path, arrays, "train", options)
    x_test = y_test = None
    if "x_test" in arrays or "y_test" in arrays:
        if not ("x_test" in arrays and "y_test" in arrays):
            raise InputError(f"{path}: has only one of x_test / y_test")
        x_test, y_test = _split(path, arrays, "test", options)
    names = _names(path, arrays)
    classes, y_train_i, (y_test_i,) = assign(y_train, [y_test], names)
    source = {"kind": "npz", "path": str(path)}
    if names is not None:
        source["class_names_from"] = names.origin
    return Dataset(path.stem, x_train, y_train_i, x_test, y_test_i, class_names=classes, source=source)


def _split(path: Path, arrays: dict, split: str, options: LoadOptions) -> tuple[np.ndarray, RawLabels]:
    x = check_images(arrays[f"x_{split}"], f"{path}[x_{split}]", options.image_shape)
    key = f"{path}[y_{split}]"
    y = whole_numbers(arrays[f"y_{split}"], key)
    if len(y) != len(x):
        raise InputError(f"{key}: {len(y)} labels for {len(x)} images")
    return x, RawLabels(y, lambda i: f"{key} item {i}")


def _names(path: Path, arrays: dict) -> Optional[ClassNames]:
    beside = find_names_file(path.parent, path)
    if "class_names" not in arrays:
        return beside
    raw = arrays["class_names"]
    key = f"{path}[class_names]"
    if raw.ndim != 1 or raw.dtype.kind not in "US":
        raise InputError(f"{key}: expected a 1-D array of strings, found {raw.dtype} {raw.shape}")
    values = raw.astype(str) if raw.dtype.kind == "U" else np.char.decode(raw, "utf-8", "replace").astype(str)
    names = check_names(list(values), key, lambda i: f"{key} item {i}")
    if beside is not None and beside.names != names.names:
        raise InputError(f"{key}: differs from {beside.origin} beside it; keep one list of class names")
    return names
