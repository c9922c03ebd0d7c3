"""Augmentation: the reference study's darken + shift copies, and the same idea online for tf.data.

The study (seed-study.md 2.2) only says "darkening, shifting and moving" copies were added to the
training set (doubling it) and that the test set got the same treatment. We make that concrete,
seeded and documented (docs/training.md):

* **shift** -- translate by an integer (dy, dx), each drawn uniformly from -MAX_SHIFT..MAX_SHIFT,
  pixels that enter the frame are 0 (background), pixels that leave it are lost;
* **darken** -- multiply intensities by a factor drawn uniformly from DARKEN_RANGE, rounded
  down to uint8.

``seed_augment`` returns the originals followed by one shifted + darkened copy of each image
(twice the images, labels repeated). ``perturb`` applies the same transform to a test set, with a
fixed seed, for the robustness figure; the untouched test set is always evaluated too.
The NumPy half of this module imports no TensorFlow.
"""

from __future__ import annotations

import numpy as np

MAX_SHIFT = 2  # pixels: the study's digits stay inside the 28x28 frame (MNIST has a 4-px margin)
DARKEN_RANGE = (0.5, 0.8)
PERTURB_SEED = 20240  # fixed, so every run is scored on the same perturbed test images


def draw_params(n: int, seed: int) -> dict:
    """Per-image (dy, dx, factor) for ``n`` images, reproducible from ``seed``."""
    rng = np.random.default_rng(seed)
    return {
        "dy": rng.integers(-MAX_SHIFT, MAX_SHIFT + 1, size=n),
        "dx": rng.integers(-MAX_SHIFT, MAX_SHIFT + 1, size=n),
        "factor": rng.uniform(*DARKEN_RANGE, size=n).astype(np.float32),
    }


def shift(images: np.ndarray, dy: np.ndarray, dx: np.ndarray) -> np.ndarray:
    """Translate each image (N,H,W,C) by its own integer offset, filling with zeros."""
    out = np.zeros_like(images)
    h, w = images.shape[1:3]
    for sy in np.unique(dy):  # at most 25 distinct offsets: vectorise over the images sharing one
        for sx in np.unique(dx):
            sel = np.flatnonzero((dy == sy) & (dx == sx))
            if not len(sel):
                continue
            src_y, dst_y = slice(max(0, -sy), h - max(0, sy)), slice(max(0, sy), h - max(0, -sy))
            src_x, dst_x = slice(max(0, -sx), w - max(0, sx)), slice(max(0, sx), w - max(0, -sx))
            out[sel, dst_y, dst_x] = images[sel, src_y, src_x]
    return out


def darken(images: np.ndarray, factor: np.ndarray) -> np.ndarray:
    scaled = images.astype(np.float32) * factor.reshape(-1, *([1] * (images.ndim - 1)))
    return np.floor(scaled).astype(np.uint8)


def perturb(images: np.ndarray, seed: int = PERTURB_SEED) -> tuple[np.ndarray, dict]:
    """A shifted + darkened copy of ``images`` (uint8), and the per-image parameters used."""
    params = draw_params(len(images), seed)
    return darken(shift(images, params["dy"], params["dx"]), params["factor"]), params


def seed_augment(x: np.ndarray, y: np.ndarray, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """The study's doubled training set: originals, then one shifted + darkened copy of each."""
    copies, _ = perturb(x, seed)
    return np.concatenate([x, copies]), np.concatenate([y, y])


def describe() -> dict:
    """What the perturbation is, for config.json / metrics.json."""
    return {"shift_pixels": [-MAX_SHIFT, MAX_SHIFT], "darken_factor": list(DARKEN_RANGE), "fill": 0}


# ------------------------------------------------------------------ online (tf.data, per batch)

ONLINE = {"max_shift": MAX_SHIFT, "darken_probability": 0.5, "darken_factor": list(DARKEN_RANGE)}


def online_augment(images, seed):
    """Random shift (-2..2 px, zero fill) and, for half the images, darkening, on a float batch.

    Stateless ops keyed by ``seed`` (a shape-[2] int tensor: run seed, global step), so an epoch's
    augmentation is the same whether or not the run was resumed in between.
    """
    import tensorflow as tf

    n = tf.shape(images)[0]
    offsets = tf.random.stateless_uniform([n, 2], seed=seed, minval=-MAX_SHIFT, maxval=MAX_SHIFT + 1, dtype=tf.int32)
    offsets = tf.cast(offsets, tf.float32)
    # A projective transform [a0 a1 a2 b0 b1 b2 c0 c1] maps output (x, y) to input
    # (x - dx, y - dy) for a pure translation; nearest + constant fill makes it an exact pixel shift.
    ones, zeros = tf.ones([n], tf.float32), tf.zeros([n], tf.float32)
    transforms = tf.stack([ones, zeros, -offsets[:, 1], zeros, ones, -offsets[:, 0], zeros, zeros], axis=1)
    shifted = tf.raw_ops.ImageProjectiveTransformV3(
        images=images, transforms=transforms, output_shape=tf.shape(images)[1:3], fill_value=0.0,
        interpolation="NEAREST", fill_mode="CONSTANT",
    )
    seed2 = seed + tf.constant([0, 1 << 20], dtype=seed.dtype)
    lo, hi = DARKEN_RANGE
    factor = tf.random.stateless_uniform([n], seed=seed2, minval=lo, maxval=hi)
    apply = tf.random.stateless_uniform([n], seed=seed2 + 1) < ONLINE["darken_probability"]
    factor = tf.where(apply, factor, tf.ones_like(factor))
    return shifted * factor[:, None, None, None]
