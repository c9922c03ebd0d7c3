"""Deterministic, stratified splits and subsets (seeded)."""

from __future__ import annotations

import numpy as np

from edgenets.errors import InputError


def stratified_indices(y: np.ndarray, n: int, seed: int) -> np.ndarray:
    """``n`` indices drawn without replacement, class proportions kept, same seed -> same indices."""
    from sklearn.model_selection import train_test_split

    if n <= 0:
        raise InputError(f"sample size must be > 0. Received: {n}")
    if n >= len(y):
        return np.arange(len(y))
    idx = np.arange(len(y))
    _, counts = np.unique(y, return_counts=True)
    # sklearn can only stratify when both sides get at least one image of every class
    stratify = y if min(n, len(y) - n) >= len(counts) and counts.min() >= 2 else None
    chosen, _ = train_test_split(idx, train_size=n, random_state=seed, stratify=stratify)
    return np.sort(chosen)


def train_val_split(x: np.ndarray, y: np.ndarray, val_fraction: float, seed: int):
    """Split into (x_train, y_train, x_val, y_val), stratified by label."""
    if not 0.0 < val_fraction < 1.0:
        raise InputError(f"validation fraction must be between 0 and 1. Received: {val_fraction}")
    n_val = max(1, int(round(len(y) * val_fraction)))
    val = stratified_indices(y, n_val, seed)
    mask = np.ones(len(y), dtype=bool)
    mask[val] = False
    return x[mask], y[mask], x[val], y[val]
