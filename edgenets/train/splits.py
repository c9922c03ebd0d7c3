"""Step 3 of a training run: train / validation / test splits, seeded, stratified where the classes allow.

The validation split is ``edgenets.data.train_val_split`` -- the call export uses to keep its
calibration images out of it -- and a draw that cannot be stratified (few images per class) is a
seeded shuffle, as edgenets/data/split.py decides; here it is recorded and said in the log.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Optional

import numpy as np

from edgenets.data import Dataset, stratified_indices, train_val_split
from edgenets.errors import InputError
from edgenets.train.settings import Settings


@dataclass
class Splits:
    x_train: np.ndarray
    y_train: np.ndarray
    x_val: np.ndarray
    y_val: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray
    info: dict
    notes: list[str] = field(default_factory=list)  # log lines: what the data could not give as asked


def _stratified(y: np.ndarray, n: int, what: str, notes: list[str]) -> bool:
    """Whether ``stratified_indices(y, n, seed)`` stratifies, by edgenets/data/split.py's rule (each class has
    2 images, both sides of the draw at least one image per class); else a note for the log."""
    if n >= len(y):
        return True
    _, counts = np.unique(y, return_counts=True)
    if min(n, len(y) - n) >= len(counts) and counts.min() >= 2:
        return True
    notes.append(f"{what} ({n} of {len(y)} images) drawn at random, not stratified: {len(counts)} classes "
                 f"(the smallest has {counts.min()} image(s)) need 2 images per class and {len(counts)} on each side")
    return False


def _val_size(n: int, val_split: float) -> int:
    return max(1, int(round(n * val_split)))  # train_val_split's own count


def make_splits(data: Dataset, settings: Settings) -> Splits:
    """Step 3: train / validation / test, all seeded, stratified where the classes allow.

    The validation split is ``train_val_split(x_train, y_train, val_split, seed)`` -- the same call
    export uses to keep calibration images out of it. A data set without a test split gets one
    carved by that same call first (so export's fallback evaluation set is exactly our test set),
    and the validation split is then carved from the rest. ``limit`` caps the training images and
    the validation images in proportion; the test set is never cut.

    A draw too small to hold every class on both sides (few images per class; edgenets/data/split.py)
    is a seeded shuffle instead: ``info["stratified"]`` records which, and ``notes`` says so in the log.
    """
    name, v = settings.dataset, settings.val_split
    if data.y_train is None:
        raise InputError(f"{name}: the training images have no labels")
    x, y = data.x_train, data.y_train
    stratified: dict[str, Optional[bool]] = {"test": None, "val": None, "limit": None}
    notes: list[str] = []
    if data.x_test is not None and data.y_test is not None:
        x_test, y_test, test_from = data.x_test, data.y_test, "the data set's test split"
    else:
        if len(y) < 3:
            raise InputError(f"{name}: {len(y)} labelled image(s) cannot make training, validation and test splits")
        stratified["test"] = _stratified(y, _val_size(len(y), v), "test split", notes)
        x, y, x_test, y_test = train_val_split(x, y, v, settings.seed)
        test_from = (f"carved from the training images: train_val_split(x_train, y_train, {v}, "
                     f"seed={settings.seed}) (the data set has no test split)")
    if len(y) < 2:
        raise InputError(f"{name}: {len(y)} training image(s) cannot make a training and a validation split")
    stratified["val"] = _stratified(y, _val_size(len(y), v), "validation split", notes)
    x_tr, y_tr, x_val, y_val = train_val_split(x, y, v, settings.seed)
    if settings.limit is not None:
        stratified["limit"] = _stratified(y_tr, settings.limit, f"--limit {settings.limit}", notes)
        keep = stratified_indices(y_tr, settings.limit, settings.seed)
        n_val = max(1, round(len(keep) * v / (1 - v)))
        keep_val = stratified_indices(y_val, min(n_val, len(y_val)), settings.seed)
        x_tr, y_tr, x_val, y_val = x_tr[keep], y_tr[keep], x_val[keep_val], y_val[keep_val]
    if settings.limit is not None and settings.limit > len(y_tr):
        notes.append(f"--limit {settings.limit}: the training split has {len(y_tr)} images; using them all")
    missing = sorted(set(range(data.num_classes)) - set(np.unique(y_tr).tolist()))
    if missing:
        shown = ", ".join(str(data.class_names[i]) for i in missing[:5]) + (", ..." if len(missing) > 5 else "")
        notes.append(f"{len(missing)} of {data.num_classes} classes have no training images ({shown})")
    info = {"train": int(len(y_tr)), "val": int(len(y_val)), "test": int(len(y_test)), "test_from": test_from,
            "limit": settings.limit, "stratified": stratified}
    return Splits(x_tr, y_tr, x_val, y_val, x_test, y_test, info, notes)
