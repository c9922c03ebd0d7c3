"""Tiny .tflite models written without TensorFlow (the schema that ships with ai-edge-litert).

``tiny_float_model``: RESHAPE (1,28,28,1) -> (1,784), then FULLY_CONNECTED to 10 scores: enough for
`edgenets bench` to load, evaluate and time it, in tests that must not import TensorFlow (or in a venv
without it). ``fixed_batch=True`` hard-codes the reshape to batch 1, so the batched evaluation falls back
to batch 1. ``tiny_int8_model``: the same graph in int8 with a chosen requantisation scale (XNNPACK's
limit), optionally ending in an int8 SOFTMAX.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np


def _schema():
    from ai_edge_litert import schema_py_generated as s

    return s


def _buffer(arr=None):
    buf = _schema().BufferT()
    if arr is not None:
        buf.data = np.frombuffer(arr.tobytes(), np.uint8)
    return buf


def _tensor(name, shape, dtype, buffer_index, quantization=None):
    t = _schema().TensorT()
    t.name, t.shape, t.type, t.buffer, t.quantization = name, list(shape), dtype, buffer_index, quantization
    return t


def _opcode(code, version=1):
    oc = _schema().OperatorCodeT()
    oc.builtinCode = oc.deprecatedBuiltinCode = code
    oc.version = version
    return oc


def _operator(opcode_index, inputs, outputs, options_type, options):
    op = _schema().OperatorT()
    op.opcodeIndex, op.inputs, op.outputs = opcode_index, list(inputs), list(outputs)
    op.builtinOptionsType, op.builtinOptions = options_type, options
    return op


def _write(model, path: Path) -> Path:
    import flatbuffers

    builder = flatbuffers.Builder(0)
    builder.Finish(model.Pack(builder), file_identifier=b"TFL3")
    path = Path(path)
    path.write_bytes(bytes(builder.Output()))
    return path


def tiny_float_model(path: Path, *, seed: int = 0, fixed_batch: bool = True) -> Path:
    s = _schema()
    rng = np.random.RandomState(seed)
    weights = rng.normal(size=(10, 784)).astype(np.float32) / 255.0
    bias = rng.normal(size=10).astype(np.float32)
    new_shape = np.array([1 if fixed_batch else -1, 784], np.int32)
    f32, i32 = s.TensorType.FLOAT32, s.TensorType.INT32
    model = s.ModelT()
    model.version = 3
    model.description = "edgenets test model: reshape + fully connected"
    # buffer 0 is the empty buffer by convention; activations use it
    model.buffers = [_buffer(), _buffer(weights), _buffer(bias), _buffer(new_shape)]
    graph = s.SubGraphT()
    graph.tensors = [_tensor("input", (1, 28, 28, 1), f32, 0), _tensor("flat", (1, 784), f32, 0),
                     _tensor("weights", (10, 784), f32, 1), _tensor("bias", (10,), f32, 2),
                     _tensor("scores", (1, 10), f32, 0), _tensor("new_shape", (2,), i32, 3)]
    graph.inputs, graph.outputs = [0], [4]
    model.operatorCodes = [_opcode(s.BuiltinOperator.RESHAPE), _opcode(s.BuiltinOperator.FULLY_CONNECTED)]
    reshape_options = s.ReshapeOptionsT()
    reshape_options.newShape = [int(d) for d in new_shape]
    graph.operators = [_operator(0, [0, 5], [1], s.BuiltinOptions.ReshapeOptions, reshape_options),
                       _operator(1, [1, 2, 3], [4], s.BuiltinOptions.FullyConnectedOptions, s.FullyConnectedOptionsT())]
    model.subgraphs = [graph]
    return _write(model, path)


def tiny_int8_model(path: Path, *, requant_scale: float = 16.0, softmax: bool = False, seed: int = 0) -> Path:
    """A full-integer model for 28x28x1 images: RESHAPE -> int8 FULLY_CONNECTED (-> int8 SOFTMAX).

    The FC's output scale is set so that its requantisation scale s_in * s_w / s_out is
    ``requant_scale``: at 256 or more XNNPACK cannot build its runtime ("failed to prepare"), the case
    of a layer whose output calibration found nearly constant. Input quantisation is pixels/255's.
    """
    s = _schema()
    rng = np.random.RandomState(seed)
    weights = rng.randint(-127, 128, size=(10, 784)).astype(np.int8)
    bias = np.zeros(10, np.int32)
    s_in, s_w = 1.0 / 255.0, 0.01
    s_out = s_in * s_w / requant_scale

    def quant(scale: float, zero_point: int = 0):
        q = s.QuantizationParametersT()
        q.scale, q.zeroPoint = [float(scale)], [int(zero_point)]
        return q

    i8, i32 = s.TensorType.INT8, s.TensorType.INT32
    model = s.ModelT()
    model.version = 3
    model.description = "edgenets test model: int8 reshape + fully connected"
    model.buffers = [_buffer(), _buffer(weights), _buffer(bias), _buffer(np.array([1, 784], np.int32))]
    graph = s.SubGraphT()
    graph.tensors = [_tensor("input", (1, 28, 28, 1), i8, 0, quant(s_in, -128)),
                     _tensor("flat", (1, 784), i8, 0, quant(s_in, -128)),
                     _tensor("weights", (10, 784), i8, 1, quant(s_w)), _tensor("bias", (10,), i32, 2, quant(s_in * s_w)),
                     _tensor("scores", (1, 10), i8, 0, quant(s_out)), _tensor("new_shape", (2,), i32, 3)]
    model.operatorCodes = [_opcode(s.BuiltinOperator.RESHAPE, 1), _opcode(s.BuiltinOperator.FULLY_CONNECTED, 4)]
    reshape_options = s.ReshapeOptionsT()
    reshape_options.newShape = [1, 784]
    graph.operators = [_operator(0, [0, 5], [1], s.BuiltinOptions.ReshapeOptions, reshape_options),
                       _operator(1, [1, 2, 3], [4], s.BuiltinOptions.FullyConnectedOptions, s.FullyConnectedOptionsT())]
    graph.inputs, graph.outputs = [0], [4]
    if softmax:
        model.operatorCodes.append(_opcode(s.BuiltinOperator.SOFTMAX, 2))
        graph.tensors.append(_tensor("probabilities", (1, 10), i8, 0, quant(1.0 / 256.0, -128)))
        softmax_options = s.SoftmaxOptionsT()
        softmax_options.beta = 1.0
        graph.operators.append(_operator(2, [4], [6], s.BuiltinOptions.SoftmaxOptions, softmax_options))
        graph.outputs = [6]
    model.subgraphs = [graph]
    return _write(model, path)
