"""Load a data set from any supported source into uint8 (N, H, W, C) images + class indices + class names.

Sources, each in its own module under :mod:`edgenets.data.sources`: a built-in name (``mnist``,
``fashion-mnist``); a folder of IDX files (raw or .gz) or one IDX image file; a Kaggle-style CSV
(``label`` + pixel columns, header optional; no label column for prediction) or a folder holding
``train.csv``/``test.csv``; a keras-layout ``.npz`` (``x_train, y_train, x_test, y_test``); a folder
of class sub-folders of images, or ``train/`` + ``test/`` of them.

``load_dataset(spec, color=..., image_size=..., image_shape=...)`` also converts every source to the
colour and size asked for (see :mod:`edgenets.data.options`), and records those options in
``Dataset.load_options`` so that ``load_dataset(spec, **data.load_options)`` loads the same arrays.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np

from edgenets.data import cache as _fetch
from edgenets.data.arrays import conform
from edgenets.data.dataset import Dataset, check_trainable
from edgenets.data.labels import ClassNames
from edgenets.data.options import LoadOptions, parse_shape, parse_size
from edgenets.data.sources.csv_files import load_csv, load_csv_file, load_csv_folder, save_csv
# the Kaggle layout's constants and parse helpers, where tests/test_light_deps.py's pandas comparison reads them
from edgenets.data.sources.csv_files import NUM_CLASSES as NUM_CLASSES, PIXELS as PIXELS, SIDE as SIDE
from edgenets.data.sources.csv_files import _first_bad_cell as _first_bad_cell, _is_number as _is_number
from edgenets.data.sources.idx_files import is_idx_dir, load_idx_dir, load_idx_file
from edgenets.data.sources.image_folders import load_image_folder, load_images
from edgenets.data.sources.npz_files import load_npz
from edgenets.errors import InputError

__all__ = ["Dataset", "check_trainable", "load_csv", "load_dataset", "load_image_folder", "load_npz", "parse_shape",
           "parse_size", "save_csv"]


def load_dataset(spec: str | os.PathLike, *, quiet: bool = False, color: Any = None, image_size: Any = None,
                 image_shape: Any = None, trainable: bool = True) -> Dataset:
    """Load a built-in data set by name, or any supported file/folder by path.

    ``color`` "rgb"/"grey", ``image_size`` (H, W) or "HxW", ``image_shape`` (H, W, C) or "HxWxC"; None
    keeps what the data is. Errors are one InputError line naming the file or the option.
    ``trainable=False`` is for evaluation sets (bench): one class, or fewer images than classes, is
    fine there (labels are matched to the model's classes by name).
    """
    options = LoadOptions.parse(color=color, image_size=image_size, image_shape=image_shape)
    data = _load(str(spec), options, quiet)
    return _finish(data, options, str(spec), trainable)


def _load(text: str, options: LoadOptions, quiet: bool) -> Dataset:
    if text in _fetch.BUILTINS:
        builtin = _fetch.get_builtin(text)
        folder = _fetch.fetch(text, quiet=quiet)
        data = load_idx_dir(folder, name=text, options=options, names=ClassNames(builtin.class_names, "built-in"))
        data.source = {"kind": "builtin", "name": text, "path": str(folder), "sha256": dict(builtin.sha256)}
        return data
    path = Path(text).expanduser()
    if not path.exists():
        if os.sep not in text and "." not in text:
            raise InputError(f"unknown data set {text!r}: choose one of {', '.join(_fetch.BUILTINS)} or give a path")
        raise InputError(f"{path}: file not found")
    if path.is_file():
        suffix = path.suffix.lower()
        if suffix == ".npz":
            return load_npz(path, options)
        if suffix == ".csv":
            return load_csv_file(path, options)
        if "idx" in path.name or suffix == ".gz":
            return load_idx_file(path, options)
        raise InputError(f"{path}: unsupported file type (use .csv, .npz, an IDX file or a folder)")
    if not os.access(path, os.R_OK | os.X_OK):
        raise InputError(f"{path}: folder not readable")
    if is_idx_dir(path):
        return load_idx_dir(path, options=options)
    if (path / "train.csv").is_file():
        return load_csv_folder(path, options)
    if not (path / "train").is_dir() and not any(path.iterdir()):
        raise InputError(f"{path}: empty folder")
    return load_images(path, options)


def _finish(data: Dataset, options: LoadOptions, spec: str, trainable: bool = True) -> Dataset:
    """Every split in the colour and size asked for (or the training split's), the classes checked."""
    data.x_train = conform(data.x_train, options.target_color, options.target_size)
    if data.x_test is not None:
        data.x_test = conform(data.x_test, options.target_color, options.target_size)
        if data.x_test.shape[1:] != data.x_train.shape[1:]:
            raise InputError(f"{_where(data, spec)}: test images are {_shape(data.x_test)} but training images are "
                             f"{_shape(data.x_train)}; pass --image-size HxW and --color to load both alike")
    # one class is never a data set; too few images is checked only where the training split is the only one:
    # an evaluation file may carry a token training split beside its test split (edgenets.remote's upload)
    if trainable and data.y_train is not None and (data.num_classes < 2 or data.x_test is None):
        check_trainable(data, _where(data, spec))
    data.load_options = options.as_dict()
    return data


def _where(data: Dataset, spec: str) -> str:
    return str(data.source.get("path") if data.source.get("kind") != "builtin" else spec) or spec


def _shape(x: np.ndarray) -> str:
    return "x".join(str(d) for d in x.shape[1:])
