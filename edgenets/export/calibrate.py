"""Calibration images for int8: stratified, seeded, from the training split only.

The training run held out ``val_split`` of the training images with
``edgenets.data.train_val_split(x_train, y_train, val_split, seed)``; calibration draws from the
part that remains, so neither the validation images nor (ever) the test images shape the
quantisation ranges that the test accuracy is then measured with.

How many: ``--calib-samples`` when given (more than the pool holds is an error), else
:data:`DEFAULT_SAMPLES` or the whole pool when it is smaller -- a default must fit the data, and
the log and the sidecar say which it was.

Which: sklearn's stratified draw (``edgenets.data.stratified_indices``) wherever it can run. It
cannot when a class has a single image, or when the draw or what it leaves is smaller than the
number of classes (a few-image data set, ``--calib-samples 3`` for ten classes): then one image
of every class is taken first, in a seeded random order, and the rest drawn at random, so every
class the draw has room for is represented.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from typing import Optional

import numpy as np

from edgenets.data import Dataset, stratified_indices, train_val_split
from edgenets.errors import InputError

DEFAULT_SAMPLES = 500  # what --calib-samples means when not given (or the whole pool, when smaller)
STRATIFIED = "stratified (sklearn train_test_split on labels), seeded"
EVERY_CLASS = "one image of every class first (seeded order), the rest at random (seeded)"


@dataclass
class Calibration:
    images: np.ndarray  # uint8 (N, H, W, C), as stored by the data layer
    indices: np.ndarray  # positions in the data set's x_train (the original training array)
    info: dict = field(default_factory=dict)  # what goes into the sidecar

    @property
    def summary(self) -> str:
        """One log line: how many images and why that many."""
        return self.info["summary"]


def training_pool(data: Dataset, val_split: float, seed: int) -> np.ndarray:
    """Indices into ``data.x_train`` of the images training fitted on (validation removed the same way)."""
    positions = np.arange(len(data.y_train))
    if not val_split:
        return positions
    # train_val_split is the single source of truth for the split; pass positions as "x" so we
    # learn which rows it kept, exactly as training did.
    kept, _, _, _ = train_val_split(positions, data.y_train, val_split, seed)
    return kept


def sample_size(requested: Optional[int], pool_size: int, name: str) -> tuple[int, str]:
    """How many images to draw, and the log line saying why; an explicit impossible request is an InputError."""
    if requested is None:
        n = min(DEFAULT_SAMPLES, pool_size)
        if n < DEFAULT_SAMPLES:
            return n, f"calibration: {n} images (all of the training split; default {DEFAULT_SAMPLES})"
        return n, f"calibration: {n} images (default; of {pool_size} training images)"
    if requested <= 0:
        raise InputError(f"--calib-samples must be > 0. Received: {requested}")
    if requested > pool_size:
        raise InputError(f"--calib-samples must be <= {pool_size} (the training split of {name}). Received: {requested}")
    return int(requested), f"calibration: {requested} images (--calib-samples; of {pool_size} training images)"


def _can_stratify(y: np.ndarray, n: int) -> bool:
    """Whether stratified_indices runs sklearn's stratified draw (its own condition, see edgenets.data.split)."""
    _, counts = np.unique(y, return_counts=True)
    return min(n, len(y) - n) >= len(counts) and counts.min() >= 2


def _every_class_first(y: np.ndarray, n: int, seed: int) -> np.ndarray:
    """``n`` sorted positions into ``y``: the first image of each class in a seeded permutation, in that
    permutation's order of classes, then the permutation's next images whatever their class."""
    order = np.random.RandomState(seed).permutation(len(y))
    _, first = np.unique(y[order], return_index=True)  # position in `order` of each class's first image
    heads = np.sort(first)  # classes in the order the permutation meets them
    rest = np.setdiff1d(np.arange(len(order)), heads, assume_unique=True)
    picked = np.concatenate([heads, rest])[:n]
    return np.sort(order[picked])


def select(y: np.ndarray, n: int, seed: int) -> tuple[np.ndarray, str]:
    """``n`` sorted positions into ``y`` and the method used: sklearn's stratified draw where it can run."""
    if n >= len(y):
        return np.arange(len(y)), "all images of the pool"
    if _can_stratify(y, n):
        return stratified_indices(y, n, seed), STRATIFIED
    return _every_class_first(y, n, seed), EVERY_CLASS


def draw(data: Dataset, n: Optional[int], *, seed: int, val_split: float) -> Calibration:
    """Stratified, seeded calibration images from the training part of ``data``.

    ``n`` None: :data:`DEFAULT_SAMPLES`, or all of the pool when it holds fewer (stated in
    ``info["summary"]``); an explicit ``n`` larger than the pool is an ``InputError``.
    """
    if data.y_train is None:
        raise InputError(f"{data.name}: training images have no labels; stratified calibration needs them")
    pool = training_pool(data, val_split, seed)
    count, summary = sample_size(n, len(pool), data.name)
    positions, method = select(data.y_train[pool], count, seed)
    chosen = pool[positions]
    counts = np.bincount(data.y_train[chosen], minlength=data.num_classes)
    info = {
        "count": int(count),
        "requested": None if n is None else int(n),  # None: the default
        "default": DEFAULT_SAMPLES,
        "summary": summary,
        "method": method,
        "seed": int(seed),
        "split": "train",
        "pool": (f"training split after removing val_split={val_split} (seed {seed}); never the test set" if val_split
                 else "the whole training split (nothing held out); never the test set"),
        "pool_size": int(len(pool)),
        "dataset": data.name,
        "per_class": counts.tolist(),
        # Enough to prove later which images were used, without listing 500 numbers.
        "indices_sha256": hashlib.sha256(np.ascontiguousarray(chosen, dtype=np.int64).tobytes()).hexdigest(),
    }
    return Calibration(images=data.x_train[chosen], indices=chosen, info=info)
