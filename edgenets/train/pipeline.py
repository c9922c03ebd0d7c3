"""tf.data pipelines: uint8 arrays in memory -> shuffled, augmented, preprocessed, prefetched batches.

Every epoch's order and augmentation is a pure function of (seed, epoch, step) -- stateless
shuffles and stateless random ops -- so a resumed run sees exactly the batches an uninterrupted
run would have seen, and two runs with the same seed see the same data.

Pixels become model inputs as the run's preprocessing says (:mod:`edgenets.preprocessing`, a name
or a mean-std block): :func:`preprocess` is the TensorFlow twin of
``edgenets.preprocessing.preprocess`` (tests/test_train.py holds them equal), so training feeds
what export calibrates on and bench measures with. Online augmentation runs on pixels/255 values,
before the normalisation (:func:`to_unit` -> augment -> :func:`from_unit`).
"""

from __future__ import annotations

import math

import numpy as np

from edgenets.preprocessing import DEFAULT_PREPROCESSING, MEAN_STD, Spec, check
from edgenets.train.augment import online_augment

SCALE = 1.0 / 255.0  # "pixels/255" as the study-era pipeline computed it (x * SCALE; kept bit for bit)
EVAL_BATCH = 256


def steps_per_epoch(n: int, batch_size: int) -> int:
    return max(1, math.ceil(n / batch_size))


def _mean_std(spec: dict):
    import tensorflow as tf

    return tf.constant(spec["mean"], tf.float32), tf.constant(spec["std"], tf.float32)


def preprocess(images, spec: Spec = DEFAULT_PREPROCESSING):
    """uint8 images -> float32 model input, as ``spec`` says (``edgenets.preprocessing.preprocess`` in TF)."""
    import tensorflow as tf

    spec = check(spec)
    x = tf.cast(images, tf.float32)
    if isinstance(spec, dict):  # mean-std: (x / 255 - mean) / std, numpy's order of operations
        mean, std = _mean_std(spec)
        return (x / 255.0 - mean) / std
    if spec == "pixels/255":
        return x * SCALE
    if spec == "pixels":
        return x
    if spec == "pixels/127.5-1":
        return x / 127.5 - 1.0
    raise ValueError(f"no TensorFlow implementation of preprocessing {spec!r}")  # a new table entry needs one


def to_unit(images, spec: Spec = DEFAULT_PREPROCESSING):
    """uint8 images -> pixels/255 floats, where augmentation works (bit for bit the input for pixels/255)."""
    import tensorflow as tf

    x = tf.cast(images, tf.float32)
    return x * SCALE if spec == "pixels/255" else x / 255.0


def from_unit(unit, spec: Spec = DEFAULT_PREPROCESSING):
    """pixels/255 floats (possibly augmented) -> the model input ``spec`` defines."""
    spec = check(spec)
    if isinstance(spec, dict) and spec["name"] == MEAN_STD:
        mean, std = _mean_std(spec)
        return (unit - mean) / std
    if spec == "pixels":
        return unit * 255.0
    if spec == "pixels/127.5-1":
        return unit * 2.0 - 1.0
    return unit  # pixels/255


def train_dataset(x: np.ndarray, y: np.ndarray, *, batch_size: int, seed: int, augment: bool,
                  initial_epoch: int, epochs: int, preprocessing: Spec = DEFAULT_PREPROCESSING):
    """Batches for epochs ``initial_epoch``..``epochs - 1``, one after the other (for ``fit``)."""
    import tensorflow as tf

    spec = check(preprocessing)
    n = len(x)
    steps = steps_per_epoch(n, batch_size)
    images = tf.constant(x)
    labels = tf.constant(y.astype(np.int64))

    def epoch_batches(epoch):
        order = tf.random.experimental.stateless_shuffle(tf.range(n, dtype=tf.int64), seed=tf.stack([tf.cast(seed, tf.int64), epoch]))
        batches = tf.data.Dataset.from_tensor_slices(order).batch(batch_size)
        return batches.enumerate().map(lambda step, idx: (epoch * steps + step, idx))

    def make_batch(global_step, idx):
        raw = tf.gather(images, idx)
        if augment:
            unit = online_augment(to_unit(raw, spec), tf.stack([tf.cast(seed, tf.int64), global_step]))
            batch = from_unit(unit, spec)
        else:
            batch = preprocess(raw, spec)
        return batch, tf.gather(labels, idx)

    ds = tf.data.Dataset.range(initial_epoch, epochs).flat_map(epoch_batches)
    ds = ds.map(make_batch, num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)
    return ds.prefetch(tf.data.AUTOTUNE)


def eval_dataset(x: np.ndarray, y: np.ndarray | None = None, batch_size: int = EVAL_BATCH,
                 preprocessing: Spec = DEFAULT_PREPROCESSING):
    """Preprocessed batches in order (validation, test, predictions)."""
    import tensorflow as tf

    spec = check(preprocessing)
    if y is None:
        ds = tf.data.Dataset.from_tensor_slices(x).batch(batch_size).map(lambda a: preprocess(a, spec))
    else:
        ds = tf.data.Dataset.from_tensor_slices((x, y.astype(np.int64))).batch(batch_size)
        ds = ds.map(lambda a, b: (preprocess(a, spec), b))
    return ds.prefetch(tf.data.AUTOTUNE)
