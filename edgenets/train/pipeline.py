"""tf.data pipelines: uint8 arrays in memory -> shuffled, scaled, augmented, prefetched batches.

Every epoch's order and augmentation is a pure function of (seed, epoch, step) -- stateless
shuffles and stateless random ops -- so a resumed run sees exactly the batches an uninterrupted
run would have seen, and two runs with the same seed see the same data.
"""

from __future__ import annotations

import math

import numpy as np

from edgenets.train.augment import online_augment

SCALE = 1.0 / 255.0  # edgenets.preprocessing "pixels/255", in TensorFlow (a test checks they agree)
EVAL_BATCH = 256


def steps_per_epoch(n: int, batch_size: int) -> int:
    return max(1, math.ceil(n / batch_size))


def train_dataset(x: np.ndarray, y: np.ndarray, *, batch_size: int, seed: int, augment: bool,
                  initial_epoch: int, epochs: int):
    """Batches for epochs ``initial_epoch``..``epochs - 1``, one after the other (for ``fit``)."""
    import tensorflow as tf

    n = len(x)
    steps = steps_per_epoch(n, batch_size)
    images = tf.constant(x)
    labels = tf.constant(y.astype(np.int64))

    def epoch_batches(epoch):
        order = tf.random.experimental.stateless_shuffle(tf.range(n, dtype=tf.int64), seed=tf.stack([tf.cast(seed, tf.int64), epoch]))
        batches = tf.data.Dataset.from_tensor_slices(order).batch(batch_size)
        return batches.enumerate().map(lambda step, idx: (epoch * steps + step, idx))

    def make_batch(global_step, idx):
        batch = tf.cast(tf.gather(images, idx), tf.float32) * SCALE
        if augment:
            batch = online_augment(batch, tf.stack([tf.cast(seed, tf.int64), global_step]))
        return batch, tf.gather(labels, idx)

    ds = tf.data.Dataset.range(initial_epoch, epochs).flat_map(epoch_batches)
    ds = ds.map(make_batch, num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)
    return ds.prefetch(tf.data.AUTOTUNE)


def eval_dataset(x: np.ndarray, y: np.ndarray | None = None, batch_size: int = EVAL_BATCH):
    """Scaled batches in order (validation, test, predictions)."""
    import tensorflow as tf

    def scale(images):
        return tf.cast(images, tf.float32) * SCALE

    if y is None:
        ds = tf.data.Dataset.from_tensor_slices(x).batch(batch_size).map(scale)
    else:
        ds = tf.data.Dataset.from_tensor_slices((x, y.astype(np.int64))).batch(batch_size)
        ds = ds.map(lambda a, b: (scale(a), b))
    return ds.prefetch(tf.data.AUTOTUNE)
