"""MobileNet (v1) exactly as in the reference study (seed-study.md, section 3.1.4).

Howard et al., "MobileNets: Efficient Convolutional Neural Networks for Mobile Vision
Applications", arXiv:1704.04861 (2017).
"""

from __future__ import annotations

from typing import Any, Sequence

from edgenets.models.common import check_common, keras_module
from edgenets.models.registry import register_model

# (pointwise filters, depthwise stride) per depthwise-separable block, read off the study's table:
# the spatial size goes 14 -> 14 -> 7 -> 7 -> 4 -> 4 -> 2 ('same' padding, so 7 -> 4 at stride 2).
BLOCKS = ((64, 1), (128, 2), (128, 1), (256, 2), (256, 1), (512, 2))
STEM_FILTERS = 32
HEAD_UNITS = 1024


@register_model(
    description="Reference study's MobileNet: 6 depthwise-separable blocks, Dense(1024) head",
    paper="Howard et al. 2017, MobileNets, arXiv:1704.04861",
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

    Layer for layer the study's Keras summary: a 3x3 stride-2 stem convolution, six
    depthwise-separable blocks (3x3 depthwise, 1x1 pointwise, each with a bias and followed by
    BatchNorm + ReLU, as the study had it), global average pooling, Dense(1024, relu), Dropout,
    Dense(num_classes, softmax).

    Args:
        num_classes: output classes.
        input_shape: (height, width, channels) of the float32 input in [0, 1].
        alpha: width multiplier (the paper's); scales every convolution's channels, not the
            Dense head. 1.0 is the reference model.
        dropout: rate of the Dropout before the classifier (the study does not state its rate).
    """
    shape = check_common(num_classes, input_shape, alpha, dropout)
    keras = keras_module()
    layers = keras.layers

    inputs = keras.Input(shape=shape, name="input")
    x = _conv_block(inputs, STEM_FILTERS, alpha, strides=2)
    for block_id, (filters, strides) in enumerate(BLOCKS, start=1):
        x = _depthwise_block(x, filters, alpha, strides, block_id)
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
