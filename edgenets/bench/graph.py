"""TensorFlow-free surgery on a .tflite model, for the op profiler (``edgenets.bench.profile``).

Two kinds of derived model, both from subgraph 0 in execution order (the order of its operator list,
which is the order the interpreter runs them in):

* :meth:`Graph.prefix` -- the model cut after node ``k``: nodes ``0..k``, the original graph inputs,
  and as outputs every tensor those nodes produce that a later node reads or that was a graph output.
  A CNN is a DAG (residual ADDs, split/concat branches), so a cut can have several outputs.
* :meth:`Graph.single` -- node ``k`` alone: its non-constant inputs become graph inputs, its constant
  inputs keep their weights, its outputs become the graph outputs.

The flatbuffer is read and written with the schema's object API (``schema_py_generated``, which ships
with ai-edge-litert; tf.lite's copy is the fallback), never with TensorFlow: the bench runs on boards
without it. The unpacked model is read once; a derived model shares the unchanged objects (tensors,
weights, operator codes) and copies only what it changes (operator and tensor index lists). Each derived
model keeps only the tensors and weight buffers its nodes use, so that 30 cuts of a 3 MB model do not
pack and load 90 MB of weights. Weight buffers are written 16-byte aligned (the converter's are 4-byte
aligned), so a derived model's kernels never read weights at a worse alignment than the original's.
"""

from __future__ import annotations

import copy
import importlib
from dataclasses import dataclass
from typing import Any, Optional, Sequence

import numpy as np

from edgenets.errors import InputError, MissingDependencyError, first_line

IDENTIFIER = b"TFL3"
BUFFER_ALIGNMENT = 16
INSTALL_HINT = 'pip install "edgenets[device]"'


def schema() -> Any:
    """The generated TFLite schema module (object API) and the flatbuffers package it needs."""
    try:
        importlib.import_module("flatbuffers")  # the schema module needs it; fail here, with the hint
        from ai_edge_litert import schema_py_generated as s
        return s
    except ImportError as litert_error:
        try:  # a TensorFlow install carries the same generated module
            from tensorflow.lite.python import schema_py_generated as s
            return s
        except ImportError:
            raise MissingDependencyError(
                f"op profiling reads and rewrites .tflite flatbuffers with the schema that ships with ai-edge-litert: "
                f"{INSTALL_HINT} ({first_line(litert_error)})") from litert_error


def op_names() -> dict[int, str]:
    """BuiltinOperator code -> name (``CONV_2D``), from the schema itself."""
    s = schema()
    return {value: name for name, value in vars(s.BuiltinOperator).items()
            if not name.startswith("_") and isinstance(value, int)}


@dataclass(frozen=True)
class Derived:
    """A derived model: its bytes, and which tensors of the original model its graph inputs and
    outputs are (in the order the interpreter lists them), so values can be fed in and compared."""

    content: bytes
    inputs: tuple[int, ...]
    outputs: tuple[int, ...]


def _aligned_buffer_class(s: Any) -> type:
    """A ``BufferT`` that writes its bytes :data:`BUFFER_ALIGNMENT`-aligned (the generated Pack aligns
    uint8 data to 1 byte)."""

    class AlignedBufferT(s.BufferT):
        def Pack(self, builder):  # noqa: N802 - the generated API's name
            data = None
            if self.data is not None and len(self.data):
                payload = np.asarray(self.data, dtype=np.uint8).tobytes()
                builder.StartVector(1, len(payload), BUFFER_ALIGNMENT)
                builder.head = builder.head - len(payload)
                builder.Bytes[builder.head: builder.head + len(payload)] = payload
                builder.vectorNumElems = len(payload)
                data = builder.EndVector()
            s.BufferStart(builder)
            if data is not None:
                s.BufferAddData(builder, data)
            s.BufferAddOffset(builder, self.offset)
            s.BufferAddSize(builder, self.size)
            return s.BufferEnd(builder)

    return AlignedBufferT


def _index_array(values: Any) -> np.ndarray:
    return np.zeros(0, np.int64) if values is None else np.asarray(values, dtype=np.int64).reshape(-1)


class Graph:
    """A .tflite model read once, from which cut and single-node models are made."""

    def __init__(self, content: bytes, source: str = "model") -> None:
        self.source = source
        self.content = bytes(content)
        self._check_structure()
        s = self._s = schema()
        try:
            self.model = s.ModelT.InitFromObj(s.Model.GetRootAs(self.content, 0))
        except Exception as exc:  # noqa: BLE001 - a corrupt flatbuffer raises anything from struct.error up
            raise InputError(f"{source}: not a readable TFLite model ({first_line(exc)})") from exc
        if not self.model.subgraphs or self.model.subgraphs[0].operators is None:
            raise InputError(f"{source}: the model has no operators in its main subgraph")
        self._check_buffers()
        aligned = _aligned_buffer_class(s)
        self.buffers = []
        for b in self.model.buffers or []:
            nb = aligned()
            nb.data, nb.offset, nb.size = b.data, b.offset, b.size
            self.buffers.append(nb)
        self.sub = self.model.subgraphs[0]
        self.ops = list(self.sub.operators)
        self.op_inputs = [_index_array(op.inputs) for op in self.ops]
        self.op_outputs = [_index_array(op.outputs) for op in self.ops]
        self.graph_inputs = _index_array(self.sub.inputs)
        self.graph_outputs = _index_array(self.sub.outputs)
        self._check_indices()
        # the last node that reads each tensor (-1: none), for the outputs of a cut
        self._last_reader = np.full(len(self.sub.tensors or []), -1, np.int64)
        for k, ins in enumerate(self.op_inputs):
            valid = ins[ins >= 0]
            self._last_reader[valid] = k
        names = op_names()
        self._names = [self._op_name(op, names) for op in self.ops]

    # -- checks -------------------------------------------------------------------------------------------
    def _check_structure(self) -> None:
        """Header and bounds, by the read-only walk in ops (a truncated file fails there, cleanly)."""
        from edgenets.bench.ops import MIN_SIZE, FlatbufferError, parse_op_counts

        if len(self.content) < MIN_SIZE or self.content[4:8] != IDENTIFIER:
            raise InputError(f"{self.source}: not a TFLite model (file identifier {self.content[4:8]!r}, "
                             f"expected {IDENTIFIER!r})")
        try:
            parse_op_counts(self.content)
        except (FlatbufferError, ValueError) as exc:
            raise InputError(f"{self.source}: {first_line(exc)}") from exc

    def _check_buffers(self) -> None:
        """Weights stored after the flatbuffer (models over 2 GB) move when the model is rewritten."""
        if any((b.offset or 0) > 1 for b in self.model.buffers or []) or getattr(self.model, "externalBuffers", None):
            raise InputError(f"{self.source}: weights stored outside the flatbuffer (offset buffers) are not "
                             f"supported by the op profiler")

    def _check_indices(self) -> None:
        """Every tensor an operator or the graph names exists, and every tensor's buffer."""
        n_tensors, n_buffers = len(self.sub.tensors or []), len(self.model.buffers or [])
        named = [self.graph_inputs, self.graph_outputs, *self.op_inputs, *self.op_outputs]
        if any(len(a) and (a.max() >= n_tensors or a.min() < -1) for a in named):
            raise InputError(f"{self.source}: an operator or the graph names a tensor that does not exist "
                             f"(the main subgraph has {n_tensors})")
        if any(not 0 <= t.buffer < n_buffers for t in self.sub.tensors or []):
            raise InputError(f"{self.source}: a tensor names a buffer that does not exist (the model has {n_buffers})")

    # -- what the graph holds -----------------------------------------------------------------------------
    def _op_name(self, op: Any, names: dict[int, str]) -> str:
        code = self.model.operatorCodes[op.opcodeIndex]
        value = max(int(code.builtinCode or 0), int(code.deprecatedBuiltinCode or 0))
        if value == 32 and code.customCode:  # CUSTOM
            custom = code.customCode
            return custom.decode() if isinstance(custom, bytes) else str(custom)
        return names.get(value, f"BUILTIN_{value}")

    def __len__(self) -> int:
        return len(self.ops)

    def op_name(self, k: int) -> str:
        return self._names[k]

    def tensor_shape(self, t: int) -> list[int]:
        shape = self.sub.tensors[t].shape
        return [] if shape is None else [int(d) for d in shape]

    def is_constant(self, t: int) -> bool:
        """A tensor with weights (data in its buffer), or a variable (state the graph keeps itself)."""
        tensor = self.sub.tensors[t]
        buf = self.model.buffers[tensor.buffer] if tensor.buffer < len(self.model.buffers) else None
        has_data = buf is not None and buf.data is not None and len(buf.data) > 0
        return has_data or bool(tensor.isVariable)

    def node_inputs(self, k: int) -> tuple[int, ...]:
        """Node ``k``'s non-constant inputs (activations), each once, in operand order."""
        seen: list[int] = []
        for t in self.op_inputs[k]:
            t = int(t)
            if t >= 0 and t not in seen and not self.is_constant(t):
                seen.append(t)
        return tuple(seen)

    def node_outputs(self, k: int) -> tuple[int, ...]:
        return tuple(int(t) for t in self.op_outputs[k])

    def cut_outputs(self, k: int) -> tuple[int, ...]:
        """What the cut after node ``k`` must expose: tensors made by nodes <= k that a node > k reads or
        that are graph outputs, in the order they are made. Never empty: a node whose outputs nothing
        reads still gives its own (else the cut would have no outputs)."""
        graph_out = set(int(t) for t in self.graph_outputs)
        found: list[int] = []
        for j in range(k + 1):
            for t in self.op_outputs[j]:
                t = int(t)
                if t >= 0 and t not in found and (self._last_reader[t] > k or t in graph_out):
                    found.append(t)
        return tuple(found) or self.node_outputs(k)

    # -- derived models -----------------------------------------------------------------------------------
    def prefix(self, k: int) -> Derived:
        """The model cut after node ``k`` (0-based, execution order)."""
        self._check_node(k)
        inputs = tuple(int(t) for t in self.graph_inputs)
        outputs = self.cut_outputs(k)
        return Derived(self._build(list(range(k + 1)), inputs, outputs), inputs, outputs)

    def single(self, k: int) -> Derived:
        """Node ``k`` alone: activations in, its outputs out, its weights kept."""
        self._check_node(k)
        inputs, outputs = self.node_inputs(k), self.node_outputs(k)
        return Derived(self._build([k], inputs, outputs), inputs, outputs)

    def _check_node(self, k: int) -> None:
        if not 0 <= k < len(self.ops):
            raise InputError(f"{self.source}: node {k} does not exist (the model has {len(self.ops)} nodes)")

    def _build(self, nodes: Sequence[int], inputs: Sequence[int], outputs: Sequence[int]) -> bytes:
        """A model of ``nodes`` of subgraph 0 with the given graph inputs and outputs (original tensor
        indices), holding only the tensors and weight buffers they use."""
        model = self.model
        used = set(int(t) for t in inputs) | set(int(t) for t in outputs)
        for k in nodes:
            op = self.ops[k]
            for field in (self.op_inputs[k], self.op_outputs[k], _index_array(op.intermediates)):
                used.update(int(t) for t in field if t >= 0)
        kept = sorted(used)
        tensor_map = np.full(len(self.sub.tensors), -1, np.int64)
        tensor_map[kept] = np.arange(len(kept))
        buffer_map, buffers = self._buffer_plan(kept)

        sub = copy.copy(self.sub)  # name, debug metadata: shared; the lists below: new
        sub.tensors = []
        for t in kept:
            tensor = copy.copy(self.sub.tensors[t])
            tensor.buffer = int(buffer_map[tensor.buffer])
            sub.tensors.append(tensor)
        sub.inputs = [int(tensor_map[t]) for t in inputs]
        sub.outputs = [int(tensor_map[t]) for t in outputs]
        sub.operators = [self._remapped_op(k, tensor_map) for k in nodes]

        derived = copy.copy(model)
        derived.subgraphs = [sub, *model.subgraphs[1:]]
        derived.buffers = buffers
        derived.signatureDefs = None  # a signature names tensors of the whole graph; a cut has others
        derived.metadata = None if model.metadata is None else [self._remapped_metadata(m, buffer_map)
                                                                 for m in model.metadata]
        if model.metadataBuffer is not None:
            derived.metadataBuffer = [int(buffer_map[b]) for b in model.metadataBuffer]
        return pack(derived, size_hint=sum(len(b.data) for b in buffers if b.data is not None))

    def _buffer_plan(self, kept_tensors: Sequence[int]) -> tuple[np.ndarray, list]:
        """Old buffer index -> new, and the new buffer list: buffer 0 (the empty one, by convention),
        the kept tensors', the metadata's, and every buffer of the other subgraphs (left whole)."""
        n = len(self.buffers)
        wanted = {0} | {int(self.sub.tensors[t].buffer) for t in kept_tensors}
        wanted |= {int(m.buffer) for m in self.model.metadata or []}
        wanted |= {int(b) for b in (self.model.metadataBuffer if self.model.metadataBuffer is not None else [])}
        for other in self.model.subgraphs[1:]:
            wanted |= {int(t.buffer) for t in other.tensors or []}
        order = sorted(b for b in wanted if 0 <= b < n)
        buffer_map = np.zeros(max(n, 1), np.int64)
        buffer_map[order] = np.arange(len(order))
        return buffer_map, [self.buffers[b] for b in order]

    def _remapped_op(self, k: int, tensor_map: np.ndarray) -> Any:
        op = copy.copy(self.ops[k])

        def remap(values: Any) -> Optional[list[int]]:
            if values is None:
                return None
            arr = _index_array(values)
            return [int(tensor_map[t]) if t >= 0 else -1 for t in arr]

        op.inputs, op.outputs = remap(op.inputs), remap(op.outputs)
        op.intermediates = remap(op.intermediates)
        if op.mutatingVariableInputs is not None:
            op.mutatingVariableInputs = list(op.mutatingVariableInputs)
        return op

    def _remapped_metadata(self, meta: Any, buffer_map: np.ndarray) -> Any:
        m = copy.copy(meta)
        m.buffer = int(buffer_map[meta.buffer])
        return m

    def whole(self) -> Derived:
        """The original model, unchanged (its bytes as read), with its graph inputs and outputs."""
        return Derived(self.content, tuple(int(t) for t in self.graph_inputs), tuple(int(t) for t in self.graph_outputs))


def pack(model: Any, size_hint: int = 0) -> bytes:
    """Serialise a ``ModelT`` with the TFLite file identifier."""
    import flatbuffers

    builder = flatbuffers.Builder(size_hint + 65536)  # sized up front: no regrowth copies of the weights
    builder.Finish(model.Pack(builder), file_identifier=IDENTIFIER)
    return bytes(builder.Output())


def load(source: Any, name: Optional[str] = None) -> Graph:
    """A :class:`Graph` from a path or from the model's bytes."""
    if isinstance(source, (bytes, bytearray, memoryview)):
        return Graph(bytes(source), name or "model")
    from pathlib import Path

    path = Path(source)
    if not path.is_file():
        raise InputError(f"{path}: file not found")
    return Graph(path.read_bytes(), name or str(path))


def trivial_model() -> bytes:
    """The cheapest model that still goes through every layer of an invoke: one float32 ADD of a
    1-element input and a constant. Its latency is the profiler's per-invoke overhead."""
    s = schema()
    model = s.ModelT()
    model.version = 3
    model.description = "edgenets profiler: per-invoke overhead"
    empty, one = s.BufferT(), s.BufferT()
    one.data = np.frombuffer(np.ones(1, np.float32).tobytes(), np.uint8)
    model.buffers = [empty, one]
    tensors = []
    for name, buffer in (("x", 0), ("one", 1), ("y", 0)):
        t = s.TensorT()
        t.name, t.shape, t.type, t.buffer = name, [1], s.TensorType.FLOAT32, buffer
        tensors.append(t)
    code = s.OperatorCodeT()
    code.builtinCode = code.deprecatedBuiltinCode = s.BuiltinOperator.ADD
    code.version = 1
    model.operatorCodes = [code]
    add = s.OperatorT()
    add.opcodeIndex, add.inputs, add.outputs = 0, [0, 1], [2]
    add.builtinOptionsType, add.builtinOptions = s.BuiltinOptions.AddOptions, s.AddOptionsT()
    sub = s.SubGraphT()
    sub.tensors, sub.inputs, sub.outputs, sub.operators = tensors, [0], [2], [add]
    model.subgraphs = [sub]
    return pack(model)
