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


def tiny_int8_model(path: Path, *, requant_scale: float = 16.0, softmax: bool = False, seed: int = 0) -> Path:
    """A full-integer model for 28x28x1 images: RESHAPE -> int8 FULLY_CONNECTED (-> int8 SOFTMAX).

    The FC's output scale is set so that its requantisation scale s_in * s_w / s_out is
    ``requant_scale``: at 256 or more XNNPACK cannot build its runtime ("failed to prepare"), the case
    of a layer whose output calibration found nearly constant. Input quantisation is pixels/255's.
    """
    import flatbuffers
    from ai_edge_litert import schema_py_generated as s

    rng = np.random.RandomState(seed)
    weights = rng.randint(-127, 128, size=(10, 784)).astype(np.int8)
    bias = np.zeros(10, np.int32)
    s_in, s_w = 1.0 / 255.0, 0.01
    s_out = s_in * s_w / requant_scale

    def quant(scale: float, zero_point: int = 0):
        q = s.QuantizationParametersT()
        q.scale, q.zeroPoint = [float(scale)], [int(zero_point)]
        return q

    def buffer(arr=None):
        buf = s.BufferT()
        if arr is not None:
            buf.data = np.frombuffer(arr.tobytes(), np.uint8)
        return buf

    def tensor(name, shape, dtype, buffer_index, q=None):
        t = s.TensorT()
        t.name, t.shape, t.type, t.buffer, t.quantization = name, list(shape), dtype, buffer_index, q
        return t

    def opcode(code, version):
        oc = s.OperatorCodeT()
        oc.builtinCode = oc.deprecatedBuiltinCode = code
        oc.version = version
        return oc

    i8, i32 = s.TensorType.INT8, s.TensorType.INT32
    model = s.ModelT()
    model.version = 3
    model.description = "edgenets test model: int8 reshape + fully connected"
    model.buffers = [buffer(), buffer(weights), buffer(bias), buffer(np.array([1, 784], np.int32))]
    graph = s.SubGraphT()
    graph.tensors = [tensor("input", (1, 28, 28, 1), i8, 0, quant(s_in, -128)),
                     tensor("flat", (1, 784), i8, 0, quant(s_in, -128)),
                     tensor("weights", (10, 784), i8, 1, quant(s_w)), tensor("bias", (10,), i32, 2, quant(s_in * s_w)),
                     tensor("scores", (1, 10), i8, 0, quant(s_out)), tensor("new_shape", (2,), i32, 3)]
    model.operatorCodes = [opcode(s.BuiltinOperator.RESHAPE, 1), opcode(s.BuiltinOperator.FULLY_CONNECTED, 4)]
    reshape = s.OperatorT()
    reshape.opcodeIndex, reshape.inputs, reshape.outputs = 0, [0, 5], [1]
    reshape.builtinOptionsType = s.BuiltinOptions.ReshapeOptions
    reshape.builtinOptions = s.ReshapeOptionsT()
    reshape.builtinOptions.newShape = [1, 784]
    dense = s.OperatorT()
    dense.opcodeIndex, dense.inputs, dense.outputs = 1, [1, 2, 3], [4]
    dense.builtinOptionsType = s.BuiltinOptions.FullyConnectedOptions
    dense.builtinOptions = s.FullyConnectedOptionsT()
    graph.operators = [reshape, dense]
    graph.inputs, graph.outputs = [0], [4]
    if softmax:
        model.operatorCodes.append(opcode(s.BuiltinOperator.SOFTMAX, 2))
        graph.tensors.append(tensor("probabilities", (1, 10), i8, 0, quant(1.0 / 256.0, -128)))
        op = s.OperatorT()
        op.opcodeIndex, op.inputs, op.outputs = 2, [4], [6]
        op.builtinOptionsType = s.BuiltinOptions.SoftmaxOptions
        op.builtinOptions = s.SoftmaxOptionsT()
        op.builtinOptions.beta = 1.0
        graph.operators.append(op)
        graph.outputs = [6]
    model.subgraphs = [graph]
    builder = flatbuffers.Builder(0)
    builder.Finish(model.Pack(builder), file_identifier=b"TFL3")
    path = Path(path)
    path.write_bytes(bytes(builder.Output()))
    return path
