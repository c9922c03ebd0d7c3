"""Pieces every family shares: argument checks at the door, the Keras import, the channel shuffle.

Keras is imported inside functions (never at module level) so that registering models, listing
them and ``edgenets --help`` stay free of TensorFlow.
"""

from __future__ import annotations

from typing import Any, Sequence

from edgenets.errors import InputError, require


def keras_module():
    """Keras, or a one-line install hint."""
    return require("keras", "train", "building a model")


def check_common(
    num_classes: int, input_shape: Sequence[int], alpha: float = 1.0, dropout: float = 0.0
) -> tuple[int, int, int]:
    """Validate the arguments every builder takes; returns ``input_shape`` as a tuple of ints."""
    if isinstance(num_classes, bool) or not isinstance(num_classes, int) or num_classes < 2:
        raise InputError(f"num_classes must be an integer >= 2. Received: num_classes={num_classes!r}")
    shape = tuple(input_shape) if isinstance(input_shape, (list, tuple)) else ()
    if len(shape) != 3 or not all(isinstance(d, int) and not isinstance(d, bool) and d > 0 for d in shape):
        raise InputError(
            f"input_shape must be (height, width, channels) of positive integers. Received: input_shape={input_shape!r}"
        )
    if not isinstance(alpha, (int, float)) or isinstance(alpha, bool) or not alpha > 0:
        raise InputError(f"alpha must be > 0. Received: alpha={alpha!r}")
    if not isinstance(dropout, (int, float)) or isinstance(dropout, bool) or not 0 <= dropout < 1:
        raise InputError(f"dropout must be in [0, 1). Received: dropout={dropout!r}")
    return shape  # type: ignore[return-value]


def make_divisible(value: float, divisor: int, min_value: int | None = None) -> int:
    """Round a scaled channel count to a multiple of ``divisor``, never below 90% of ``value``.

    The MobileNetV2 rule (keras ``_make_divisible``): hardware likes channel counts that are
    multiples of 8, and rounding down by more than 10% would change the model's capacity.
    """
    min_value = min_value or divisor
    new = max(min_value, int(value + divisor / 2) // divisor * divisor)
    if new < 0.9 * value:
        new += divisor
    return new


def channel_shuffle(x: Any, groups: int, prefix: str) -> Any:
    """ShuffleNet's channel shuffle as three static-shape Keras layers.

    (H, W, C) -> Reshape (H, W, groups, C/groups) -> Permute -> (H, W, C/groups, groups) ->
    Reshape (H, W, C). Every dimension is fixed at build time, so TFLite gets plain RESHAPE and
    TRANSPOSE ops (int8 kernels exist for both) instead of dynamic-shape TF ops.
    """
    layers = keras_module().layers
    h, w, c = x.shape[1], x.shape[2], x.shape[3]
    if c % groups:
        raise InputError(f"channel shuffle: {c} channels do not split into {groups} groups")
    x = layers.Reshape((h, w, groups, c // groups), name=f"{prefix}_reshape")(x)
    x = layers.Permute((1, 2, 4, 3), name=f"{prefix}_transpose")(x)
    return layers.Reshape((h, w, c), name=f"{prefix}_merge")(x)
