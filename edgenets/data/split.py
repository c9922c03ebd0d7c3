"""Deterministic, stratified splits and subsets (seeded), in numpy alone.

``stratified_indices(y, n, seed)`` returns exactly the indices that scikit-learn's
``train_test_split(np.arange(len(y)), train_size=n, random_state=seed, stratify=...)`` returned
when this module used it (sorted): run directories, calibration sets and published results depend
on which images were chosen, so the draw is sklearn's, step for step, with the same
``np.random.RandomState(seed)`` stream — ``StratifiedShuffleSplit._iter_indices`` with
``_approximate_mode``, and ``ShuffleSplit`` for the unstratified fallback. It is reimplemented
here so that ``edgenets bench --limit`` on a board needs no scikit-learn (and its scipy);
tests/test_light_deps.py compares it with sklearn's ``train_test_split`` over many random cases.
"""

from __future__ import annotations

import numpy as np

from edgenets.errors import InputError


def _approximate_mode(class_counts: np.ndarray, n_draws: int, rng: np.random.RandomState) -> np.ndarray:
    """sklearn.utils.extmath._approximate_mode: per-class draws summing to ``n_draws``, ties broken by ``rng``.

    Every operation and every ``rng`` call is sklearn's, in sklearn's order: the ``rng.choice``
    calls consume the stream that the per-class permutations draw from next.
    """
    continuous = class_counts / class_counts.sum() * n_draws
    floored = np.floor(continuous)
    need_to_add = int(n_draws - floored.sum())
    if need_to_add > 0:
        remainder = continuous - floored
        values = np.sort(np.unique(remainder))[::-1]
        for value in values:
            (inds,) = np.where(remainder == value)
            add_now = min(len(inds), need_to_add)
            inds = rng.choice(inds, size=add_now, replace=False)
            floored[inds] += 1
            need_to_add -= add_now
            if need_to_add == 0:
                break
    return floored.astype(int)


def _stratified_train(y: np.ndarray, n_train: int, n_test: int, rng: np.random.RandomState) -> np.ndarray:
    """The train side of sklearn's StratifiedShuffleSplit (first split), unordered positions into ``y``."""
    _, y_indices, class_counts = np.unique(y, return_inverse=True, return_counts=True)
    y_indices = y_indices.reshape(-1)  # numpy 2.0.x returned the inverse in y's shape
    class_indices = np.split(np.argsort(y_indices, kind="stable"), np.cumsum(class_counts)[:-1])
    n_i = _approximate_mode(class_counts, n_train, rng)
    # the test side's draw is not used, but it consumes rng exactly as sklearn's does
    _approximate_mode(class_counts - n_i, n_test, rng)
    train = []
    for i in range(len(class_counts)):
        permutation = rng.permutation(class_counts[i])
        train.extend(class_indices[i].take(permutation, mode="clip")[: n_i[i]])
    # sklearn then shuffles train and test with rng; the caller sorts, so those draws change nothing
    return np.asarray(train, dtype=np.intp)


def stratified_indices(y: np.ndarray, n: int, seed: int) -> np.ndarray:
    """``n`` indices drawn without replacement, class proportions kept, same seed -> same indices.

    Sorted. Stratified where every class can have an image on both sides of the draw (at least two
    images per class, and ``n`` and ``len(y) - n`` both at least the number of classes), else a plain
    seeded shuffle.
    """
    if n <= 0:
        raise InputError(f"sample size must be > 0. Received: {n}")
    y = np.asarray(y)
    idx = np.arange(len(y))
    if n >= len(y):
        return idx
    _, counts = np.unique(y, return_counts=True)
    n_train, n_test = int(n), len(y) - int(n)
    rng = np.random.RandomState(seed)
    if min(n_train, n_test) >= len(counts) and counts.min() >= 2:
        chosen = _stratified_train(y, n_train, n_test, rng)
    else:  # sklearn's ShuffleSplit: the first n_test of one permutation are the test side, the next n_train the train
        chosen = rng.permutation(len(y))[n_test : n_test + n_train]
    return np.sort(idx[chosen])


def train_val_split(x: np.ndarray, y: np.ndarray, val_fraction: float, seed: int):
    """Split into (x_train, y_train, x_val, y_val), stratified by label."""
    if not 0.0 < val_fraction < 1.0:
        raise InputError(f"validation fraction must be between 0 and 1. Received: {val_fraction}")
    n_val = max(1, int(round(len(y) * val_fraction)))
    val = stratified_indices(y, n_val, seed)
    mask = np.ones(len(y), dtype=bool)
    mask[val] = False
    return x[mask], y[mask], x[val], y[val]
