"""Augmentation: the reference study's darken + shift copies, and the same idea online for tf.data.

The study (seed-study.md 2.2) only says "darkening, shifting and moving" copies were added to the
training set (doubling it) and that the test set got the same treatment. We make that concrete,
seeded and documented (docs/training.md):

* **shift** -- translate by an integer (dy, dx), dy drawn uniformly from -max_shift(H)..max_shift(H)
  and dx from -max_shift(W)..max_shift(W); pixels that enter the frame are 0 (background), pixels
  that leave it are lost;
* **darken** -- multiply intensities by a factor drawn uniformly from DARKEN_RANGE, rounded
  down to uint8.

**The shift scales with the image.** The study shifts 28x28 digits by up to MAX_SHIFT = 2 px, i.e.
1/14 of the side; any other side moves by the same fraction, rounded to whole pixels:
``max_shift(side) = floor(side * 2 / 28 + 0.5)`` -- 2 px at 28 and 32, 4 px at 56, 7 px at 96, 1 px
at 8, none below 7 px. At 28x28 the draws, and therefore every augmented image, are exactly the
study's (the tests pin them).

**Colour jitter** (online augmentation only, colour images only -- a grey image is unchanged and
draws nothing more): per image, after the shift and before darkening, on [0, 1] pixels:
brightness (add a delta from -JITTER["brightness"]..+), contrast (scale each channel's distance
from the image's channel mean by a factor from JITTER["contrast"]), saturation (scale the distance
from the image's luma grey by a factor from JITTER["saturation"]), clipped to [0, 1]. The ``seed``
augmentation stays the study's procedure (shift + darken) whatever the images.

Online augmentation works on [0, 1] pixels (pixels/255) *before* any mean-std normalisation, so
the zero fill is black and darkening darkens whatever the preprocessing (edgenets/train/pipeline.py).

``seed_augment`` returns the originals followed by one shifted + darkened copy of each image
(twice the images, labels repeated). ``perturb`` applies the same transform to a test set, with a
fixed seed, for the robustness figure; the untouched test set is always evaluated too.
The NumPy half of this module imports no TensorFlow.
"""

from __future__ import annotations

from typing import Optional, Sequence

import numpy as np

MAX_SHIFT = 2  # pixels at the study's side: its digits stay inside the 28x28 frame (MNIST has a 4-px margin)
REFERENCE_SIDE = 28  # the side MAX_SHIFT was chosen for; other sides shift by the same fraction
DARKEN_RANGE = (0.5, 0.8)
PERTURB_SEED = 20240  # fixed, so every run is scored on the same perturbed test images
JITTER = {"brightness": 0.1, "contrast": (0.8, 1.2), "saturation": (0.8, 1.2)}  # colour images, online only
LUMA = (0.299, 0.587, 0.114)  # ITU-R BT.601 weights: the grey a saturation change moves towards
SHIFT_RULE = (f"max shift = floor(side * {MAX_SHIFT} / {REFERENCE_SIDE} + 0.5) px per axis "
              f"({MAX_SHIFT} px at {REFERENCE_SIDE}, as the study)")


def max_shift(side: int) -> int:
    """The largest shift, in pixels, along an axis of ``side`` pixels (MAX_SHIFT at 28)."""
    return int(np.floor(side * MAX_SHIFT / REFERENCE_SIDE + 0.5))


def max_shifts(shape: Optional[Sequence[int]]) -> tuple[int, int]:
    """(max dy, max dx) for images of ``shape`` (H, W[, C]); the study's (2, 2) when unknown."""
    if shape is None:
        return MAX_SHIFT, MAX_SHIFT
    return max_shift(int(shape[0])), max_shift(int(shape[1]))


def draw_params(n: int, seed: int, shape: Optional[Sequence[int]] = None) -> dict:
    """Per-image (dy, dx, factor) for ``n`` images of ``shape`` (H, W[, C]; default 28x28), from ``seed``."""
    my, mx = max_shifts(shape)
    rng = np.random.default_rng(seed)
    return {
        "dy": rng.integers(-my, my + 1, size=n),
        "dx": rng.integers(-mx, mx + 1, size=n),
        "factor": rng.uniform(*DARKEN_RANGE, size=n).astype(np.float32),
    }


def shift(images: np.ndarray, dy: np.ndarray, dx: np.ndarray) -> np.ndarray:
    """Translate each image (N,H,W,C) by its own integer offset, filling with zeros."""
    out = np.zeros_like(images)
    h, w = images.shape[1:3]
    for sy in np.unique(dy):  # few distinct offsets: vectorise over the images sharing one
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
    """A shifted + darkened copy of ``images`` (uint8 N,H,W,C), and the per-image parameters used."""
    params = draw_params(len(images), seed, images.shape[1:3])
    return darken(shift(images, params["dy"], params["dx"]), params["factor"]), params


def seed_augment(x: np.ndarray, y: np.ndarray, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """The study's doubled training set: originals, then one shifted + darkened copy of each."""
    copies, _ = perturb(x, seed)
    return np.concatenate([x, copies]), np.concatenate([y, y])


def describe(shape: Optional[Sequence[int]] = None) -> dict:
    """What the seed augmentation / test perturbation is for images of ``shape``, for config.json / metrics.json."""
    my, mx = max_shifts(shape)
    out = {"shift_pixels": [-my, my], "darken_factor": list(DARKEN_RANGE), "fill": 0}
    if mx != my:
        out["shift_pixels"] = {"y": [-my, my], "x": [-mx, mx]}
    if shape is not None:
        out["shift_rule"] = SHIFT_RULE
    return out


# ------------------------------------------------------------------ online (tf.data, per batch)

ONLINE = {"max_shift": MAX_SHIFT, "darken_probability": 0.5, "darken_factor": list(DARKEN_RANGE)}


def describe_online(shape: Sequence[int]) -> dict:
    """The online augmentation for images of ``shape`` (H, W, C), for config.json."""
    my, mx = max_shifts(shape)
    out = {**ONLINE, "max_shift": my if my == mx else {"y": my, "x": mx}, "shift_rule": SHIFT_RULE,
           "order": "on pixels/255, before the preprocessing's normalisation: shift, colour jitter, darken"}
    colour = len(shape) > 2 and int(shape[2]) == 3
    out["colour_jitter"] = ({"brightness_delta": [-JITTER["brightness"], JITTER["brightness"]],
                             "contrast_factor": list(JITTER["contrast"]),
                             "saturation_factor": list(JITTER["saturation"]), "luma": list(LUMA)}
                            if colour else None)
    return out


def online_augment(images, seed):
    """Random shift (max_shift px per axis, zero fill), colour jitter for colour images and, for half the
    images, darkening, on a float batch of pixels/255 values.

    Stateless ops keyed by ``seed`` (a shape-[2] int tensor: run seed, global step), so an epoch's
    augmentation is the same whether or not the run was resumed in between. At 28x28x1 every draw
    and every output equals the study-era implementation's.
    """
    import tensorflow as tf

    n = tf.shape(images)[0]
    my, mx = max_shifts(images.shape[1:3])
    if my == mx:  # one [n, 2] draw, as the 28x28 implementation always made
        offsets = tf.random.stateless_uniform([n, 2], seed=seed, minval=-my, maxval=my + 1, dtype=tf.int32)
    else:
        seed_x = seed + tf.constant([0, 3 << 20], dtype=seed.dtype)
        offsets = tf.stack([
            tf.random.stateless_uniform([n], seed=seed, minval=-my, maxval=my + 1, dtype=tf.int32),
            tf.random.stateless_uniform([n], seed=seed_x, minval=-mx, maxval=mx + 1, dtype=tf.int32)], axis=1)
    offsets = tf.cast(offsets, tf.float32)
    # A projective transform [a0 a1 a2 b0 b1 b2 c0 c1] maps output (x, y) to input
    # (x - dx, y - dy) for a pure translation; nearest + constant fill makes it an exact pixel shift.
    ones, zeros = tf.ones([n], tf.float32), tf.zeros([n], tf.float32)
    transforms = tf.stack([ones, zeros, -offsets[:, 1], zeros, ones, -offsets[:, 0], zeros, zeros], axis=1)
    shifted = tf.raw_ops.ImageProjectiveTransformV3(
        images=images, transforms=transforms, output_shape=tf.shape(images)[1:3], fill_value=0.0,
        interpolation="NEAREST", fill_mode="CONSTANT",
    )
    if images.shape[-1] == 3:
        shifted = colour_jitter(shifted, seed + tf.constant([0, 2 << 20], dtype=seed.dtype))
    seed2 = seed + tf.constant([0, 1 << 20], dtype=seed.dtype)
    lo, hi = DARKEN_RANGE
    factor = tf.random.stateless_uniform([n], seed=seed2, minval=lo, maxval=hi)
    apply = tf.random.stateless_uniform([n], seed=seed2 + 1) < ONLINE["darken_probability"]
    factor = tf.where(apply, factor, tf.ones_like(factor))
    return shifted * factor[:, None, None, None]


def colour_jitter(images, seed):
    """Per-image brightness, contrast and saturation changes of an RGB float batch in [0, 1] (see the
    module docstring), stateless: the same ``seed`` gives the same output."""
    import tensorflow as tf

    n = tf.shape(images)[0]

    def draw(k, lo, hi):
        return tf.random.stateless_uniform([n], seed=seed + tf.constant([0, k], dtype=seed.dtype), minval=lo,
                                           maxval=hi)[:, None, None, None]

    b = JITTER["brightness"]
    x = images + draw(0, -b, b)
    mean = tf.reduce_mean(x, axis=[1, 2], keepdims=True)  # per image and channel
    x = mean + (x - mean) * draw(1, *JITTER["contrast"])
    grey = tf.reduce_sum(x * tf.constant(LUMA, tf.float32), axis=-1, keepdims=True)
    x = grey + (x - grey) * draw(2, *JITTER["saturation"])
    return tf.clip_by_value(x, 0.0, 1.0)
