"""Load MNIST-style data from any supported source into uint8 (N, 28, 28, 1) + integer labels.

Sources: a built-in name (``mnist``, ``fashion-mnist``), a folder of IDX files (raw or .gz),
a Kaggle-style CSV (``label`` + 784 pixel columns, header optional; no label column for
prediction), a keras-layout ``.npz`` (``x_train, y_train, x_test, y_test``), a folder of
class sub-folders of images, or a folder holding ``train.csv``/``test.csv`` or
``train/``/``test/`` image folders.
"""

from __future__ import annotations

import csv
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Optional

import numpy as np

from edgenets.data import cache as _fetch
from edgenets.data.idx import read_idx
from edgenets.errors import InputError, first_line, require

SIDE = 28
PIXELS = SIDE * SIDE
NUM_CLASSES = 10
IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".bmp", ".gif", ".webp"}


@dataclass
class Dataset:
    """Images are uint8 (N, 28, 28, 1); labels int64 (N,) or None where the source has none."""

    name: str
    x_train: np.ndarray
    y_train: Optional[np.ndarray]
    x_test: Optional[np.ndarray] = None
    y_test: Optional[np.ndarray] = None
    class_names: tuple[str, ...] = tuple(str(i) for i in range(NUM_CLASSES))
    source: dict = field(default_factory=dict)
    # load_dataset's keyword arguments that shaped these arrays (color, image_size, image_shape): what
    # config.json records so that export reloads exactly the images training saw
    load_options: dict = field(default_factory=dict)

    @property
    def num_classes(self) -> int:
        return len(self.class_names)

    @property
    def image_shape(self) -> tuple[int, int, int]:
        """(height, width, channels) of every image."""
        return tuple(int(d) for d in self.x_train.shape[1:])  # type: ignore[return-value]


def _check_images(x: np.ndarray, name: str) -> np.ndarray:
    x = np.asarray(x)
    if x.ndim == 4 and x.shape[-1] == 1:
        x = x[..., 0]
    if x.ndim == 2 and x.shape[1] == PIXELS:
        x = x.reshape(-1, SIDE, SIDE)
    if x.ndim != 3 or x.shape[1:] != (SIDE, SIDE):
        raise InputError(f"{name}: images have shape {x.shape}, expected (N, 28, 28), (N, 28, 28, 1) or (N, 784)")
    if len(x) == 0:
        raise InputError(f"{name}: no images")
    if x.dtype != np.uint8:
        if not np.issubdtype(x.dtype, np.number):
            raise InputError(f"{name}: images have non-numeric dtype {x.dtype}")
        if np.issubdtype(x.dtype, np.floating) and not np.isfinite(x).all():
            raise InputError(f"{name}: images contain NaN or infinite values")
        if x.min() < 0 or x.max() > 255:
            raise InputError(f"{name}: pixel values must be in 0..255, found {x.min()}..{x.max()}")
        if np.issubdtype(x.dtype, np.floating) and not np.equal(np.floor(x), x).all():
            raise InputError(f"{name}: pixel values must be whole numbers 0..255 (found fractions; scale to 0..255 first)")
        x = x.astype(np.uint8)
    return np.ascontiguousarray(x[..., None])


def _check_labels(y: np.ndarray, n: int, name: str, num_classes: int = NUM_CLASSES) -> np.ndarray:
    y = np.asarray(y)
    if y.ndim == 2 and y.shape[1] == 1:
        y = y[:, 0]
    if y.ndim != 1:
        raise InputError(f"{name}: labels have shape {y.shape}, expected (N,)")
    if len(y) != n:
        raise InputError(f"{name}: {len(y)} labels for {n} images")
    if not np.issubdtype(y.dtype, np.number):
        raise InputError(f"{name}: labels have non-numeric dtype {y.dtype}")
    if np.issubdtype(y.dtype, np.floating):
        if not np.isfinite(y).all() or not np.equal(np.floor(y), y).all():
            raise InputError(f"{name}: labels must be whole numbers")
    if len(y) and (y.min() < 0 or y.max() >= num_classes):
        bad = y[(y < 0) | (y >= num_classes)][0]
        raise InputError(f"{name}: label {bad} outside 0..{num_classes - 1}")
    return y.astype(np.int64)


# --------------------------------------------------------------------------- IDX

def _find_idx(folder: Path, stem: str) -> Optional[Path]:
    # accept the original names and the common dotted variant (train-images.idx3-ubyte)
    for name in (stem, stem + ".gz", stem.replace("-idx", ".idx"), stem.replace("-idx", ".idx") + ".gz"):
        if (folder / name).is_file():
            return folder / name
    return None


def is_idx_dir(folder: Path) -> bool:
    return _find_idx(folder, "train-images-idx3-ubyte") is not None or _find_idx(folder, "t10k-images-idx3-ubyte") is not None


def load_idx_pair(images: Path, labels: Optional[Path]) -> tuple[np.ndarray, Optional[np.ndarray]]:
    x = _check_images(read_idx(images), str(images))
    y = None
    if labels is not None:
        raw = read_idx(labels)
        if raw.ndim != 1:
            raise InputError(f"{labels}: label IDX file has {raw.ndim} dimensions, expected 1")
        y = _check_labels(raw, len(x), str(labels))
    return x, y


def load_idx_dir(folder: Path, name: Optional[str] = None) -> Dataset:
    parts = {}
    for split, prefix in (("train", "train"), ("test", "t10k")):
        images = _find_idx(folder, f"{prefix}-images-idx3-ubyte")
        labels = _find_idx(folder, f"{prefix}-labels-idx1-ubyte")
        if images is None:
            continue
        if labels is None:
            raise InputError(f"{folder}: {images.name} has no matching {prefix}-labels-idx1-ubyte")
        parts[split] = load_idx_pair(images, labels)
    if "train" not in parts:
        raise InputError(f"{folder}: no train-images-idx3-ubyte[.gz] found")
    x_test, y_test = parts.get("test", (None, None))
    return Dataset(name or folder.name, *parts["train"], x_test, y_test, source={"kind": "idx", "path": str(folder)})


# --------------------------------------------------------------------------- CSV

def load_csv(path: Path, num_classes: int = NUM_CLASSES) -> tuple[np.ndarray, Optional[np.ndarray]]:
    """Kaggle layout: optional header, ``label`` + 784 pixel columns, or 784 pixel columns alone.

    Parsed with the standard library's csv module, one validated line at a time (cells as pandas'
    ``read_csv(dtype=str)`` gave them: quotes removed, whitespace kept), so a CSV data set needs no
    pandas on a board.
    """
    _require_file(path)
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
    if has_header:
        cols = [cell.strip().strip('"').lower() for cell in first]
        label_col = cols.index("label") if "label" in cols else None
    else:
        label_col = 0 if ncols == PIXELS + 1 else None
    expected = PIXELS + (label_col is not None)
    if ncols != expected:
        raise InputError(
            f"{path}: {ncols} columns, expected {PIXELS + 1} (label + 784 pixels) or {PIXELS} (pixels only)"
        )
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
        bad = np.flatnonzero((labels_f < 0) | (labels_f >= num_classes) | (np.floor(labels_f) != labels_f))
        if len(bad):
            raise InputError(
                f"{path}: line {line_of[bad[0]]}: label {values[bad[0], label_col]} outside 0..{num_classes - 1}"
            )
        labels = labels_f.astype(np.int64)
    bad = np.argwhere((numbers < 0) | (numbers > 255) | (np.floor(numbers) != numbers))
    if len(bad):
        r, c = bad[0]
        raise InputError(
            f"{path}: line {line_of[r]}: pixel {c} is {values[r, c + (label_col is not None and c >= label_col)]}, expected a whole number 0..255"
        )
    return numbers.astype(np.uint8).reshape(-1, SIDE, SIDE, 1), labels


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
    """Write the Kaggle layout (used by tests and by users converting data)."""
    from edgenets._io import atomic_path

    flat = x.reshape(len(x), -1).astype(np.int64)
    cols = [f"pixel{i}" for i in range(PIXELS)]
    if y is not None:
        flat = np.column_stack([y.astype(np.int64), flat])
        cols = ["label"] + cols
    with atomic_path(path) as tmp:
        np.savetxt(tmp, flat, fmt="%d", delimiter=",", header=",".join(cols) if header else "", comments="")


# --------------------------------------------------------------------------- NPZ

def load_npz(path: Path) -> Dataset:
    _require_file(path)
    try:
        with np.load(path, allow_pickle=False) as npz:
            arrays = {k: npz[k] for k in npz.files}
    except Exception as exc:  # noqa: BLE001 - zipfile/zlib/numpy raise a dozen types on corrupt archives
        raise InputError(f"{path}: not a readable .npz ({type(exc).__name__}: {exc})") from None
    need = ("x_train", "y_train")
    missing = [k for k in need if k not in arrays]
    if missing:
        raise InputError(f"{path}: missing key(s) {', '.join(missing)} (has {', '.join(sorted(arrays)) or 'none'})")
    x_train = _check_images(arrays["x_train"], f"{path}[x_train]")
    y_train = _check_labels(arrays["y_train"], len(x_train), f"{path}[y_train]")
    x_test = y_test = None
    if "x_test" in arrays or "y_test" in arrays:
        if not ("x_test" in arrays and "y_test" in arrays):
            raise InputError(f"{path}: has only one of x_test / y_test")
        x_test = _check_images(arrays["x_test"], f"{path}[x_test]")
        y_test = _check_labels(arrays["y_test"], len(x_test), f"{path}[y_test]")
    return Dataset(path.stem, x_train, y_train, x_test, y_test, source={"kind": "npz", "path": str(path)})


# --------------------------------------------------------------------------- image folders

def load_image_folder(folder: Path) -> tuple[np.ndarray, np.ndarray, tuple[str, ...]]:
    """Class sub-folders of images -> 28x28 grayscale uint8; classes sorted by folder name."""
    classes = sorted(d.name for d in folder.iterdir() if d.is_dir() and not d.name.startswith("."))
    if not classes:
        raise InputError(f"{folder}: no class sub-folders (expected e.g. {folder}/0/*.png, {folder}/1/*.png, ...)")
    Image = require("PIL.Image", "images", "an image-folder data set")
    if all(c.isdigit() for c in classes):
        classes = sorted(classes, key=int)
    images, labels = [], []
    for label, cls in enumerate(classes):
        for file in sorted((folder / cls).iterdir()):
            if file.name.startswith(".") or file.is_dir():
                continue
            try:
                with Image.open(file) as im:
                    im = im.convert("L")
                    if im.size != (SIDE, SIDE):
                        im = im.resize((SIDE, SIDE), Image.BILINEAR)
                    images.append(np.asarray(im, dtype=np.uint8))
            except (OSError, SyntaxError, ValueError, Image.DecompressionBombError) as exc:
                raise InputError(f"{file}: not a readable image ({exc.__class__.__name__})") from None
            labels.append(label)
    if not images:
        raise InputError(f"{folder}: class folders hold no images")
    return np.stack(images)[..., None], np.asarray(labels, dtype=np.int64), tuple(classes)


# --------------------------------------------------------------------------- entry point

def _require_file(path: Path) -> None:
    if not path.exists():
        raise InputError(f"{path}: file not found")
    if path.is_dir():
        raise InputError(f"{path}: is a directory, expected a file")
    if not os.access(path, os.R_OK):
        raise InputError(f"{path}: not readable")


def load_dataset(spec: str | os.PathLike, *, quiet: bool = False) -> Dataset:
    """Load a built-in data set by name, or any supported file/folder by path."""
    text = str(spec)
    if text in _fetch.BUILTINS:
        ds = _fetch.get_builtin(text)
        folder = _fetch.fetch(text, quiet=quiet)
        data = load_idx_dir(folder, name=text)
        data.class_names = ds.class_names
        data.source = {"kind": "builtin", "name": text, "path": str(folder), "sha256": dict(ds.sha256)}
        return data
    path = Path(text).expanduser()
    if not path.exists():
        if os.sep not in text and "." not in text:
            raise InputError(f"unknown data set {text!r}: choose one of {', '.join(_fetch.BUILTINS)} or give a path")
        raise InputError(f"{path}: file not found")
    if path.is_file():
        suffix = path.suffix.lower()
        if suffix == ".npz":
            return load_npz(path)
        if suffix == ".csv":
            x, y = load_csv(path)
            return Dataset(path.stem, x, y, source={"kind": "csv", "path": str(path)})
        if "idx" in path.name or suffix == ".gz":
            x = _check_images(read_idx(path), str(path))
            return Dataset(path.name, x, None, source={"kind": "idx", "path": str(path)})
        raise InputError(f"{path}: unsupported file type (use .csv, .npz, an IDX file or a folder)")
    if not os.access(path, os.R_OK | os.X_OK):
        raise InputError(f"{path}: folder not readable")
    if is_idx_dir(path):
        return load_idx_dir(path)
    if (path / "train.csv").is_file():
        x, y = load_csv(path / "train.csv")
        x_test = y_test = None
        if (path / "test.csv").is_file():
            x_test, y_test = load_csv(path / "test.csv")
        return Dataset(path.name, x, y, x_test, y_test, source={"kind": "csv", "path": str(path)})
    if (path / "train").is_dir():
        x, y, classes = load_image_folder(path / "train")
        x_test = y_test = None
        if (path / "test").is_dir():
            x_test, y_test, test_classes = load_image_folder(path / "test")
            if test_classes != classes:
                raise InputError(f"{path / 'test'}: classes {test_classes} differ from train/ {classes}")
        return Dataset(path.name, x, y, x_test, y_test, class_names=classes, source={"kind": "images", "path": str(path)})
    if not any(path.iterdir()):
        raise InputError(f"{path}: empty folder")
    x, y, classes = load_image_folder(path)
    return Dataset(path.name, x, y, class_names=classes, source={"kind": "images", "path": str(path)})
