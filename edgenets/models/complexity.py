"""Parameters, multiply-accumulates (MACs) and weight size of a built Keras model.

MACs are counted from each layer's configuration and its input/output shapes, for one image of
the model's own input shape (whatever it was built for), the convention of the MobileNet papers'
"Mult-Adds":

- Conv2D:          H_out * W_out * C_out * k_h * k_w * C_in / groups
- DepthwiseConv2D: H_out * W_out * C_in * depth_multiplier * k_h * k_w
- Dense:           units_in * units_out

Everything else counts 0: bias adds, BatchNorm (folded into the preceding convolution when the
model is converted to TFLite), activations, residual adds, pooling, reshape/transpose/slice and
concatenation are memory-bound and cost a small fraction of the convolutions.

``float32_bytes`` is 4 bytes per Keras weight (trainable or not, BatchNorm statistics included):
the size of the weights in memory, not of a .tflite file, where BatchNorm is folded away.

``input_shape`` is the model's (H, W, C) and ``head_map`` the (H, W) of the last feature map
before the global pooling (the last 4-D layer output): what the downsampling rule of
``edgenets.models.common`` chose for that input.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from math import prod
from typing import Any, Optional


@dataclass
class LayerStats:
    name: str
    kind: str
    output_shape: tuple[Optional[int], ...]
    params: int
    macs: int


@dataclass
class ModelStats:
    name: str
    params: int
    trainable_params: int
    macs: int
    float32_bytes: int
    input_shape: tuple[Optional[int], ...] = ()
    head_map: Optional[tuple[int, int]] = None
    layers: list[LayerStats] = field(default_factory=list)

    def as_dict(self, layers: bool = True) -> dict:
        out = asdict(self)
        out["input_shape"] = list(self.input_shape)
        out["head_map"] = None if self.head_map is None else list(self.head_map)
        if layers:
            for row in out["layers"]:
                row["output_shape"] = list(row["output_shape"])
        else:
            del out["layers"]
        return out


def layer_macs(layer: Any) -> int:
    """MACs of one layer for a batch of one image (0 for layers that are not counted)."""
    kind = type(layer).__name__
    if kind not in ("Conv2D", "DepthwiseConv2D", "Dense"):
        return 0
    in_shape = tuple(layer.input.shape)
    out_shape = tuple(layer.output.shape)
    if kind == "Dense":
        return int(in_shape[-1]) * int(out_shape[-1])
    if layer.get_config().get("data_format", "channels_last") != "channels_last":
        raise ValueError(f"{layer.name}: only channels_last layers are counted")
    k_h, k_w = layer.kernel_size
    out_positions = int(out_shape[1]) * int(out_shape[2])
    if kind == "DepthwiseConv2D":
        return out_positions * int(in_shape[-1]) * layer.depth_multiplier * k_h * k_w
    groups = getattr(layer, "groups", 1) or 1
    return out_positions * int(out_shape[-1]) * k_h * k_w * (int(in_shape[-1]) // groups)


def model_stats(model: Any) -> ModelStats:
    """Per-layer output shape, parameters and MACs of a functional Keras model, and the totals."""
    rows = []
    for layer in model.layers:
        rows.append(
            LayerStats(
                name=layer.name,
                kind=type(layer).__name__,
                output_shape=tuple(None if d is None else int(d) for d in layer.output.shape),
                params=int(layer.count_params()) if layer.weights else 0,
                macs=layer_macs(layer),
            )
        )
    params = sum(r.params for r in rows)
    trainable = int(sum(prod(w.shape) for w in model.trainable_weights))
    maps = [r.output_shape[1:3] for r in rows if len(r.output_shape) == 4 and None not in r.output_shape[1:3]]
    inputs = getattr(model, "inputs", None) or []
    return ModelStats(
        name=model.name,
        params=params,
        trainable_params=trainable,
        macs=sum(r.macs for r in rows),
        float32_bytes=4 * params,
        input_shape=tuple(None if d is None else int(d) for d in inputs[0].shape[1:]) if len(inputs) == 1 else (),
        head_map=maps[-1] if maps else None,
        layers=rows,
    )


def stats_for(name: str, **kwargs: Any) -> ModelStats:
    """Build the registered model ``name`` (with ``create_model`` keyword arguments) and count it."""
    from edgenets.models.registry import create_model

    return model_stats(create_model(name, **kwargs))
