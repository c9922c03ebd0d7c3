"""ShuffleNet V2 (channel split + channel shuffle units) scaled down for small inputs (28x28 digits by default).

Ma et al., "ShuffleNet V2: Practical Guidelines for Efficient CNN Architecture Design",
ECCV 2018, arXiv:1807.11164.
"""

from __future__ import annotations

from typing import Any, Sequence

from edgenets.models.common import channel_shuffle, check_common, keras_module, make_divisible, strided
from edgenets.models.registry import register_model

# (output channels, units) per stage; the first unit of a stage is the downsampling unit.
# The paper's three stages (4, 8, 4 units) and 4x stem reduction are sized for 224x224 images;
# a 28x28 digit gets two stages (28 -> 14 -> 7) of 4 units each, between the paper's 0.5x and
# 1x widths. Each unit is ~17 Keras layers, and layer count (not FLOPs) sets the time to trace,
# export and convert a model this small.
STAGES = ((64, 4), (128, 4))
STEM_FILTERS = 24
HEAD_FILTERS = 512  # the paper's 1024 is sized for 1000 ImageNet classes
# Where the stride-2 steps go (edgenets.models.common's rule), in the order they are taken: the
# 28x28 model's two stages, then the paper's stem reduction (a stride-2 stem convolution, then a
# 3x3 stride-2 max pool, a layer that exists only when it is taken).
STRIDE_ORDER = ("stage_1", "stage_2", "stem", "stem_pool")
NATIVE_DOWNSAMPLINGS = 2
MIN_INPUT = 8


@register_model(
    description="ShuffleNet V2 for small images: channel split + shuffle units",
    paper="Ma et al. 2018, ShuffleNet V2, arXiv:1807.11164",
    default_input=(28, 28, 1),
    preprocessing="pixels/255",
    min_input=MIN_INPUT,
)
def shufflenet_v2(
    num_classes: int = 10,
    input_shape: Sequence[int] = (28, 28, 1),
    alpha: float = 1.0,
    dropout: float = 0.2,
) -> Any:
    """ShuffleNet V2 scaled for small inputs (designed at 28x28).

    Paper: Ma et al., "ShuffleNet V2: Practical Guidelines for Efficient CNN Architecture
    Design", ECCV 2018, arXiv:1807.11164.

    Why V2 and not V1: V1's pointwise *group* convolutions are grouped ``Conv2D`` (groups > 1),
    which the int8 TFLite converter/kernels handle poorly; emulating them costs a split + conv +
    concat per group. V2 replaces them with a channel split into two halves, ordinary 1x1
    convolutions on one half and a concat + channel shuffle, all of which map onto plain TFLite
    ops (RESHAPE, STRIDED_SLICE, CONV_2D, DEPTHWISE_CONV_2D, CONCATENATION, TRANSPOSE) with int8
    kernels. V2's guidelines (equal channel widths, few branches, few element-wise ops) also
    target measured speed on ARM, which is what edgenets benchmarks.

    Units as in the paper's Figure 3: the basic unit (c) splits the channels in half, keeps one
    half as the identity and runs the other through 1x1 conv + ReLU, 3x3 depthwise (no ReLU),
    1x1 conv + ReLU, then concatenates and shuffles (2 groups); the downsampling unit (d) runs
    both a 3x3 stride-2 depthwise + 1x1 shortcut and the main branch (with a stride-2 depthwise)
    on all channels and concatenates them, doubling the width. Stem: 3x3 convolution (stride 1
    at 28x28: a 28x28 digit cannot afford the paper's 4x stem reduction), then two stages of 4
    units (one downsampling + three basic), at 14x14 with 64 channels and at 7x7 with 128 for a
    28x28 input. Head: 1x1 convolution to 512 + ReLU, global average pooling, Dropout,
    Dense(softmax). The channel split is a static-shape Reshape to (H, W, 2, C/2) plus one
    Cropping3D per half: built-in Keras layers, so a saved ``.keras`` model loads without custom
    objects and the names stay deterministic.

    Downsampling (``edgenets.models.common``'s rule, 2 stride-2 steps at 28x28, 4 places taken in
    ``STRIDE_ORDER``: the two stages' first units, the stem convolution, then a 3x3 stride-2 max
    pool ``stem_pool`` after the stem, the paper's). A stage's first unit without its stride still
    doubles the width (both branches at stride 1). Head feature map: 28x28 -> 7x7; 32x32 -> 8x8;
    96x96 -> 6x6 (all 4 steps: the stem and its pool too); 64x48 -> 8x6 (3: the stem); 8x8 -> 8x8
    (none: an 8x8 image is already the size of the 28x28 model's head map). With two stages there
    are only 4 places, so above 158 px the head map grows with the input: 224x224 -> 14x14.
    Smallest input: 8x8.

    Args:
        num_classes: output classes.
        input_shape: (height, width, channels) of the float32 input in [0, 1].
        alpha: width multiplier on the stage channels (rounded to multiples of 8).
        dropout: rate of the Dropout before the classifier.
    """
    shape = check_common(num_classes, input_shape, alpha, dropout, model="shufflenet_v2")
    keras = keras_module()
    layers = keras.layers
    stride2 = strided(shape, STRIDE_ORDER, NATIVE_DOWNSAMPLINGS)

    inputs = keras.Input(shape=shape, name="input")
    x = layers.Conv2D(STEM_FILTERS, 3, strides=2 if "stem" in stride2 else 1, padding="same", use_bias=False,
                      name="stem_conv")(inputs)
    x = layers.BatchNormalization(name="stem_bn")(x)
    x = layers.ReLU(name="stem_relu")(x)
    if "stem_pool" in stride2:
        x = layers.MaxPooling2D(3, strides=2, padding="same", name="stem_pool")(x)
    block_id = 0
    for stage, (channels, units) in enumerate(STAGES, start=1):
        out_channels = make_divisible(channels * alpha, 8)
        block_id += 1
        x = _down_unit(x, out_channels, 2 if f"stage_{stage}" in stride2 else 1, block_id)
        for _ in range(units - 1):
            block_id += 1
            x = _basic_unit(x, block_id)
    x = layers.Conv2D(HEAD_FILTERS, 1, use_bias=False, name="head_conv")(x)
    x = layers.BatchNormalization(name="head_bn")(x)
    x = layers.ReLU(name="head_relu")(x)
    x = layers.GlobalAveragePooling2D(name="head_pool")(x)
    x = layers.Dropout(dropout, name="head_dropout")(x)
    outputs = layers.Dense(num_classes, activation="softmax", name="head_predictions")(x)
    return keras.Model(inputs, outputs, name="shufflenet_v2")


def _basic_unit(x: Any, block_id: int) -> Any:
    """Figure 3(c): split, identity + branch, concat, shuffle; stride 1, width unchanged."""
    layers = keras_module().layers
    prefix = f"block_{block_id}"
    identity, branch = _channel_split(x, prefix)
    branch = _branch(branch, branch.shape[-1], 1, prefix)
    x = layers.Concatenate(name=f"{prefix}_concat")([identity, branch])
    return channel_shuffle(x, 2, f"{prefix}_shuffle")


def _down_unit(x: Any, out_channels: int, strides: int, block_id: int) -> Any:
    """Figure 3(d): no split; a depthwise shortcut and the branch, both at ``strides``; width doubles."""
    layers = keras_module().layers
    prefix = f"block_{block_id}"
    half = out_channels // 2
    shortcut = layers.DepthwiseConv2D(3, strides=strides, padding="same", use_bias=False, name=f"{prefix}_short_dw")(x)
    shortcut = layers.BatchNormalization(name=f"{prefix}_short_dw_bn")(shortcut)
    shortcut = layers.Conv2D(half, 1, use_bias=False, name=f"{prefix}_short_pw")(shortcut)
    shortcut = layers.BatchNormalization(name=f"{prefix}_short_pw_bn")(shortcut)
    shortcut = layers.ReLU(name=f"{prefix}_short_pw_relu")(shortcut)
    branch = _branch(x, half, strides, prefix)
    x = layers.Concatenate(name=f"{prefix}_concat")([shortcut, branch])
    return channel_shuffle(x, 2, f"{prefix}_shuffle")


def _branch(x: Any, channels: int, strides: int, prefix: str) -> Any:
    layers = keras_module().layers
    x = layers.Conv2D(channels, 1, use_bias=False, name=f"{prefix}_pw1")(x)
    x = layers.BatchNormalization(name=f"{prefix}_pw1_bn")(x)
    x = layers.ReLU(name=f"{prefix}_pw1_relu")(x)
    x = layers.DepthwiseConv2D(3, strides=strides, padding="same", use_bias=False, name=f"{prefix}_dw")(x)
    x = layers.BatchNormalization(name=f"{prefix}_dw_bn")(x)  # no ReLU after the depthwise (paper)
    x = layers.Conv2D(channels, 1, use_bias=False, name=f"{prefix}_pw2")(x)
    x = layers.BatchNormalization(name=f"{prefix}_pw2_bn")(x)
    return layers.ReLU(name=f"{prefix}_pw2_relu")(x)


def _channel_split(x: Any, prefix: str) -> tuple[Any, Any]:
    """Split channels into two halves with static-shape built-in layers (see the builder's docstring)."""
    layers = keras_module().layers
    h, w, c = x.shape[1], x.shape[2], x.shape[3]
    halves = layers.Reshape((h, w, 2, c // 2), name=f"{prefix}_split")(x)
    out = []
    for role, cropping in (("a", (0, 1)), ("b", (1, 0))):
        half = layers.Cropping3D(((0, 0), (0, 0), cropping), data_format="channels_last", name=f"{prefix}_split_{role}_crop")(halves)
        out.append(layers.Reshape((h, w, c // 2), name=f"{prefix}_split_{role}")(half))
    return out[0], out[1]
