"""A tiny float32 .tflite model written without TensorFlow (the schema that ships with ai-edge-litert).

RESHAPE (1,28,28,1) -> (1,784), then FULLY_CONNECTED to 10 scores: enough for `edgenets bench` to
load, evaluate and time it, in tests that must not import TensorFlow (or in a venv without it).
``fixed_batch=True`` hard-codes the reshape to batch 1, so the batched evaluation falls back to batch 1.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np


def tiny_float_model(path: Path, *, seed: int = 0, fixed_batch: bool = True) -> Path:
    import flatbuffers
    from ai_edge_litert import schema_py_generated as s

    rng = np.random.RandomState(seed)
    weights = rng.normal(size=(10, 784)).astype(np.float32) / 255.0
    bias = rng.normal(size=10).astype(np.float32)
    new_shape = np.array([1 if fixed_batch else -1, 784], np.int32)

    def buffer(arr=None):
        buf = s.BufferT()
        if arr is not None:
            buf.data = np.frombuffer(arr.tobytes(), np.uint8)
        return buf

    def tensor(name, shape, dtype, buffer_index):
        t = s.TensorT()
        t.name, t.shape, t.type, t.buffer = name, list(shape), dtype, buffer_index
        return t

    def opcode(code):
        oc = s.OperatorCodeT()
        oc.builtinCode = oc.deprecatedBuiltinCode = code
        oc.version = 1
        return oc

    f32, i32 = s.TensorType.FLOAT32, s.TensorType.INT32
    model = s.ModelT()
    model.version = 3
    model.description = "edgenets test model: reshape + fully connected"
    # buffer 0 is the empty buffer by convention; activations use it
    model.buffers = [buffer(), buffer(weights), buffer(bias), buffer(new_shape)]
    graph = s.SubGraphT()
    graph.tensors = [tensor("input", (1, 28, 28, 1), f32, 0), tensor("flat", (1, 784), f32, 0),
                     tensor("weights", (10, 784), f32, 1), tensor("bias", (10,), f32, 2),
                     tensor("scores", (1, 10), f32, 0), tensor("new_shape", (2,), i32, 3)]
    graph.inputs, graph.outputs = [0], [4]
    model.operatorCodes = [opcode(s.BuiltinOperator.RESHAPE), opcode(s.BuiltinOperator.FULLY_CONNECTED)]
    reshape = s.OperatorT()
    reshape.opcodeIndex, reshape.inputs, reshape.outputs = 0, [0, 5], [1]
    reshape.builtinOptionsType = s.BuiltinOptions.ReshapeOptions
    reshape.builtinOptions = s.ReshapeOptionsT()
    reshape.builtinOptions.newShape = [int(d) for d in new_shape]
    dense = s.OperatorT()
    dense.opcodeIndex, dense.inputs, dense.outputs = 1, [1, 2, 3], [4]
    dense.builtinOptionsType = s.BuiltinOptions.FullyConnectedOptions
    dense.builtinOptions = s.FullyConnectedOptionsT()
    graph.operators = [reshape, dense]
    model.subgraphs = [graph]
    builder = flatbuffers.Builder(0)
    builder.Finish(model.Pack(builder), file_identifier=b"TFL3")
    path = Path(path)
    path.write_bytes(bytes(builder.Output()))
    return path
