"""ShuffleNet exactly as in the reference study (seed-study.md, section 3.2.4).

Zhang et al., "ShuffleNet: An Extremely Efficient Convolutional Neural Network for Mobile
Devices", CVPR 2018, arXiv:1707.01083.
"""

from __future__ import annotations

from typing import Any, Sequence

from edgenets.models.common import channel_shuffle, check_common, keras_module, strided
from edgenets.models.registry import register_model

FILTERS = 24
NUM_BLOCKS = 3
GROUPS = 3  # the study's shuffle views 24 channels as 3 groups of 8
HEAD_UNITS = 1024
# The study's model runs every layer at the full 28x28 (no stride-2 step). Larger inputs stride
# the stem, then blocks 1, 2, 3 (edgenets.models.common's rule): see the builder's docstring.
STRIDE_ORDER = ("stem", "block_1", "block_2", "block_3")
NATIVE_DOWNSAMPLINGS = 0
MIN_INPUT = 8


@register_model(
    description="Reference study's ShuffleNet: 3 depthwise-separable blocks + one channel shuffle",
    paper="Zhang et al. 2018, ShuffleNet, arXiv:1707.01083",
    default_input=(28, 28, 1),
    preprocessing="pixels/255",
    min_input=MIN_INPUT,
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

    Layer for layer the study's Keras summary: a 3x3 stem convolution (24 channels), three
    depthwise-separable blocks (3x3 depthwise, 1x1 pointwise, each with a bias and BatchNorm +
    ReLU), one channel shuffle of 3 groups of 8, global average pooling, Dense(1024, relu),
    Dropout, Dense(num_classes, softmax). Despite the name it has neither grouped pointwise
    convolutions nor residual units; ``shufflenet_v2`` is the real one. The shuffle is
    static-shape Reshape/Permute/Reshape layers (the study used tf.reshape / tf.transpose ops), so
    it converts to plain TFLite RESHAPE/TRANSPOSE.

    Downsampling (``edgenets.models.common``'s rule, 0 stride-2 steps at 28x28, 4 places): the
    study's model has none, so its cost grows with the pixel count: at 96x96 every layer would
    run on 11.8x the positions of 28x28. Larger inputs therefore put a stride of 2 on the stem
    convolution first (a 3x3 stride-2 SAME convolution over one channel is also the pattern the
    int8 export's stem rewrite turns into SPACE_TO_DEPTH + 2x2 conv), then on blocks 1, 2, 3's
    depthwise convolutions. Strides and not a pooling layer: the layer list and the parameter
    count stay the study's at every size, and a strided convolution learns what it keeps where a
    max pool over a 24-channel, 3x3-filtered stem would only keep maxima. Head feature map:
    28x28 -> 28x28 (the study's model); 32x32 -> 32x32 (no step; 1.3x the 28x28 MACs); 96x96 ->
    24x24 (the stem and block 1 stride); 224x224 -> 28x28 (3 steps); 64x48 -> 32x24 (the stem);
    8x8 -> 8x8 (none). Smallest input: 8x8.

    Args:
        num_classes: output classes.
        input_shape: (height, width, channels) of the float32 input in [0, 1].
        alpha: width multiplier on the 24 channels, rounded to a multiple of the 3 shuffle groups.
        dropout: rate of the Dropout before the classifier (the study does not state its rate).
    """
    shape = check_common(num_classes, input_shape, alpha, dropout, model="shufflenet")
    keras = keras_module()
    layers = keras.layers
    filters = max(GROUPS, round(FILTERS * alpha / GROUPS) * GROUPS)
    stride2 = strided(shape, STRIDE_ORDER, NATIVE_DOWNSAMPLINGS)

    inputs = keras.Input(shape=shape, name="input")
    x = layers.Conv2D(filters, 3, strides=2 if "stem" in stride2 else 1, padding="same", name="stem_conv")(inputs)
    x = layers.BatchNormalization(name="stem_bn")(x)
    x = layers.ReLU(name="stem_relu")(x)
    for block_id in range(1, NUM_BLOCKS + 1):
        x = _depthwise_block(x, filters, 2 if f"block_{block_id}" in stride2 else 1, block_id)
    x = channel_shuffle(x, GROUPS, "shuffle")
    x = layers.GlobalAveragePooling2D(name="head_pool")(x)
    x = layers.Dense(HEAD_UNITS, activation="relu", name="head_dense")(x)
    x = layers.Dropout(dropout, name="head_dropout")(x)
    outputs = layers.Dense(num_classes, activation="softmax", name="head_predictions")(x)
    return keras.Model(inputs, outputs, name="shufflenet")


def _depthwise_block(x: Any, filters: int, strides: int, block_id: int) -> Any:
    layers = keras_module().layers
    prefix = f"block_{block_id}"
    x = layers.DepthwiseConv2D(3, strides=strides, padding="same", name=f"{prefix}_dw")(x)
    x = layers.BatchNormalization(name=f"{prefix}_dw_bn")(x)
    x = layers.ReLU(name=f"{prefix}_dw_relu")(x)
    x = layers.Conv2D(filters, 1, name=f"{prefix}_pw")(x)
    x = layers.BatchNormalization(name=f"{prefix}_pw_bn")(x)
    return layers.ReLU(name=f"{prefix}_pw_relu")(x)
