"""ShuffleNet exactly as in the reference study (seed-study.md, section 3.2.4).

Zhang et al., "ShuffleNet: An Extremely Efficient Convolutional Neural Network for Mobile
Devices", CVPR 2018, arXiv:1707.01083.
"""

from __future__ import annotations

from typing import Any, Sequence

from edgenets.models.common import channel_shuffle, check_common, keras_module
from edgenets.models.registry import register_model

FILTERS = 24
NUM_BLOCKS = 3
GROUPS = 3  # the study's shuffle views 24 channels as 3 groups of 8
HEAD_UNITS = 1024


@register_model(
    description="Reference study's ShuffleNet: 3 depthwise-separable blocks + one channel shuffle",
    paper="Zhang et al. 2018, ShuffleNet, arXiv:1707.01083",
)
def shufflenet(
    num_classes: int = 10,
    input_shape: Sequence[int] = (28, 28, 1),
    alpha: float = 1.0,
    dropout: float = 0.2,
) -> Any:
    """The reference study's "ShuffleNet" (39,282 parameters at alpha=1, 10 classes).

    Paper: Zhang et al., "ShuffleNet: An Extremely Efficient Convolutional Neural Network for
    Mobile Devices", CVPR 2018, arXiv:1707.01083.

    Layer for layer the study's Keras summary: a 3x3 stride-1 stem convolution (24 channels),
    three depthwise-separable blocks at full 28x28 resolution (3x3 depthwise, 1x1 pointwise, each
    with a bias and BatchNorm + ReLU), one channel shuffle of 3 groups of 8, global average
    pooling, Dense(1024, relu), Dropout, Dense(num_classes, softmax). Despite the name it has
    neither grouped pointwise convolutions nor residual units; ``shufflenet_v2`` is the real one.
    The shuffle is static-shape Reshape/Permute/Reshape layers (the study used tf.reshape /
    tf.transpose ops), so it converts to plain TFLite RESHAPE/TRANSPOSE.

    Args:
        num_classes: output classes.
        input_shape: (height, width, channels) of the float32 input in [0, 1].
        alpha: width multiplier on the 24 channels, rounded to a multiple of the 3 shuffle groups.
        dropout: rate of the Dropout before the classifier (the study does not state its rate).
    """
    shape = check_common(num_classes, input_shape, alpha, dropout)
    keras = keras_module()
    layers = keras.layers
    filters = max(GROUPS, round(FILTERS * alpha / GROUPS) * GROUPS)

    inputs = keras.Input(shape=shape, name="input")
    x = layers.Conv2D(filters, 3, padding="same", name="stem_conv")(inputs)
    x = layers.BatchNormalization(name="stem_bn")(x)
    x = layers.ReLU(name="stem_relu")(x)
    for block_id in range(1, NUM_BLOCKS + 1):
        x = _depthwise_block(x, filters, block_id)
    x = channel_shuffle(x, GROUPS, "shuffle")
    x = layers.GlobalAveragePooling2D(name="head_pool")(x)
    x = layers.Dense(HEAD_UNITS, activation="relu", name="head_dense")(x)
    x = layers.Dropout(dropout, name="head_dropout")(x)
    outputs = layers.Dense(num_classes, activation="softmax", name="head_predictions")(x)
    return keras.Model(inputs, outputs, name="shufflenet")


def _depthwise_block(x: Any, filters: int, block_id: int) -> Any:
    layers = keras_module().layers
    prefix = f"block_{block_id}"
    x = layers.DepthwiseConv2D(3, padding="same", name=f"{prefix}_dw")(x)
    x = layers.BatchNormalization(name=f"{prefix}_dw_bn")(x)
    x = layers.ReLU(name=f"{prefix}_dw_relu")(x)
    x = layers.Conv2D(filters, 1, name=f"{prefix}_pw")(x)
    x = layers.BatchNormalization(name=f"{prefix}_pw_bn")(x)
    return layers.ReLU(name=f"{prefix}_pw_relu")(x)
