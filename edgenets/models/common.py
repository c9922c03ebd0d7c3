"""Pieces every family shares: argument checks at the door, the downsampling rule, the Keras
import, the channel shuffle.

Keras is imported inside functions (never at module level) so that registering models, listing
them and ``edgenets --help`` stay free of TensorFlow.

The downsampling rule
---------------------
Every builder was designed for 28x28 digits, where it takes a fixed number of stride-2 steps
(``native``: the study's MobileNet 4, its ShuffleNet 0, MobileNetV2 and ShuffleNetV2 2). For
another input the number of stride-2 steps follows the smaller side ``s = min(H, W)``::

    n = native + round(log2(s / 28)), clamped to [0, the number of places a stride can go]

Each doubling of the side adds one stride-2 step and each halving removes one, so the head sees
about the feature map it sees at 28x28 (within a factor of sqrt(2) either way: 20..39 px keep
``native``, 40..79 add one, 80..158 add two, 159..316 three; 10..19 drop one, 5..9 two), and the
cost per image stays near the 28x28 model's instead of growing with the pixel count. With
``padding="same"`` the head's feature map is ``ceil(H / 2**n) x ceil(W / 2**n)``.

Where the steps go is a per-model ``STRIDE_ORDER``: the places (the stem, a block, a stage's first
unit) in the order they get stride 2. Its first ``native`` entries are the 28x28 model's strides,
so 28x28 builds exactly the model it always was; a small input drops them from the back of that
prefix (the stem's stride first, where it had one: an 8x8 image has no pixels to spare), and a
large input adds the rest front to back (the stem's first, where it had none), so a big image is
brought to about the 28x28 scale before the blocks that do the work. Strides are square and follow
the smaller side, so a very elongated image keeps a long head map (13x200 -> 7x100 in MobileNetV2).
Strides change inside existing layers, not the layer list, with two exceptions: ShuffleNetV2's
``stem_pool`` exists only when it is strided, and an inverted-residual block that takes a stride
loses its identity shortcut (MobileNetV2, where a narrow ``alpha`` leaves one at a stride place).
The rule and the tests start at 8x8 (sklearn's digits, the registered ``min_input``): below that a
3x3 kernel covers most of the image.
"""

from __future__ import annotations

import math
from typing import Any, Sequence

from edgenets.errors import InputError, require


def keras_module():
    """Keras, or a one-line install hint."""
    return require("keras", "train", "building a model")


REFERENCE_SIDE = 28  # the input side every builder was designed for (the reference study's MNIST)


def check_common(
    num_classes: int, input_shape: Sequence[int], alpha: float = 1.0, dropout: float = 0.0, *, model: str = ""
) -> tuple[int, int, int]:
    """Validate the arguments every builder takes; returns ``input_shape`` as a tuple of ints.

    With ``model`` (a registered name), an input smaller than its registered ``min_input`` is an
    InputError naming the model and the minimum.
    """
    if isinstance(num_classes, bool) or not isinstance(num_classes, int) or num_classes < 2:
        raise InputError(f"num_classes must be an integer >= 2. Received: num_classes={num_classes!r}")
    shape = tuple(input_shape) if isinstance(input_shape, (list, tuple)) else ()
    if len(shape) != 3 or not all(isinstance(d, int) and not isinstance(d, bool) and d > 0 for d in shape):
        raise InputError(
            f"input_shape must be (height, width, channels) of positive integers. Received: input_shape={input_shape!r}"
        )
    if model:
        from edgenets.models.registry import get_model_info

        check_min_input(model, shape, get_model_info(model).min_input)
    if not isinstance(alpha, (int, float)) or isinstance(alpha, bool) or not alpha > 0:
        raise InputError(f"alpha must be > 0. Received: alpha={alpha!r}")
    if not isinstance(dropout, (int, float)) or isinstance(dropout, bool) or not 0 <= dropout < 1:
        raise InputError(f"dropout must be in [0, 1). Received: dropout={dropout!r}")
    return shape  # type: ignore[return-value]


def check_min_input(model: str, shape: Sequence[int], min_input: int) -> None:
    """One-line InputError when the input's height or width is below the model's minimum."""
    if min(shape[0], shape[1]) < min_input:
        raise InputError(
            f"{model} needs an input of at least {min_input}x{min_input} pixels. "
            f"Received: input_shape={tuple(shape)!r}"
        )


def downsamplings(input_shape: Sequence[int], native: int, places: int) -> int:
    """How many stride-2 steps a model takes for ``input_shape`` (the module docstring's rule).

    ``native`` is the model's count at 28x28, ``places`` how many places a stride can go.
    """
    side = min(int(input_shape[0]), int(input_shape[1]))
    # An integer side is never exactly halfway between two powers of two (28 * 2**(k + 0.5) is
    # irrational), so round() has no ties to break.
    return max(0, min(places, native + round(math.log2(side / REFERENCE_SIDE))))


def strided(input_shape: Sequence[int], order: Sequence[str], native: int) -> frozenset[str]:
    """The places of ``order`` that take stride 2 for ``input_shape``: its first ``downsamplings``."""
    return frozenset(order[: downsamplings(input_shape, native, len(order))])


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
