"""The original MNIST distribution: a folder of IDX files (raw or .gz), or one IDX image file.

``train-images-idx3-ubyte`` + ``train-labels-idx1-ubyte`` (and ``t10k-...`` for the test split), also
under the dotted names (``train-images.idx3-ubyte``). Images are (N, H, W) or (N, H, W, C); a
``classes.txt`` / ``labels.txt`` in the folder names the classes, else the label values do.
"""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import numpy as np

from edgenets.data.arrays import check_images
from edgenets.data.dataset import Dataset
from edgenets.data.idx import read_idx
from edgenets.data.labels import ClassNames, RawLabels, assign, find_names_file, whole_numbers
from edgenets.data.options import LoadOptions
from edgenets.errors import InputError


def find_idx(folder: Path, stem: str) -> Optional[Path]:
    # accept the original names and the common dotted variant (train-images.idx3-ubyte)
    for name in (stem, stem + ".gz", stem.replace("-idx", ".idx"), stem.replace("-idx", ".idx") + ".gz"):
        if (folder / name).is_file():
            return folder / name
    return None


def is_idx_dir(folder: Path) -> bool:
    return find_idx(folder, "train-images-idx3-ubyte") is not None or find_idx(folder, "t10k-images-idx3-ubyte") is not None


def read_pair(images: Path, labels: Optional[Path], options: LoadOptions = LoadOptions()
              ) -> tuple[np.ndarray, Optional[RawLabels]]:
    """Images uint8 (N, H, W, C) and their labels as written."""
    x = check_images(read_idx(images), str(images), options.image_shape)
    if labels is None:
        return x, None
    raw = read_idx(labels)
    if raw.ndim != 1:
        raise InputError(f"{labels}: label IDX file has {raw.ndim} dimensions, expected 1")
    y = whole_numbers(raw, str(labels))
    if len(y) != len(x):
        raise InputError(f"{labels}: {len(y)} labels for {len(x)} images")
    return x, RawLabels(y, lambda i: f"{labels}: item {i}")


def load_idx_dir(folder: Path, name: Optional[str] = None, options: LoadOptions = LoadOptions(),
                 names: Optional[ClassNames] = None) -> Dataset:
    """Both splits on one class mapping; ``names`` (the built-ins') or a names file in the folder name the classes."""
    parts = {}
    for split, prefix in (("train", "train"), ("test", "t10k")):
        images = find_idx(folder, f"{prefix}-images-idx3-ubyte")
        labels = find_idx(folder, f"{prefix}-labels-idx1-ubyte")
        if images is None:
            continue
        if labels is None:
            raise InputError(f"{folder}: {images.name} has no matching {prefix}-labels-idx1-ubyte")
        parts[split] = read_pair(images, labels, options)
    if "train" not in parts:
        raise InputError(f"{folder}: no train-images-idx3-ubyte[.gz] found")
    names = names or find_names_file(folder, folder)
    x_test, raw_test = parts.get("test", (None, None))
    classes, y_train, (y_test,) = assign(parts["train"][1], [raw_test], names)
    source = {"kind": "idx", "path": str(folder)}
    if names is not None and names.origin != "built-in":
        source["class_names_from"] = names.origin
    return Dataset(name or folder.name, parts["train"][0], y_train, x_test, y_test, class_names=classes, source=source)


def load_idx_file(path: Path, options: LoadOptions = LoadOptions()) -> Dataset:
    """One IDX image file: images to predict, no labels."""
    x, _ = read_pair(path, None, options)
    return Dataset(path.name, x, None, class_names=(), source={"kind": "idx", "path": str(path)})
