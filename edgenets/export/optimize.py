"""Export-time graph transforms: exact rewrites of a trained model that make its TFLite graph faster.

Nothing here changes what the user trained. Each transform is a mathematical identity applied to a
copy of the trained Keras model (or, for the batch dimension, to the converted flatbuffer), and
export verifies the result on the test set like any other export:

``logits``
    The final softmax is dropped: the model outputs the scores the softmax would have normalised.
    ``argmax`` is unchanged (softmax is monotonic), and XNNPACK never takes an int8 SOFTMAX, so in
    an int8 graph it runs on a builtin kernel after the delegate.
``fold_shuffle``
    A channel shuffle (Reshape -> Permute -> Reshape, edgenets.models.common.channel_shuffle) is a
    fixed channel permutation. The permutation is carried through the graph as bookkeeping instead
    of being computed: channel-wise layers (BatchNorm, ReLU, depthwise conv, pooling) get their
    per-channel parameters permuted, the next Conv2D/Dense gets its input rows permuted, and a
    Concatenate of a permuted tensor with a freshly computed one asks the producer of the latter
    (a conv followed by channel-wise layers) for its output channels in the matching order.
    ShuffleNet V2's channel split (Reshape (H,W,k,C/k) + Cropping3D + Reshape) then selects a box
    of a (H*W*T, m, inner) view of the physical channels: one RESHAPE and one STRIDED_SLICE, as
    before, but the TRANSPOSE is gone. Where a permuted tensor reaches a layer the bookkeeping does
    not cover, nothing is folded and the reason is reported.
``int8_stem``
    int8 only. A convolution over a single input channel (the stem on grey-scale images) runs on
    XNNPACK's int8 GEMM, which pads each kernel tap's channel count to its 8-wide K blocking: a
    3x3 stem does 72 multiply-adds per output where 9 are needed. Stride 1 becomes a fixed 1x1
    "broadcast" convolution (all-ones weights: every output channel a copy of the input, exact in
    int8) followed by the same kernel as a depthwise convolution; stride 2 (3x3, SAME, even input)
    becomes SPACE_TO_DEPTH + a 2x2 convolution whose kernel is the 3x3 one zero-padded to 4x4.
    Quantised weights, biases and scales are those of the original convolution.

``make_dynamic_batch`` rewrites a converted flatbuffer so its batch dimension can be resized:
RESHAPE ops whose target shape starts with the batch 1 get -1 there (the constant shape tensor and
ReshapeOptions.new_shape), STRIDED_SLICE/SLICE ops that take the whole batch get the batch axis
masked, and every activation tensor's shape_signature starts with -1. The batch-1 graph is
otherwise byte-for-byte the same ops with the same shapes.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Optional

import numpy as np

from edgenets.errors import InputError

OUTPUT_KINDS = ("logits", "softmax")  # the --logits/--softmax choice
BATCH_CHOICES = ("dynamic", "1")


@dataclass(frozen=True)
class GraphOptions:
    """What `edgenets export` does to the graph; every field is recorded in the sidecar."""

    output: str = "logits"  # "logits": drop the final softmax; "softmax": keep it
    fold_shuffle: bool = True
    int8_stem: bool = True  # int8 exports only
    batch: str = "dynamic"  # "dynamic" or "1"

    def __post_init__(self) -> None:
        if self.output not in OUTPUT_KINDS:
            raise InputError(f"output must be one of {', '.join(OUTPUT_KINDS)}. Received: {self.output!r}")
        if str(self.batch) not in BATCH_CHOICES:
            raise InputError(f"--batch must be one of {', '.join(BATCH_CHOICES)}. Received: {self.batch!r}")
        object.__setattr__(self, "batch", str(self.batch))

    def as_dict(self) -> dict:
        return {"output": self.output, "fold_shuffle": self.fold_shuffle, "int8_stem": self.int8_stem,
                "batch": self.batch}


class _CannotFold(Exception):
    """The shuffle permutation reached a layer the bookkeeping does not handle (the message says which)."""


# ------------------------------------------------------------------------------------------ Keras graph


@dataclass
class _V:
    """A tensor of the rebuilt graph.

    ``order[p]`` is the logical channel (the channel index the original model has) stored at physical
    channel ``p``; None means the identity. ``free`` lists the layers that produce this tensor's
    channels and can permute them at no cost (a Conv2D/Dense, then channel-wise layers), or None.
    """

    t: Any
    order: Optional[np.ndarray] = None
    free: Optional[list] = None


def _keras():
    from edgenets.errors import require

    return require("keras", "train", "edgenets export")


def _is_identity(order: Optional[np.ndarray]) -> bool:
    return order is None or bool(np.array_equal(order, np.arange(len(order))))


def _norm(order: Optional[np.ndarray]) -> Optional[np.ndarray]:
    return None if _is_identity(order) else np.asarray(order, dtype=np.int64)


def _clone(layer: Any, **overrides: Any) -> Any:
    config = layer.get_config()
    config.update(overrides)
    return type(layer).from_config(config)


def _channels_last(layer: Any) -> bool:
    return getattr(layer, "data_format", "channels_last") == "channels_last"


def _bn_last_axis(layer: Any, rank: int) -> bool:
    axis = layer.axis if not isinstance(layer.axis, (list, tuple)) else (layer.axis[0] if len(layer.axis) == 1 else None)
    return axis is not None and axis in (-1, rank - 1)


def _permute_free(free: list, q: np.ndarray) -> None:
    """Physically reorder the channels produced by ``free`` by ``q`` (new[p] = old[q[p]])."""
    for layer, kind in free:
        weights = layer.get_weights()
        if kind == "out":  # Conv2D / Dense: kernel output axis and bias
            weights = [w[..., q] for w in weights]
        elif kind == "bn":  # every BatchNorm weight is one value per channel
            weights = [w[q] for w in weights]
        elif kind == "dw":  # DepthwiseConv2D, depth_multiplier 1: kernel (kh, kw, C, 1), bias (C,)
            weights = [w[:, :, q, :] if w.ndim == 4 else w[q] for w in weights]
        layer.set_weights(weights)


def _is_softmax_function(fn: Any) -> bool:
    return getattr(fn, "__name__", "") == "softmax"


def _is_softmax_layer(op: Any, L: Any) -> bool:
    """A Softmax layer, an Activation("softmax") layer, or the ops.nn.Softmax operation that
    ``keras.activations.softmax(x)`` / ``keras.ops.softmax(x)`` leave in a functional model."""
    if isinstance(op, L.Softmax):
        return True
    if isinstance(op, L.Activation):
        return _is_softmax_function(op.activation)
    return (not isinstance(op, L.Layer) and type(op).__name__ == "Softmax"
            and type(op).__module__.startswith("keras.") and hasattr(op, "axis"))


def _as_functional(model: Any) -> Optional[Any]:
    """``model`` as a functional graph the rebuild can walk, or None: a functional model as is; a
    Sequential model as a functional model calling the same layer objects (weights shared, not copied)."""
    keras = _keras()
    if isinstance(model, keras.Sequential):
        if not model.built or not getattr(model, "inputs", None):
            return None
        x = inp = keras.Input(shape=tuple(model.input_shape[1:]), dtype=model.inputs[0].dtype, name="image")
        for layer in model.layers:
            x = layer(x)
        return keras.Model(inp, x, name=model.name)
    if not hasattr(model, "_nodes_by_depth"):
        return None
    return model


class _Rebuild:
    """Rebuild a functional Keras model node by node, applying the requested rewrites."""

    def __init__(self, model: Any, *, fold: bool, logits: bool, stem: bool) -> None:
        self.keras = _keras()
        self.model = model
        self.fold, self.logits, self.stem = fold, logits, stem
        self.consumers: dict[int, list] = {}
        self.nodes: list = []
        for depth in sorted(model._nodes_by_depth, reverse=True):
            for node in model._nodes_by_depth[depth]:
                if node.operation is None or node.is_input:
                    continue
                self.nodes.append(node)
                for x in node.input_tensors:
                    self.consumers.setdefault(id(x), []).append(node)
        self.outputs = {id(x) for x in model.outputs}
        self.shuffles = self.splits = 0
        self.softmax_dropped: Optional[str] = None
        self.stem_rewritten: list[str] = []
        self._skip: set[int] = set()  # id(node): layers a fold made redundant (pass their input through)
        self._split_src: dict[int, tuple] = {}  # id(split Reshape output) -> (permuted source, k, per)

    # -- helpers
    def _single_consumer(self, tensor: Any) -> Optional[Any]:
        users = self.consumers.get(id(tensor), [])
        return users[0] if len(users) == 1 and id(tensor) not in self.outputs else None

    def _is_sole_use(self, tensor: Any) -> bool:
        return len(self.consumers.get(id(tensor), [])) == 1 and id(tensor) not in self.outputs

    def _call_cloned(self, layer: Any, x: Any, weights: list, **overrides: Any) -> tuple[Any, Any]:
        new = _clone(layer, **overrides)
        y = new(x)
        new.set_weights(weights)
        return new, y

    # -- main loop
    def run(self) -> Any:
        keras = self.keras
        values: dict[int, _V] = {}
        new_inputs = []
        for x in self.model.inputs:
            inp = keras.Input(shape=tuple(x.shape[1:]), dtype=x.dtype, name=getattr(x, "name", None))
            new_inputs.append(inp)
            values[id(x)] = _V(inp)
        for node in self.nodes:
            ins = [values[id(x)] for x in node.input_tensors]
            outs = self._node(node, ins)
            for x, v in zip(node.outputs, outs):
                values[id(x)] = v
        new_outputs = []
        for x in self.model.outputs:
            v = values[id(x)]
            if v.order is not None:
                raise _CannotFold(f"the model output {getattr(x, 'name', '')} would come out with permuted channels")
            new_outputs.append(v.t)
        outputs = new_outputs[0] if len(new_outputs) == 1 else new_outputs
        return keras.Model(new_inputs[0] if len(new_inputs) == 1 else new_inputs, outputs, name=self.model.name)

    def _node(self, node: Any, ins: list) -> list:
        keras = self.keras
        L = keras.layers
        layer = node.operation
        out_tensor = node.outputs[0]

        if id(node) in self._skip:  # the Permute / merging Reshape of a folded shuffle, a split's last Reshape
            return [ins[0]]
        if node.input_tensors and id(node.input_tensors[0]) in self._split_src:  # a Cropping3D of a folded split
            return [self._slice_half(node, *self._split_src[id(node.input_tensors[0])])]

        if self.logits and id(out_tensor) in self.outputs and len(self.model.outputs) == 1:
            dropped = self._drop_softmax(node, ins)
            if dropped is not None:
                return [dropped]

        if self.stem and isinstance(layer, L.Conv2D) and type(layer) is L.Conv2D:
            rewritten = self._stem(node, ins[0])
            if rewritten is not None:
                return [rewritten]

        if not self.fold:
            return [self._passthrough(node, ins)]
        return [self._fold(node, ins)]

    def _passthrough(self, node: Any, ins: list) -> _V:
        """Call the original layer object (weights shared, never modified) on the new inputs."""
        tensors = {id(x): v.t for x, v in zip(node.input_tensors, ins)}
        args, kwargs = node.arguments.fill_in(tensors)
        return _V(node.operation(*args, **kwargs))

    # -- logits
    def _drop_softmax(self, node: Any, ins: list) -> Optional[_V]:
        """The model's final softmax removed, in any of the forms Keras writes it: a Dense/Conv2D with
        ``activation="softmax"``, a Softmax or Activation("softmax") layer, or ``keras.activations.softmax``
        / ``keras.ops.softmax`` called in a functional model (an ``ops.nn.Softmax`` operation). Only a
        softmax over the last axis is dropped (the class axis of a (None, K) output)."""
        L = self.keras.layers
        layer = node.operation
        act = getattr(layer, "activation", None)
        if isinstance(layer, (L.Dense, L.Conv2D)) and _is_softmax_function(act):
            v = ins[0]
            weights = layer.get_weights()
            if v.order is not None:  # fold and drop in one go: permute the input rows too
                weights[0] = np.take(weights[0], v.order, axis=-2)
            _, y = self._call_cloned(layer, v.t, weights, activation="linear")
            self.softmax_dropped = f"{layer.name} (softmax activation -> linear)"
            return _V(y)
        if _is_softmax_layer(layer, L) and len(ins) == 1 and len(node.input_tensors) == 1:
            rank = len(node.input_tensors[0].shape)
            axis = getattr(layer, "axis", -1)
            if axis is None or axis in (-1, rank - 1):
                self.softmax_dropped = f"{layer.name} ({type(layer).__name__} {'layer' if isinstance(layer, L.Layer) else 'op'} removed)"
                return ins[0]
        return None

    # -- int8 stem
    def _stem(self, node: Any, v: _V) -> Optional[_V]:
        """A Conv2D over one input channel, rewritten so XNNPACK's int8 GEMM does not pad every tap to 8."""
        keras = self.keras
        L = keras.layers
        layer = node.operation
        shape = tuple(node.input_tensors[0].shape)
        if len(shape) != 4 or shape[-1] != 1 or layer.groups != 1 or tuple(layer.dilation_rate) != (1, 1):
            return None
        if not _channels_last(layer):
            return None
        kh, kw = layer.kernel_size
        weights = layer.get_weights()
        kernel, bias = weights[0], (weights[1] if layer.use_bias else None)
        filters = kernel.shape[-1]
        act = layer.activation
        if tuple(layer.strides) == (1, 1):
            ones = L.Conv2D(filters, 1, use_bias=False, name=f"{layer.name}_stem_broadcast")
            x = ones(v.t)
            ones.set_weights([np.ones((1, 1, 1, filters), dtype=kernel.dtype)])
            dw = L.DepthwiseConv2D((kh, kw), padding=layer.padding, use_bias=layer.use_bias, activation=act,
                                   name=f"{layer.name}_stem_depthwise")
            y = dw(x)
            dw_weights = [np.transpose(kernel, (0, 1, 3, 2))]  # (kh, kw, 1, F) -> (kh, kw, F, 1)
            if bias is not None:
                dw_weights.append(bias)
            dw.set_weights(dw_weights)
            self.stem_rewritten.append(f"{layer.name}: {kh}x{kw} conv over 1 channel -> 1x1 broadcast + depthwise")
            return _V(y, free=[(dw, "dw")] if self._is_sole_use(node.outputs[0]) else None)
        h, w = shape[1], shape[2]
        if (tuple(layer.strides) == (2, 2) and (kh, kw) == (3, 3) and layer.padding == "same"
                and h is not None and w is not None and h % 2 == 0 and w % 2 == 0):
            import tensorflow as tf

            s2d = L.Lambda(lambda t: tf.nn.space_to_depth(t, 2), name=f"{layer.name}_stem_space_to_depth",
                           output_shape=(h // 2, w // 2, 4))
            x = s2d(v.t)
            k2 = np.zeros((2, 2, 4, filters), dtype=kernel.dtype)
            for br in range(2):
                for bc in range(2):
                    for sr in range(2):
                        for sc in range(2):
                            r, c = 2 * br + sr, 2 * bc + sc
                            if r < 3 and c < 3:
                                k2[br, bc, sr * 2 + sc] = kernel[r, c, 0]
            conv = L.Conv2D(filters, 2, padding="same", use_bias=layer.use_bias, activation=act,
                            name=f"{layer.name}_stem_s2d_conv")
            y = conv(x)
            conv.set_weights([k2] + ([bias] if bias is not None else []))
            self.stem_rewritten.append(f"{layer.name}: 3x3 stride-2 conv over 1 channel -> SPACE_TO_DEPTH + 2x2 conv")
            return _V(y, free=[(conv, "out")] if self._is_sole_use(node.outputs[0]) else None)
        return None

    # -- shuffle folding
    def _extend_free(self, node: Any, v: _V, entry: Optional[tuple]) -> Optional[list]:
        if v.free is None or not self._is_sole_use(node.input_tensors[0]):
            return None
        return v.free + ([entry] if entry is not None else [])

    def _fold(self, node: Any, ins: list) -> _V:
        keras = self.keras
        L = keras.layers
        layer = node.operation
        orders = [v.order for v in ins]
        rank = len(node.input_tensors[0].shape) if node.input_tensors else 0

        if isinstance(layer, L.Reshape):
            shuffle = self._match_shuffle(node)
            if shuffle is not None:
                return self._apply_shuffle(shuffle, ins[0])
            if ins[0].order is None:
                return self._passthrough(node, ins)
            split = self._match_split(node)
            if split is not None:
                self._split_src[id(node.outputs[0])] = (ins[0], *split)
                return ins[0]  # never used: the Cropping3D consumers read the source directly
            raise _CannotFold(f"{layer.name}: Reshape of a tensor whose channels are permuted")

        if type(layer) in (L.Conv2D, L.Dense) and _channels_last(layer) and getattr(layer, "groups", 1) == 1:
            v = ins[0]
            weights = layer.get_weights()
            if v.order is not None:
                weights[0] = np.take(weights[0], v.order, axis=-2)  # input rows in physical order
            new, y = self._call_cloned(layer, v.t, weights)
            return _V(y, free=[(new, "out")] if self._is_sole_use(node.outputs[0]) else None)

        if isinstance(layer, L.DepthwiseConv2D) and _channels_last(layer) and layer.depth_multiplier == 1:
            v = ins[0]
            weights = layer.get_weights()
            if v.order is not None:
                weights = [w[:, :, v.order, :] if w.ndim == 4 else w[v.order] for w in weights]
            new, y = self._call_cloned(layer, v.t, weights)
            return _V(y, v.order, self._extend_free(node, v, (new, "dw")))

        if isinstance(layer, L.BatchNormalization) and _bn_last_axis(layer, rank):
            v = ins[0]
            weights = layer.get_weights()
            if v.order is not None:
                weights = [w[v.order] for w in weights]
            new, y = self._call_cloned(layer, v.t, weights)
            return _V(y, v.order, self._extend_free(node, v, (new, "bn")))

        channelwise = (L.ReLU, L.Activation, L.Dropout, L.LeakyReLU, L.ELU, L.GlobalAveragePooling2D,
                       L.GlobalMaxPooling2D, L.MaxPooling2D, L.AveragePooling2D, L.ZeroPadding2D)
        if isinstance(layer, channelwise) and len(ins) == 1 and _channels_last(layer):
            v = ins[0]
            out = self._passthrough(node, ins)
            keeps_rank = len(node.outputs[0].shape) == rank
            if v.order is not None and not keeps_rank and not isinstance(layer, (L.GlobalAveragePooling2D, L.GlobalMaxPooling2D)):
                raise _CannotFold(f"{layer.name}: changes the tensor rank of permuted channels")
            return _V(out.t, v.order, self._extend_free(node, v, None))

        merge = (L.Concatenate, L.Add, L.Subtract, L.Multiply, L.Average, L.Maximum, L.Minimum)
        if isinstance(layer, merge):
            if isinstance(layer, L.Concatenate) and layer.axis not in (-1, rank - 1):
                if any(o is not None for o in orders):
                    raise _CannotFold(f"{layer.name}: concatenation along a non-channel axis of permuted channels")
                return self._passthrough(node, ins)
            self._match_orders(ins, concat=isinstance(layer, L.Concatenate))
            out = self._passthrough(node, ins)
            if isinstance(layer, L.Concatenate):
                parts, offset = [], 0
                for x, v in zip(node.input_tensors, ins):
                    n = int(x.shape[-1])
                    parts.append((np.arange(n) if v.order is None else v.order) + offset)
                    offset += n
                return _V(out.t, _norm(np.concatenate(parts)))
            if len({None if v.order is None else v.order.tobytes() for v in ins}) != 1:
                raise _CannotFold(f"{layer.name}: element-wise merge of differently permuted tensors")
            return _V(out.t, ins[0].order)

        if any(o is not None for o in orders):
            raise _CannotFold(f"{layer.name} ({type(layer).__name__}) receives permuted channels")
        return self._passthrough(node, ins)

    def _match_orders(self, ins: list, *, concat: bool) -> None:
        """Ask free producers for the channel order of a permuted sibling of the same width.

        ShuffleNet V2 concatenates the identity half (permuted by earlier folds) with the branch
        output (a fresh conv): laying the branch out the same way keeps the next channel split a
        box of a reshaped view.
        """
        target = next((v for v in ins if v.order is not None), None)
        if target is None:
            return
        width = len(target.order)
        for v in ins:
            if v.order is None and v.free is not None and int(v.t.shape[-1]) == width:
                _permute_free(v.free, target.order)
                v.order = target.order.copy()
                v.free = None

    def _match_shuffle(self, node: Any) -> Optional[tuple]:
        """Reshape (H,W,g,C/g) -> Permute (1,2,4,3) -> Reshape (H,W,C): (groups, nodes to skip)."""
        L = self.keras.layers
        src, out = node.input_tensors[0], node.outputs[0]
        if len(src.shape) != 4 or len(out.shape) != 5 or tuple(out.shape[1:3]) != tuple(src.shape[1:3]):
            return None
        groups, per = int(out.shape[3]), int(out.shape[4])
        if groups * per != int(src.shape[3]):
            return None
        perm_node = self._single_consumer(out)
        if perm_node is None or not isinstance(perm_node.operation, L.Permute) or tuple(perm_node.operation.dims) != (1, 2, 4, 3):
            return None
        merge_node = self._single_consumer(perm_node.outputs[0])
        if merge_node is None or not isinstance(merge_node.operation, L.Reshape):
            return None
        if tuple(merge_node.outputs[0].shape[1:]) != tuple(src.shape[1:]):
            return None
        return groups, per, perm_node, merge_node

    def _apply_shuffle(self, shuffle: tuple, v: _V) -> _V:
        groups, per, perm_node, merge_node = shuffle
        c = groups * per
        # the shuffle: output channel j*groups + i is input channel i*per + j
        src = np.empty(c, dtype=np.int64)
        for i in range(groups):
            for j in range(per):
                src[j * groups + i] = i * per + j
        src_inv = np.argsort(src)
        order = v.order if v.order is not None else np.arange(c)
        self._skip.update((id(perm_node), id(merge_node)))
        self.shuffles += 1
        return _V(v.t, _norm(src_inv[order]), None)

    def _match_split(self, node: Any) -> Optional[tuple]:
        """Reshape (H,W,k,C/k) whose every consumer is Cropping3D on axis 3 keeping one slot, then Reshape (H,W,C/k)."""
        L = self.keras.layers
        src, out = node.input_tensors[0], node.outputs[0]
        if len(src.shape) != 4 or len(out.shape) != 5 or tuple(out.shape[1:3]) != tuple(src.shape[1:3]):
            return None
        k, per = int(out.shape[3]), int(out.shape[4])
        users = self.consumers.get(id(out), [])
        if not users or id(out) in self.outputs:
            return None
        for user in users:
            crop = user.operation
            if not isinstance(crop, L.Cropping3D) or crop.data_format != "channels_last":
                return None
            (a0, a1), (b0, b1), (c0, c1) = crop.cropping
            if a0 or a1 or b0 or b1 or c0 + c1 != k - 1:
                return None
            after = self._single_consumer(user.outputs[0])
            if after is None or not isinstance(after.operation, L.Reshape) or tuple(after.outputs[0].shape[1:]) != (*src.shape[1:3], per):
                return None
        return k, per

    def _slice_half(self, crop_node: Any, v: _V, k: int, per: int) -> _V:
        """Logical channels [slot*per, (slot+1)*per) as one box of a (H*W*T, m, inner) view."""
        L = self.keras.layers
        slot = int(crop_node.operation.cropping[2][0])
        self._skip.add(id(self._single_consumer(crop_node.outputs[0])))
        self.splits += 1
        h, w, c = (int(d) for d in v.t.shape[1:])
        pos = np.argsort(v.order)  # logical -> physical
        lo = slot * per
        phys = np.sort(pos[lo:lo + per])
        starts = [phys[0]]
        runs = []
        run = 1
        for a, b in zip(phys[:-1], phys[1:]):
            if b == a + 1:
                run += 1
            else:
                runs.append(run)
                starts.append(b)
                run = 1
        runs.append(run)
        inner = runs[0]
        step = c if len(starts) == 1 else int(starts[1] - starts[0])
        ok = (all(r == inner for r in runs) and step % inner == 0 and c % step == 0
              and len(starts) == c // step and starts[0] < step and starts[0] % inner == 0
              and all(int(s) == int(starts[0]) + t * step for t, s in enumerate(starts)))
        if not ok:
            raise _CannotFold(f"{crop_node.operation.name}: the split half is not a box of a reshaped view "
                              f"of the permuted channels")
        blocks, m, j = c // step, step // inner, int(starts[0]) // inner
        name = crop_node.operation.name
        x = L.Reshape((h * w * blocks, m, inner), name=f"{name}_view")(v.t)
        x = L.Cropping2D(((0, 0), (j, m - 1 - j)), name=f"{name}_box")(x)
        x = L.Reshape((h, w, blocks * inner), name=f"{name}_merge")(x)
        order = v.order[phys] - lo
        return _V(x, _norm(order), None)


def transform_keras(model: Any, *, logits: bool, fold_shuffle: bool, int8_stem: bool = False,
                    log: Any = print) -> tuple[Any, dict]:
    """A rewritten copy of ``model`` and a record of what ran: {transform: {"applied": bool, "detail": str}}.

    The original model (and its weights) are never modified. A Sequential model is walked as the
    functional graph of its layers. A model the rebuild cannot handle (several inputs, a subclassed
    model, a layer that fails when called again) is returned as trained, with the reason recorded for
    every requested transform: a user's own model is exported either way.
    """
    record: dict[str, dict] = {}
    needs_rebuild = logits or fold_shuffle or int8_stem
    if not needs_rebuild:
        return model, record
    wanted = {"logits": logits, "fold_shuffle": fold_shuffle, "int8_stem": int8_stem}

    def as_trained(reason: str) -> tuple[Any, dict]:
        log(f"graph transforms: {reason}")
        return model, {name: {"applied": False, "detail": reason} for name, on in wanted.items() if on}

    graph = _as_functional(model)
    if graph is None or len(getattr(graph, "inputs", None) or []) != 1:
        return as_trained("not a single-input functional or Sequential Keras model; exported as trained")
    try:
        return _transform(graph, logits=logits, fold_shuffle=fold_shuffle, int8_stem=int8_stem, log=log)
    except Exception as exc:  # noqa: BLE001 - a layer the rebuild cannot call again: export the model untouched
        import os

        from edgenets.errors import first_line

        if os.environ.get("EDGENETS_DEBUG", "").strip() not in ("", "0", "false", "no"):
            raise
        return as_trained(f"the model could not be rebuilt ({type(exc).__name__}: {first_line(exc)[:160]}); "
                          f"exported as trained")


def _transform(model: Any, *, logits: bool, fold_shuffle: bool, int8_stem: bool, log: Any) -> tuple[Any, dict]:
    """transform_keras on a functional model; exceptions other than _CannotFold propagate."""
    record: dict[str, dict] = {}
    rebuilt = None
    if fold_shuffle:
        job = _Rebuild(model, fold=True, logits=logits, stem=int8_stem)
        try:
            rebuilt = job.run()
        except _CannotFold as exc:
            record["fold_shuffle"] = {"applied": False, "detail": f"not folded: {exc}"}
            log(f"fold-shuffle: not folded ({exc})")
            rebuilt = None
        else:
            if job.shuffles:
                detail = f"{job.shuffles} channel shuffle(s) folded"
                if job._split_src:
                    detail += f", {len(job._split_src)} channel split(s) read from the unshuffled layout"
                record["fold_shuffle"] = {"applied": True, "detail": detail}
            else:
                record["fold_shuffle"] = {"applied": False, "detail": "no shuffle found"}
                log("fold-shuffle: no shuffle found")
    if rebuilt is None:
        job = _Rebuild(model, fold=False, logits=logits, stem=int8_stem)
        rebuilt = job.run()
    if logits:
        if job.softmax_dropped:
            record["logits"] = {"applied": True, "detail": f"final softmax dropped: {job.softmax_dropped}"}
        else:
            record["logits"] = {"applied": False, "detail": "no final softmax found; output left as trained"}
            log("logits: no final softmax found; output left as trained (its argmax is the class either way)")
    if int8_stem:
        if job.stem_rewritten:
            record["int8_stem"] = {"applied": True, "detail": "; ".join(job.stem_rewritten)}
        else:
            record["int8_stem"] = {"applied": False, "detail": "no convolution over a single input channel"}
    return rebuilt, record


# ------------------------------------------------------------------------------------------ flatbuffer


def _schema():
    from edgenets.bench.graph import schema

    return schema()


def _load(flatbuffer: bytes) -> Any:
    s = _schema()
    return s.ModelT.InitFromObj(s.Model.GetRootAsModel(flatbuffer, 0))


def _pack(model: Any) -> bytes:
    from edgenets.bench.graph import pack

    return pack(model)


def _op_names(model: Any) -> list[str]:
    from edgenets.bench.graph import op_names

    names = op_names()
    return [names.get(max(c.builtinCode, c.deprecatedBuiltinCode), str(c.builtinCode)) for c in model.operatorCodes]


# Ops whose batch-1 graph works unchanged at any batch (batch is never an op parameter for them,
# or the rewrite below takes care of it); anything else keeps the batch at 1.
_BATCH_SAFE = {
    "ADD", "AVERAGE_POOL_2D", "CONCATENATION", "CONV_2D", "DEPTHWISE_CONV_2D", "DEQUANTIZE",
    "DEPTH_TO_SPACE", "FULLY_CONNECTED", "HARD_SWISH", "LOGISTIC", "MAX_POOL_2D", "MEAN", "MUL",
    "PAD", "QUANTIZE", "RELU", "RELU6", "RESHAPE", "SLICE", "SOFTMAX", "SPACE_TO_DEPTH",
    "STRIDED_SLICE", "SUB", "TANH", "TRANSPOSE",
}


def _const(model: Any, graph: Any, index: int) -> Optional[np.ndarray]:
    tensor = graph.tensors[index]
    data = model.buffers[tensor.buffer].data
    if data is None or len(data) == 0:
        return None
    dtype = {_schema().TensorType.INT32: np.int32, _schema().TensorType.INT64: np.int64}.get(tensor.type)
    if dtype is None:
        return None
    return np.frombuffer(np.asarray(data, dtype=np.uint8).tobytes(), dtype=dtype).copy()


def _new_const(model: Any, graph: Any, index: int, values: np.ndarray) -> None:
    """Give tensor ``index`` the constant ``values``: in place when no other tensor shares its buffer
    (the converter deduplicates equal constants), else in a fresh buffer."""
    tensor = graph.tensors[index]
    data = np.frombuffer(np.ascontiguousarray(values).tobytes(), dtype=np.uint8)
    current = model.buffers[tensor.buffer].data
    if current is not None and np.array_equal(np.asarray(current, dtype=np.uint8), data):
        return
    users = sum(1 for g in model.subgraphs for t in g.tensors if t.buffer == tensor.buffer)
    if users == 1:
        model.buffers[tensor.buffer].data = data
        return
    buf = _schema().BufferT()
    buf.data = data
    model.buffers.append(buf)
    tensor.buffer = len(model.buffers) - 1


def make_dynamic_batch(flatbuffer: bytes) -> tuple[bytes, dict]:
    """Rewrite a batch-1 flatbuffer so the input can be resized to any batch (see the module docstring).

    Returns (flatbuffer, info): info["batch"] is "dynamic" when the rewrite applied, else 1 with the
    reason in info["detail"] (the flatbuffer is then returned unchanged).
    """
    model = _load(flatbuffer)
    names = _op_names(model)
    if len(model.subgraphs) != 1:
        return flatbuffer, {"batch": 1, "detail": f"{len(model.subgraphs)} subgraphs (only single-graph models are rewritten)"}
    graph = model.subgraphs[0]
    inputs = [graph.tensors[i] for i in graph.inputs]
    if any(t.shape is None or len(t.shape) == 0 or int(t.shape[0]) != 1 for t in inputs):
        return flatbuffer, {"batch": 1, "detail": "the input's batch dimension is not 1"}
    unsafe = sorted({names[op.opcodeIndex] for op in graph.operators} - _BATCH_SAFE)
    if unsafe:
        return flatbuffer, {"batch": 1, "detail": f"ops not checked for a resizable batch: {', '.join(unsafe)}"}
    reshapes = slices = 0
    for op in graph.operators:
        name = names[op.opcodeIndex]
        out = graph.tensors[op.outputs[0]]
        if name == "RESHAPE":
            shape = [int(d) for d in out.shape]
            if not shape or shape[0] != 1:
                continue
            new_shape = np.array([-1, *shape[1:]], dtype=np.int32)
            if len(op.inputs) > 1 and op.inputs[1] >= 0:
                current = _const(model, graph, op.inputs[1])
                if current is None:
                    return flatbuffer, {"batch": 1, "detail": "a RESHAPE takes its shape from a computed tensor"}
                _new_const(model, graph, op.inputs[1], new_shape.astype(current.dtype))
            if op.builtinOptions is not None and getattr(op.builtinOptions, "newShape", None) is not None:
                op.builtinOptions.newShape = [int(d) for d in new_shape]
            reshapes += 1
        elif name == "STRIDED_SLICE":
            opts = op.builtinOptions
            begin, end = _const(model, graph, op.inputs[1]), _const(model, graph, op.inputs[2])
            strides = _const(model, graph, op.inputs[3])
            if begin is None or end is None or strides is None:
                return flatbuffer, {"batch": 1, "detail": "a STRIDED_SLICE with computed bounds"}
            if opts.shrinkAxisMask & 1 or opts.ellipsisMask or opts.newAxisMask:
                return flatbuffer, {"batch": 1, "detail": "a STRIDED_SLICE that reshapes the batch axis"}
            takes_all = (opts.beginMask & 1 or begin[0] == 0) and (opts.endMask & 1 or end[0] >= 1) and strides[0] == 1
            if not takes_all:
                return flatbuffer, {"batch": 1, "detail": "a STRIDED_SLICE that selects within the batch"}
            opts.beginMask |= 1
            opts.endMask |= 1
            slices += 1
        elif name == "SLICE":
            begin, size = _const(model, graph, op.inputs[1]), _const(model, graph, op.inputs[2])
            if begin is None or size is None or begin[0] != 0 or size[0] not in (1, -1):
                return flatbuffer, {"batch": 1, "detail": "a SLICE that selects within the batch"}
            if size[0] == 1:
                size = size.copy()
                size[0] = -1
                _new_const(model, graph, op.inputs[2], size)
                slices += 1
        elif name == "TRANSPOSE":
            perm = _const(model, graph, op.inputs[1])
            if perm is None or perm[0] != 0:
                return flatbuffer, {"batch": 1, "detail": "a TRANSPOSE that moves the batch axis"}
        elif name in ("MEAN", "CONCATENATION", "PAD"):
            if name == "MEAN":
                axes = _const(model, graph, op.inputs[1])
                rank = len(graph.tensors[op.inputs[0]].shape)
                if axes is None or any(int(a) % rank == 0 for a in axes):
                    return flatbuffer, {"batch": 1, "detail": "a MEAN over the batch axis"}
            elif name == "CONCATENATION":
                rank = len(out.shape)
                if op.builtinOptions.axis % rank == 0:
                    return flatbuffer, {"batch": 1, "detail": "a CONCATENATION along the batch axis"}
            else:
                pads = _const(model, graph, op.inputs[1])
                if pads is None or pads[0] != 0 or pads[1] != 0:
                    return flatbuffer, {"batch": 1, "detail": "a PAD of the batch axis"}
    constant = {i for i, t in enumerate(graph.tensors)
                if model.buffers[t.buffer].data is not None and len(model.buffers[t.buffer].data) > 0}
    for i, tensor in enumerate(graph.tensors):
        if i in constant or tensor.shape is None or len(tensor.shape) == 0 or int(tensor.shape[0]) != 1:
            continue
        signature = [int(d) for d in (tensor.shapeSignature if tensor.shapeSignature is not None and len(tensor.shapeSignature) else tensor.shape)]
        signature[0] = -1
        tensor.shapeSignature = signature
    return _pack(model), {"batch": "dynamic",
                          "detail": f"{reshapes} RESHAPE and {slices} slice op(s) rewritten for any batch"}


def output_kind(flatbuffer: bytes, record: dict) -> str:
    """What the model outputs: "probabilities" (ends in SOFTMAX), "logits" (the softmax was dropped
    at export) or "scores" (the model as trained ends in something else)."""
    model = _load(flatbuffer)
    names = _op_names(model)
    graph = model.subgraphs[0]
    producer = {int(o): op for op in graph.operators for o in op.outputs}
    tensor = int(graph.outputs[0])
    while tensor in producer:
        op = producer[tensor]
        name = names[op.opcodeIndex]
        if name == "SOFTMAX":
            return "probabilities"
        if name not in ("DEQUANTIZE", "QUANTIZE", "RESHAPE"):
            break
        tensor = int(op.inputs[0])
    return "logits" if record.get("logits", {}).get("applied") else "scores"


def graph_record(options: GraphOptions, flatbuffer: bytes, keras_record: dict, batch_info: dict) -> dict:
    """The sidecar's "graph" block: what this file's graph is, and which transforms produced it."""
    transforms = {name: dict(info) for name, info in keras_record.items()}
    transforms["batch"] = {"applied": batch_info.get("batch") == "dynamic", "detail": batch_info.get("detail", "")}
    return {
        "output": output_kind(flatbuffer, keras_record),
        "batch": batch_info.get("batch", 1),
        "options": options.as_dict(),
        "transforms": transforms,
    }
