"""A folder of class sub-folders of image files (``cat/*.jpg``, ``dog/*.jpg``), or ``train/`` + ``test/`` of them.

Class names are the folder names, sorted (numerically when every name is a number). Images keep their
colour unless ``--color`` says otherwise; a folder mixing grey and colour images needs ``--color``.
Every image is resized to ``--image-size`` (default: the most common size among the images, stated in
the data set's ``source["note"]``). Pillow decodes them (:mod:`edgenets.data.images`); a file that
does not decode is an error naming it, and files without an image suffix are not read.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Optional

import numpy as np

from edgenets.data.dataset import Dataset
from edgenets.data.images import is_image_file, open_image, probe_image, to_array
from edgenets.data.options import LoadOptions
from edgenets.errors import InputError, require

_SHOWN = (".png", ".jpg", ".bmp")


def class_folders(folder: Path) -> list[str]:
    """The class sub-folders' names in class order."""
    classes = sorted(d.name for d in folder.iterdir() if d.is_dir() and not d.name.startswith("."))
    if not classes:
        raise InputError(f"{folder}: no class sub-folders (expected e.g. {folder}/cat/*.png, {folder}/dog/*.png, ...)")
    if all(c.isdigit() for c in classes):
        classes = sorted(classes, key=lambda c: (int(c), c))
    return classes


def _files(folder: Path, classes: list[str]) -> dict[str, list[Path]]:
    files = {}
    for cls in classes:
        found = sorted(f for f in (folder / cls).iterdir() if is_image_file(f))
        if not found:
            raise InputError(f"{folder / cls}: class folder has no images (no {', '.join(_SHOWN)}, ... files)")
        files[cls] = found
    return files


def _decide(splits: list[dict[str, list[Path]]], folder: Path, options: LoadOptions) -> tuple[str, tuple[int, int], str]:
    """(colour, (H, W), note) for every image: the options', else what the images are."""
    color, size = options.target_color, options.target_size
    if color is not None and size is not None:
        return color, size, ""
    seen_color: dict[str, Path] = {}
    sizes: Counter = Counter()
    for files in splits:
        for paths in files.values():
            for path in paths:
                native, hw = probe_image(path)
                seen_color.setdefault(native, path)
                sizes[hw] += 1
    note = ""
    if color is None:
        if len(seen_color) > 1:
            raise InputError(f"{folder}: mixed grey and colour images ({seen_color['grey']} is grey, "
                             f"{seen_color['rgb']} is colour); pass --color grey or --color rgb")
        color = next(iter(seen_color))
    if size is None:
        # the most common size; among equally common ones, the largest
        size, count = max(sizes.items(), key=lambda item: (item[1], item[0][0] * item[0][1], item[0]))
        if len(sizes) > 1:
            others = sorted(sizes.items(), key=lambda item: -item[1])
            listed = ", ".join(f"{h}x{w} ({n})" for (h, w), n in others[:4]) + (", ..." if len(others) > 4 else "")
            note = (f"images resized to {size[0]}x{size[1]}, the most common of {len(sizes)} sizes ({listed}); "
                    "--image-size HxW chooses another")
    return color, size, note


def _read(files: dict[str, list[Path]], index: dict[str, int], color: str, size: tuple[int, int]
          ) -> tuple[np.ndarray, np.ndarray]:
    n = sum(len(paths) for paths in files.values())
    x = np.empty((n, *size, 1 if color == "grey" else 3), dtype=np.uint8)
    y = np.empty(n, dtype=np.int64)
    i = 0
    for cls, paths in files.items():
        for path in paths:
            x[i] = to_array(open_image(path), size=size, color=color)
            y[i] = index[cls]
            i += 1
    return x, y


def load_image_folder(folder: Path, *, color: Optional[str] = None, image_size: Optional[tuple[int, int]] = None
                      ) -> tuple[np.ndarray, np.ndarray, tuple[str, ...]]:
    """One folder of class sub-folders -> (images uint8 (N, H, W, C), labels, class names)."""
    data = load_images(Path(folder), LoadOptions.parse(color=color, image_size=image_size))
    return data.x_train, data.y_train, data.class_names  # type: ignore[return-value]


def load_images(folder: Path, options: LoadOptions = LoadOptions()) -> Dataset:
    """``folder/<class>/*`` (the train split alone), or ``folder/train/<class>/*`` + ``folder/test/<class>/*``."""
    require("PIL.Image", "images", "an image-folder data set")
    split = (folder / "train").is_dir()
    train_dir = folder / "train" if split else folder
    classes = class_folders(train_dir)
    splits = [_files(train_dir, classes)]
    test_dir = folder / "test"
    if split and test_dir.is_dir():
        test_classes = class_folders(test_dir)
        unknown = [c for c in test_classes if c not in classes]
        if unknown:
            raise InputError(f"{test_dir / unknown[0]}: class {unknown[0]!r} has no folder in {train_dir} "
                             "(train and test must share their classes)")
        splits.append(_files(test_dir, test_classes))
    color, size, note = _decide(splits, folder, options)
    index = {c: i for i, c in enumerate(classes)}
    x_train, y_train = _read(splits[0], index, color, size)
    x_test, y_test = _read(splits[1], index, color, size) if len(splits) > 1 else (None, None)
    source = {"kind": "images", "path": str(folder)}
    if note:
        source["note"] = note
    return Dataset(folder.name, x_train, y_train, x_test, y_test, class_names=tuple(classes), source=source)
