"""MobileNet (v1) exactly as in the reference study (seed-study.md, section 3.1.4).

Howard et al., "MobileNets: Efficient Convolutional Neural Networks for Mobile Vision
Applications", arXiv:1704.04861 (2017).
"""

from __future__ import annotations

from typing import Any, Sequence

from edgenets.models.common import check_common, keras_module, strided
from edgenets.models.registry import register_model

# Pointwise filters per depthwise-separable block, read off the study's table.
BLOCKS = (64, 128, 128, 256, 256, 512)
STEM_FILTERS = 32
HEAD_UNITS = 1024
# Where the stride-2 steps go (edgenets.models.common's rule), in the order they are taken. The
# first four are the study's 28x28 strides: 28 -> 14 (stem) -> 14 -> 7 (block 2) -> 7 -> 4 (block 4)
# -> 4 -> 2 (block 6), 'same' padding so 7 -> 4. A small input drops the stem's stride first, then
# block 6's; a large one strides block 1, then 3, then 5, so every place is strided at 224x224.
STRIDE_ORDER = ("block_2", "block_4", "block_6", "stem", "block_1", "block_3", "block_5")
NATIVE_DOWNSAMPLINGS = 4
MIN_INPUT = 8


@register_model(
    description="Reference study's MobileNet: 6 depthwise-separable blocks, Dense(1024) head",
    paper="Howard et al. 2017, MobileNets, arXiv:1704.04861",
    default_input=(28, 28, 1),
    preprocessing="pixels/255",
    min_input=MIN_INPUT,
)
def mobilenet(
    num_classes: int = 10,
    input_shape: Sequence[int] = (28, 28, 1),
    alpha: float = 1.0,
    dropout: float = 0.2,
) -> Any:
    """MobileNet v1 as the reference study built it (810,826 parameters at alpha=1, 10 classes).

    Paper: Howard et al., "MobileNets: Efficient Convolutional Neural Networks for Mobile Vision
    Applications", arXiv:1704.04861 (2017).

    Layer for layer the study's Keras summary: a 3x3 stem convolution, six depthwise-separable
    blocks (3x3 depthwise, 1x1 pointwise, each with a bias and followed by BatchNorm + ReLU, as the
    study had it), global average pooling, Dense(1024, relu), Dropout, Dense(num_classes, softmax).

    Downsampling (``edgenets.models.common``'s rule, 4 stride-2 steps at 28x28, 7 places): the
    stride-2 steps are the stem's and the depthwise convolutions' of ``STRIDE_ORDER``; the layer
    list and the parameter count do not depend on the input size (only the stem's input channels
    and the classifier's classes do). Head feature map: 28x28 -> 2x2 (the study's model, strides
    at the stem and blocks 2, 4, 6); 32x32 -> 2x2 (the same 4 steps); 96x96 -> 2x2 (6 steps: blocks
    1 and 3 too); 224x224 -> 2x2 (7: every place); 64x48 -> 2x2 (5); 8x8 -> 2x2 (2 steps: blocks
    2 and 4; the stem keeps the 8x8 pixels). Inputs of 10..19 px drop the stem's stride, so the
    blocks see more positions than at 28x28 (19x19 costs 1.7x the 28x28 MACs, 8x8 0.46x).
    Smallest input: 8x8.

    Args:
        num_classes: output classes.
        input_shape: (height, width, channels) of the float32 input in [0, 1].
        alpha: width multiplier (the paper's); scales every convolution's channels, not the
            Dense head. 1.0 is the reference model.
        dropout: rate of the Dropout before the classifier (the study does not state its rate).
    """
    shape = check_common(num_classes, input_shape, alpha, dropout, model="mobilenet")
    keras = keras_module()
    layers = keras.layers
    stride2 = strided(shape, STRIDE_ORDER, NATIVE_DOWNSAMPLINGS)

    inputs = keras.Input(shape=shape, name="input")
    x = _conv_block(inputs, STEM_FILTERS, alpha, strides=2 if "stem" in stride2 else 1)
    for block_id, filters in enumerate(BLOCKS, start=1):
        x = _depthwise_block(x, filters, alpha, 2 if f"block_{block_id}" in stride2 else 1, block_id)
    x = layers.GlobalAveragePooling2D(name="head_pool")(x)
    x = layers.Dense(HEAD_UNITS, activation="relu", name="head_dense")(x)
    x = layers.Dropout(dropout, name="head_dropout")(x)
    outputs = layers.Dense(num_classes, activation="softmax", name="head_predictions")(x)
    return keras.Model(inputs, outputs, name="mobilenet")


def _scaled(filters: int, alpha: float) -> int:
    # keras.applications.MobileNet's rule (truncate), so alpha=0.5 gives 16, 32, 64, ... channels.
    return max(1, int(filters * alpha))


def _conv_block(x: Any, filters: int, alpha: float, strides: int) -> Any:
    layers = keras_module().layers
    x = layers.Conv2D(_scaled(filters, alpha), 3, strides=strides, padding="same", name="stem_conv")(x)
    x = layers.BatchNormalization(name="stem_bn")(x)
    return layers.ReLU(name="stem_relu")(x)


def _depthwise_block(x: Any, filters: int, alpha: float, strides: int, block_id: int) -> Any:
    layers = keras_module().layers
    prefix = f"block_{block_id}"
    x = layers.DepthwiseConv2D(3, strides=strides, padding="same", name=f"{prefix}_dw")(x)
    x = layers.BatchNormalization(name=f"{prefix}_dw_bn")(x)
    x = layers.ReLU(name=f"{prefix}_dw_relu")(x)
    x = layers.Conv2D(_scaled(filters, alpha), 1, name=f"{prefix}_pw")(x)
    x = layers.BatchNormalization(name=f"{prefix}_pw_bn")(x)
    return layers.ReLU(name=f"{prefix}_pw_relu")(x)
