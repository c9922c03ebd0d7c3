"""Kaggle-style CSV: one image per row, an optional header, an optional label column.

The label column is the one a header names ``label``; without a header it is the first column when
the row is one wider than an image. Pixels are row-major (H, W, C), each a whole number 0..255. A row
is a square grey image (784 columns = 28x28) unless ``image_shape`` (``--image-shape 32x32x3``) says
what it is. A folder holding ``train.csv`` (and ``test.csv``) is a data set with both splits.
Class names come from a ``classes.txt`` / ``labels.txt`` beside the CSV (labels are then indices
into it), else from the label values themselves (see :mod:`edgenets.data.labels`).

Parsed with the standard library's csv module, one validated line at a time (cells as pandas'
``read_csv(dtype=str)`` gave them: quotes removed, whitespace kept), so a CSV data set needs no
pandas on a board.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass
from pathlib import Path
from typing import Optional

import numpy as np

from edgenets.data.arrays import square_side
from edgenets.data.dataset import Dataset
from edgenets.data.labels import RawLabels, assign, find_names_file
from edgenets.data.options import LoadOptions
from edgenets.data.sources.files import require_file
from edgenets.errors import InputError, first_line

SIDE = 28  # MNIST's, the Kaggle layout's default
PIXELS = SIDE * SIDE
NUM_CLASSES = 10


@dataclass
class CsvTable:
    images: np.ndarray  # uint8 (N, H, W, C)
    labels: Optional[np.ndarray]  # int64 (N,) as written, or None without a label column
    lines: np.ndarray  # the file's line number of each row


def load_csv(path: Path, num_classes: Optional[int] = NUM_CLASSES, *,
             image_shape: Optional[tuple[int, int, int]] = None) -> tuple[np.ndarray, Optional[np.ndarray]]:
    """(images uint8 (N, H, W, C), labels or None): labels checked to be class indices 0..num_classes-1
    (num_classes None: any whole numbers, as written)."""
    table = read_csv(Path(path), image_shape=image_shape, num_classes=num_classes)
    return table.images, table.labels


def read_csv(path: Path, *, image_shape: Optional[tuple[int, int, int]] = None,
             num_classes: Optional[int] = None) -> CsvTable:
    require_file(path)
    if path.stat().st_size == 0:
        raise InputError(f"{path}: empty file")
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError:
        raise InputError(f"{path}: not a text CSV file (cannot decode as UTF-8)") from None
    lines = [(i + 1, line) for i, line in enumerate(text.splitlines()) if line.strip()]
    if not lines:
        raise InputError(f"{path}: empty file")
    first = lines[0][1].split(",")
    has_header = any(not _is_number(cell) for cell in first if cell.strip() != "")
    rows = lines[1:] if has_header else lines
    if not rows:
        raise InputError(f"{path}: no data rows" + (" (header only)" if has_header else ""))
    ncols = len(first)
    label_col = _label_column(first, has_header, image_shape)
    shape = _row_shape(path, ncols, label_col, has_header, image_shape)
    for lineno, line in rows:
        if line.count(",") + 1 != ncols:
            raise InputError(f"{path}: line {lineno} has {line.count(',') + 1} columns, expected {ncols}")
    cells = []
    for lineno, line in rows:
        try:
            parsed = next(csv.reader([line]), [])
        except csv.Error as exc:
            raise InputError(f"{path}: line {lineno}: not a well-formed CSV row ({first_line(exc)})") from None
        if len(parsed) != ncols:  # a quoted comma: the line's comma count was right, its cells are not
            raise InputError(f"{path}: line {lineno} has {len(parsed)} columns, expected {ncols}")
        cells.append(parsed)
    line_of = np.array([lineno for lineno, _ in rows])
    values = np.array(cells, dtype=object)  # Python strs: float() parses them, as it did pandas' cells
    blank = values == ""
    if blank.any():
        r, c = np.argwhere(blank)[0]
        raise InputError(f"{path}: line {line_of[r]}, column {c + 1}: empty cell")
    try:
        numbers = values.astype(np.float64)
    except ValueError:
        numbers = None
    if numbers is None or not np.isfinite(numbers).all():
        r, c = _first_bad_cell(values)
        raise InputError(f"{path}: line {line_of[r]}, column {c + 1}: not a number ({values[r, c]!r})")
    labels = None
    if label_col is not None:
        labels_f = numbers[:, label_col]
        numbers = np.delete(numbers, label_col, axis=1)
        not_whole = np.floor(labels_f) != labels_f
        if num_classes is not None:
            bad = np.flatnonzero((labels_f < 0) | (labels_f >= num_classes) | not_whole)
            if len(bad):
                raise InputError(
                    f"{path}: line {line_of[bad[0]]}: label {values[bad[0], label_col]} outside 0..{num_classes - 1}"
                )
        else:
            bad = np.flatnonzero(not_whole | (np.abs(labels_f) >= 2**53))
            if len(bad):
                raise InputError(f"{path}: line {line_of[bad[0]]}: label {values[bad[0], label_col]} is not a whole number")
        labels = labels_f.astype(np.int64)
    bad = np.argwhere((numbers < 0) | (numbers > 255) | (np.floor(numbers) != numbers))
    if len(bad):
        r, c = bad[0]
        raise InputError(
            f"{path}: line {line_of[r]}: pixel {c} is {values[r, c + (label_col is not None and c >= label_col)]}, expected a whole number 0..255"
        )
    return CsvTable(numbers.astype(np.uint8).reshape(-1, *shape), labels, line_of)


def _label_column(first: list[str], has_header: bool, image_shape: Optional[tuple[int, int, int]]) -> Optional[int]:
    if has_header:
        cols = [cell.strip().strip('"').lower() for cell in first]
        return cols.index("label") if "label" in cols else None
    ncols = len(first)
    if image_shape is not None:
        return 0 if ncols == int(np.prod(image_shape)) + 1 else None
    return 0 if square_side(ncols - 1) is not None and square_side(ncols) is None else None


def _row_shape(path: Path, ncols: int, label_col: Optional[int], has_header: bool,
               image_shape: Optional[tuple[int, int, int]]) -> tuple[int, int, int]:
    pixels = ncols - (label_col is not None)
    if image_shape is not None:
        h, w, c = image_shape
        want = h * w * c
        if pixels != want:
            raise InputError(f"{path}: {ncols} columns, expected {want + 1} (label + {want} pixels) or {want} "
                             f"(pixels only) for --image-shape {h}x{w}x{c}; check --image-shape")
        return image_shape
    side = square_side(pixels)
    if side is not None:
        return (side, side, 1)
    if has_header and label_col is None and square_side(ncols - 1) is not None:
        # one wider than a square image, under a header that names no "label" column
        return _raise(f"{path}: {ncols} columns, expected {ncols} (label + {ncols - 1} pixels) or {ncols - 1} (pixels only)")
    what = f"{pixels} pixel columns" + (" besides the label" if label_col is not None else "")
    return _raise(f"{path}: {what} are not a square grey image (e.g. 784 = 28x28); pass --image-shape HxWxC "
                  "for other shapes (e.g. 32x32x3 = 3072 pixels)")


def _raise(message: str):
    raise InputError(message)


def _is_number(cell: str) -> bool:
    try:
        float(cell)
        return True
    except ValueError:
        return False


def _first_bad_cell(values: np.ndarray) -> tuple[int, int]:
    for r, row in enumerate(values):
        for c, cell in enumerate(row):
            try:
                if not np.isfinite(float(cell)):
                    return r, c
            except ValueError:
                return r, c
    return 0, 0  # pragma: no cover - only called when a bad cell exists


def save_csv(path: Path, x: np.ndarray, y: Optional[np.ndarray], header: bool = True) -> None:
    """Write the Kaggle layout: ``label`` then the pixels of each image, row-major (H, W, C).

    Used by tests and by users converting data; an image that is not square grey needs
    ``--image-shape HxWxC`` to be read back.
    """
    from edgenets._io import atomic_path

    flat = x.reshape(len(x), -1).astype(np.int64)
    cols = [f"pixel{i}" for i in range(flat.shape[1])]
    if y is not None:
        flat = np.column_stack([np.asarray(y).astype(np.int64), flat])
        cols = ["label"] + cols
    with atomic_path(path) as tmp:
        np.savetxt(tmp, flat, fmt="%d", delimiter=",", header=",".join(cols) if header else "", comments="")


# --------------------------------------------------------------------------- data sets

def _raw(table: CsvTable, path: Path) -> Optional[RawLabels]:
    if table.labels is None:
        return None
    return RawLabels(table.labels, lambda i: f"{path}: line {table.lines[i]}")


def load_csv_file(path: Path, options: LoadOptions = LoadOptions()) -> Dataset:
    """One CSV file (the train split alone); class names from a names file beside it, if any."""
    names = find_names_file(path.parent, path)
    table = read_csv(path, image_shape=options.image_shape)
    classes, y, _ = assign(_raw(table, path), [], names)
    return Dataset(path.stem, table.images, y, class_names=classes if y is not None else (),
                   source=_source(path, names))


def load_csv_folder(folder: Path, options: LoadOptions = LoadOptions()) -> Dataset:
    """``train.csv`` and, if present, ``test.csv`` on one class mapping; a names file inside the folder."""
    names = find_names_file(folder, folder)
    train = read_csv(folder / "train.csv", image_shape=options.image_shape)
    test = read_csv(folder / "test.csv", image_shape=options.image_shape) if (folder / "test.csv").is_file() else None
    raw_test = _raw(test, folder / "test.csv") if test is not None else None
    classes, y_train, (y_test,) = assign(_raw(train, folder / "train.csv"), [raw_test], names)
    if y_train is None:
        classes = ()
    return Dataset(folder.name, train.images, y_train, test.images if test is not None else None, y_test,
                   class_names=classes, source=_source(folder, names))


def _source(path: Path, names) -> dict:
    out = {"kind": "csv", "path": str(path)}
    if names is not None:
        out["class_names_from"] = names.origin
    return out
