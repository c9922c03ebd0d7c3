"""Labels of any values -> class indices 0..K-1 and K class names, one mapping for train and test.

Without a names list, the distinct labels of the training split, sorted, are the classes (integers
numerically, strings alphabetically) and their values as text are the class names: labels 3, 7, 12
become 0, 1, 2 named "3", "7", "12"; labels 0..9 stay 0..9. With a names list (a ``classes.txt`` or
``labels.txt`` file beside the data, or an NPZ's ``class_names`` array), integer labels are indices
into it and string labels are looked up in it. A test label outside the mapping is an error that
names where it stands.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Optional, Sequence

import numpy as np

from edgenets.errors import InputError

NAMES_FILES = ("classes.txt", "labels.txt")


@dataclass(frozen=True)
class ClassNames:
    """An explicit list of class names and where it came from (for messages)."""

    names: tuple[str, ...]
    origin: str


@dataclass
class RawLabels:
    """One split's labels as the source holds them: whole numbers (int64) or strings."""

    values: np.ndarray
    where: Callable[[int], str]  # "data.csv: line 14", "d.npz[y_test] item 3": where item i stands

    @property
    def kind(self) -> str:
        return "str" if self.values.dtype.kind == "U" else "int"


def check_names(names: Sequence[str], origin: str, where: Callable[[int], str]) -> ClassNames:
    """Names non-empty and distinct; ``where(i)`` says where name i stands."""
    names = tuple(str(n) for n in names)
    if not names:
        raise InputError(f"{origin}: no class names")
    seen: dict[str, int] = {}
    for i, name in enumerate(names):
        if not name.strip():
            raise InputError(f"{where(i)}: empty class name")
        if name in seen:
            raise InputError(f"{where(i)}: class name {name!r} given twice (first at {where(seen[name])})")
        seen[name] = i
    return ClassNames(names, origin)


def read_names_file(path: Path, beside: Path) -> ClassNames:
    """One class name per line (blank lines ignored); ``beside`` is the data it names (for messages)."""
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError:
        raise InputError(f"{path}: not a UTF-8 text file of class names (read because it lies beside {beside})") from None
    except OSError as exc:
        raise InputError(f"{path}: cannot read ({exc.strerror})") from None
    lines = [(i + 1, line.strip()) for i, line in enumerate(text.splitlines()) if line.strip()]
    if not lines:
        raise InputError(f"{path}: no class names (one per line; read because it lies beside {beside})")
    return check_names([name for _, name in lines], str(path), lambda i: f"{path}: line {lines[i][0]}")


def find_names_file(folder: Path, beside: Path) -> Optional[ClassNames]:
    """The names file in ``folder`` (classes.txt before labels.txt), or None."""
    for name in NAMES_FILES:
        if (folder / name).is_file():
            return read_names_file(folder / name, beside)
    return None


def whole_numbers(y: np.ndarray, name: str) -> np.ndarray:
    """A 1-D label array (N,) or (N, 1) of whole numbers or strings -> int64 or str values."""
    y = np.asarray(y)
    if y.ndim == 2 and y.shape[1] == 1:
        y = y[:, 0]
    if y.ndim != 1:
        raise InputError(f"{name}: labels have shape {y.shape}, expected (N,)")
    if y.dtype.kind in "US":
        values = y.astype(str) if y.dtype.kind == "U" else np.char.decode(y, "utf-8", "replace").astype(str)
        blank = np.flatnonzero(np.char.strip(values) == "")
        if len(blank):
            raise InputError(f"{name}: label {blank[0]} is an empty string")
        return values
    if y.dtype.kind == "b" or not np.issubdtype(y.dtype, np.number):
        raise InputError(f"{name}: labels have dtype {y.dtype}, expected whole numbers or strings")
    if np.issubdtype(y.dtype, np.complexfloating):
        raise InputError(f"{name}: labels have dtype {y.dtype}, expected whole numbers or strings")
    if np.issubdtype(y.dtype, np.floating):
        bad = np.flatnonzero(~np.isfinite(y) | (np.floor(np.nan_to_num(y)) != y) | (np.abs(np.nan_to_num(y)) >= 2**62))
        if len(bad):
            raise InputError(f"{name}: labels must be whole numbers (label {bad[0]} is {y[bad[0]]})")
    elif y.dtype == np.uint64 and len(y) and y.max() >= 2**63:
        raise InputError(f"{name}: label {int(np.argmax(y))} is {y.max()}, too large")
    return y.astype(np.int64)


def assign(train: Optional[RawLabels], others: Sequence[Optional[RawLabels]],
           names: Optional[ClassNames]) -> tuple[tuple[str, ...], Optional[np.ndarray], list[Optional[np.ndarray]]]:
    """(class names, train labels as 0..K-1, the other splits' labels on the same mapping)."""
    splits = [s for s in (train, *others) if s is not None]
    kinds = {s.kind for s in splits}
    if len(kinds) > 1:
        odd = next(s for s in splits if s.kind != splits[0].kind)
        raise InputError(f"{odd.where(0)}: labels are {'strings' if odd.kind == 'str' else 'numbers'} but the "
                         f"training labels are {'strings' if splits[0].kind == 'str' else 'numbers'}")
    if names is not None:
        classes = names.names
        mapped = [_by_names(s, names) for s in (train, *others)]
    else:
        if train is None:
            values = np.unique(np.concatenate([s.values for s in splits])) if splits else np.array([], np.int64)
        else:
            values = np.unique(train.values)
        classes = tuple(str(v) for v in values)
        mapped = [None if s is None else _by_values(s, values, train is not None) for s in (train, *others)]
    return classes, mapped[0], mapped[1:]


def _by_names(split: Optional[RawLabels], names: ClassNames) -> Optional[np.ndarray]:
    if split is None:
        return None
    k = len(names.names)
    if split.kind == "int":
        bad = np.flatnonzero((split.values < 0) | (split.values >= k))
        if len(bad):
            raise InputError(f"{split.where(bad[0])}: label {split.values[bad[0]]} outside 0..{k - 1} "
                             f"({names.origin} has {k} names)")
        return split.values.astype(np.int64)
    index = {n: i for i, n in enumerate(names.names)}
    out = np.empty(len(split.values), dtype=np.int64)
    for i, v in enumerate(split.values):
        if v not in index:
            raise InputError(f"{split.where(i)}: label {_show(v)} is not one of the class names in {names.origin}")
        out[i] = index[v]
    return out


def _by_values(split: RawLabels, values: np.ndarray, from_train: bool) -> np.ndarray:
    pos = np.searchsorted(values, split.values)
    pos = np.minimum(pos, max(len(values) - 1, 0))
    bad = np.flatnonzero(values[pos] != split.values) if len(values) else np.arange(len(split.values))
    if len(bad):
        v = split.values[bad[0]]
        raise InputError(f"{split.where(bad[0])}: label {_show(v)} does not occur in the training labels "
                         "(train and test must share their classes)")
    return pos.astype(np.int64)


def _show(v) -> str:
    return repr(str(v)) if isinstance(v, str) else str(int(v))
