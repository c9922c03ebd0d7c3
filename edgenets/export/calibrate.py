"""Calibration images for int8: stratified, seeded, from the training split only.

The training run held out ``val_split`` of the training images with
``edgenets.data.train_val_split(x_train, y_train, val_split, seed)``; calibration draws from the
part that remains, so neither the validation images nor (ever) the test images shape the
quantisation ranges that the test accuracy is then measured with.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field

import numpy as np

from edgenets.data import Dataset, stratified_indices, train_val_split
from edgenets.errors import InputError


@dataclass
class Calibration:
    images: np.ndarray  # uint8 (N, H, W, C), as stored by the data layer
    indices: np.ndarray  # positions in the data set's x_train (the original training array)
    info: dict = field(default_factory=dict)  # what goes into the sidecar


def training_pool(data: Dataset, val_split: float, seed: int) -> np.ndarray:
    """Indices into ``data.x_train`` of the images training fitted on (validation removed the same way)."""
    positions = np.arange(len(data.y_train))
    if not val_split:
        return positions
    # train_val_split is the single source of truth for the split; pass positions as "x" so we
    # learn which rows it kept, exactly as training did.
    kept, _, _, _ = train_val_split(positions, data.y_train, val_split, seed)
    return kept


def draw(data: Dataset, n: int, *, seed: int, val_split: float) -> Calibration:
    """``n`` stratified, seeded calibration images from the training part of ``data``."""
    if data.y_train is None:
        raise InputError(f"{data.name}: training images have no labels; stratified calibration needs them")
    pool = training_pool(data, val_split, seed)
    if n <= 0:
        raise InputError(f"--calib-samples must be > 0. Received: {n}")
    if n > len(pool):
        raise InputError(f"--calib-samples must be <= {len(pool)} (the training split of {data.name}). Received: {n}")
    chosen = pool[stratified_indices(data.y_train[pool], n, seed)]
    counts = np.bincount(data.y_train[chosen], minlength=data.num_classes)
    info = {
        "count": int(n),
        "method": "stratified (sklearn train_test_split on labels), seeded",
        "seed": int(seed),
        "split": "train",
        "pool": f"training split after removing val_split={val_split} (seed {seed}); never the test set",
        "pool_size": int(len(pool)),
        "dataset": data.name,
        "per_class": counts.tolist(),
        # Enough to prove later which images were used, without listing 500 numbers.
        "indices_sha256": hashlib.sha256(np.ascontiguousarray(chosen, dtype=np.int64).tobytes()).hexdigest(),
    }
    return Calibration(images=data.x_train[chosen], indices=chosen, info=info)
