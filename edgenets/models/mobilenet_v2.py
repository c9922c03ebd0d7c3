"""MobileNetV2 (inverted residuals, linear bottlenecks) scaled down for small inputs (28x28 digits by default).

Sandler et al., "MobileNetV2: Inverted Residuals and Linear Bottlenecks", CVPR 2018,
arXiv:1801.04381.
"""

from __future__ import annotations

from typing import Any, Sequence

from edgenets.models.common import check_common, keras_module, make_divisible, strided
from edgenets.models.registry import register_model

# (expansion t, output channels c, repeats n) as in the paper's Table 2, cut to the first stages:
# a 28x28 digit needs two downsamplings (28 -> 14 -> 7), not five.
STAGES = ((1, 16, 1), (6, 24, 2), (6, 32, 3), (6, 64, 2))
STEM_FILTERS = 32
HEAD_FILTERS = 512  # the paper's 1280 is sized for 1000 ImageNet classes
# Where the stride-2 steps go (edgenets.models.common's rule), in the order they are taken: a
# stage's first block, or the stem. The first two are the 28x28 model's (stages 2 and 3); larger
# inputs stride the stem, then stage 1, then stage 4 (the paper's stride-2 places at 224x224).
STRIDE_ORDER = ("stage_2", "stage_3", "stem", "stage_1", "stage_4")
NATIVE_DOWNSAMPLINGS = 2
MIN_INPUT = 8


@register_model(
    description="MobileNetV2 for small images: inverted residuals with linear bottlenecks",
    paper="Sandler et al. 2018, MobileNetV2, arXiv:1801.04381",
    default_input=(28, 28, 1),
    preprocessing="pixels/255",
    min_input=MIN_INPUT,
)
def mobilenet_v2(
    num_classes: int = 10,
    input_shape: Sequence[int] = (28, 28, 1),
    alpha: float = 1.0,
    dropout: float = 0.2,
) -> Any:
    """MobileNetV2 scaled for small inputs (designed at 28x28).

    Paper: Sandler et al., "MobileNetV2: Inverted Residuals and Linear Bottlenecks", CVPR 2018,
    arXiv:1801.04381.

    Stem: 3x3 convolution, stride 1 at 28x28 (the paper's stride 2 would throw away half of a 28x28
    digit). Then the paper's inverted residual blocks: 1x1 expansion by ``t`` + ReLU6, 3x3
    depthwise + ReLU6, 1x1 linear projection (no activation: the bottleneck is linear), and an
    identity shortcut added when stride is 1 and the channel count is unchanged. Stages (t, c, n):
    (1, 16, 1), (6, 24, 2), (6, 32, 3), (6, 64, 2). Head: 1x1 convolution to 512 channels + ReLU6,
    global average pooling, Dropout, Dense(softmax). Convolutions followed by BatchNorm have no
    bias (it would be folded away anyway).

    Downsampling (``edgenets.models.common``'s rule, 2 stride-2 steps at 28x28, 5 places: the
    stem and each stage's first block, taken in ``STRIDE_ORDER``). Head feature map: 28x28 -> 7x7
    (stages 2 and 3 stride: 28 -> 14 -> 7); 32x32 -> 8x8 (the same); 96x96 -> 6x6 (4 steps: the
    stem and stage 1 too); 224x224 -> 7x7 (all 5, the paper's 224 -> 7); 64x48 -> 8x6 (3 steps:
    the stem too); 8x8 -> 8x8 (none: an 8x8 image is already the size of the 28x28 model's head
    map). A block that takes a stride loses its identity shortcut, as in the paper (at alpha=1
    no stride place has one: each changes the channel count). Smallest input: 8x8.

    Args:
        num_classes: output classes.
        input_shape: (height, width, channels) of the float32 input in [0, 1].
        alpha: width multiplier; block channels are scaled and rounded to multiples of 8 as in
            the paper; the head's 512 channels are only scaled when alpha > 1 (as keras does).
        dropout: rate of the Dropout before the classifier.
    """
    shape = check_common(num_classes, input_shape, alpha, dropout, model="mobilenet_v2")
    keras = keras_module()
    layers = keras.layers
    stride2 = strided(shape, STRIDE_ORDER, NATIVE_DOWNSAMPLINGS)

    inputs = keras.Input(shape=shape, name="input")
    x = layers.Conv2D(make_divisible(STEM_FILTERS * alpha, 8), 3, strides=2 if "stem" in stride2 else 1,
                      padding="same", use_bias=False, name="stem_conv")(inputs)
    x = layers.BatchNormalization(name="stem_bn")(x)
    x = layers.ReLU(6.0, name="stem_relu")(x)
    block_id = 0
    for stage, (expansion, channels, repeats) in enumerate(STAGES, start=1):
        first_stride = 2 if f"stage_{stage}" in stride2 else 1
        for i in range(repeats):
            block_id += 1
            x = _inverted_res_block(x, expansion, channels, alpha, first_stride if i == 0 else 1, block_id)
    head = make_divisible(HEAD_FILTERS * alpha, 8) if alpha > 1 else HEAD_FILTERS
    x = layers.Conv2D(head, 1, use_bias=False, name="head_conv")(x)
    x = layers.BatchNormalization(name="head_bn")(x)
    x = layers.ReLU(6.0, name="head_relu")(x)
    x = layers.GlobalAveragePooling2D(name="head_pool")(x)
    x = layers.Dropout(dropout, name="head_dropout")(x)
    outputs = layers.Dense(num_classes, activation="softmax", name="head_predictions")(x)
    return keras.Model(inputs, outputs, name="mobilenet_v2")


def _inverted_res_block(x: Any, expansion: int, channels: int, alpha: float, strides: int, block_id: int) -> Any:
    layers = keras_module().layers
    prefix = f"block_{block_id}"
    in_channels = x.shape[-1]
    out_channels = make_divisible(channels * alpha, 8)
    shortcut = x
    if expansion != 1:  # the paper's first block (t=1) has no expansion layer
        x = layers.Conv2D(in_channels * expansion, 1, use_bias=False, name=f"{prefix}_expand")(x)
        x = layers.BatchNormalization(name=f"{prefix}_expand_bn")(x)
        x = layers.ReLU(6.0, name=f"{prefix}_expand_relu")(x)
    x = layers.DepthwiseConv2D(3, strides=strides, padding="same", use_bias=False, name=f"{prefix}_dw")(x)
    x = layers.BatchNormalization(name=f"{prefix}_dw_bn")(x)
    x = layers.ReLU(6.0, name=f"{prefix}_dw_relu")(x)
    x = layers.Conv2D(out_channels, 1, use_bias=False, name=f"{prefix}_project")(x)
    x = layers.BatchNormalization(name=f"{prefix}_project_bn")(x)  # linear bottleneck: no ReLU here
    if strides == 1 and in_channels == out_channels:
        x = layers.Add(name=f"{prefix}_add")([shortcut, x])
    return x
