"""The op profiler (edgenets.bench.profile) and its model surgery (edgenets.bench.graph), TensorFlow-free.

The model is a small DAG written with the schema that ships with ai-edge-litert: a residual ADD (a cut
after the depthwise conv has two outputs) and a CONCATENATION of two branches, then MEAN, FC, SOFTMAX.
"""

from __future__ import annotations

import json
import sys
import time
import warnings

import numpy as np
import pytest

pytest.importorskip("ai_edge_litert")

from edgenets.bench import graph as G  # noqa: E402
from edgenets.bench import profile as P  # noqa: E402
from edgenets.errors import EdgenetsError, InputError, MissingDependencyError  # noqa: E402

SIDE, CH = 24, 16  # big enough that a node takes microseconds, small enough to profile in a second


def dag_model(side: int = SIDE, ch: int = CH, seed: int = 0, fc_in_extra: int = 0) -> bytes:
    """x -> conv3x3+relu (a) -> depthwise (c) -> a + c (d) -> conv1x1 (e) -> concat(e, d) (f) -> mean (g)
    -> fully connected (h) -> softmax (y). ``fc_in_extra`` widens a second FC to make the file large."""
    from ai_edge_litert import schema_py_generated as s

    rng = np.random.RandomState(seed)
    f32, i32 = s.TensorType.FLOAT32, s.TensorType.INT32
    model = s.ModelT()
    model.version = 3
    model.buffers = [s.BufferT()]
    tensors, ops, codes = [], [], []

    def tensor(name, shape, data=None, dtype=f32):
        t = s.TensorT()
        t.name, t.shape, t.type, t.buffer = name, list(shape), dtype, 0
        if data is not None:
            buf = s.BufferT()
            buf.data = np.frombuffer(np.ascontiguousarray(data).tobytes(), np.uint8)
            model.buffers.append(buf)
            t.buffer = len(model.buffers) - 1
        tensors.append(t)
        return len(tensors) - 1

    def op(code, inputs, outputs, options_type=0, options=None):
        if code not in codes:
            codes.append(code)
        o = s.OperatorT()
        o.opcodeIndex, o.inputs, o.outputs = codes.index(code), list(inputs), list(outputs)
        o.builtinOptionsType, o.builtinOptions = options_type, options
        ops.append(o)

    def conv_options(cls, **kw):
        o = cls()
        o.padding, o.strideW, o.strideH = s.Padding.SAME, 1, 1
        o.dilationWFactor = o.dilationHFactor = 1
        for k, v in kw.items():
            setattr(o, k, v)
        return o

    B = s.BuiltinOperator
    x = tensor("x", (1, side, side, ch))
    w1 = tensor("w1", (ch, 3, 3, ch), rng.normal(0, 0.2, (ch, 3, 3, ch)).astype(np.float32))
    b1 = tensor("b1", (ch,), rng.normal(0, 0.1, ch).astype(np.float32))
    a = tensor("a", (1, side, side, ch))
    op(B.CONV_2D, [x, w1, b1], [a], s.BuiltinOptions.Conv2DOptions,
       conv_options(s.Conv2DOptionsT, fusedActivationFunction=s.ActivationFunctionType.RELU))
    wd = tensor("wd", (1, 3, 3, ch), rng.normal(0, 0.3, (1, 3, 3, ch)).astype(np.float32))
    bd = tensor("bd", (ch,), np.zeros(ch, np.float32))
    c = tensor("c", (1, side, side, ch))
    op(B.DEPTHWISE_CONV_2D, [a, wd, bd], [c], s.BuiltinOptions.DepthwiseConv2DOptions,
       conv_options(s.DepthwiseConv2DOptionsT, depthMultiplier=1))
    d = tensor("d", (1, side, side, ch))
    op(B.ADD, [a, c], [d], s.BuiltinOptions.AddOptions, s.AddOptionsT())
    w2 = tensor("w2", (2 * ch, 1, 1, ch), rng.normal(0, 0.2, (2 * ch, 1, 1, ch)).astype(np.float32))
    b2 = tensor("b2", (2 * ch,), np.zeros(2 * ch, np.float32))
    e = tensor("e", (1, side, side, 2 * ch))
    op(B.CONV_2D, [d, w2, b2], [e], s.BuiltinOptions.Conv2DOptions, conv_options(s.Conv2DOptionsT))
    f = tensor("f", (1, side, side, 3 * ch))
    concat = s.ConcatenationOptionsT()
    concat.axis = 3
    op(B.CONCATENATION, [e, d], [f], s.BuiltinOptions.ConcatenationOptions, concat)
    axes = tensor("axes", (2,), np.array([1, 2], np.int32), i32)
    g = tensor("g", (1, 3 * ch))
    op(B.MEAN, [f, axes], [g], s.BuiltinOptions.ReducerOptions, s.ReducerOptionsT())
    width = 10 + fc_in_extra
    wf = tensor("wf", (width, 3 * ch), rng.normal(0, 0.2, (width, 3 * ch)).astype(np.float32))
    bf = tensor("bf", (width,), np.zeros(width, np.float32))
    h = tensor("h", (1, width))
    op(B.FULLY_CONNECTED, [g, wf, bf], [h], s.BuiltinOptions.FullyConnectedOptions, s.FullyConnectedOptionsT())
    y = tensor("y", (1, width))
    softmax = s.SoftmaxOptionsT()
    softmax.beta = 1.0
    op(B.SOFTMAX, [h], [y], s.BuiltinOptions.SoftmaxOptions, softmax)

    model.operatorCodes = []
    for code in codes:
        oc = s.OperatorCodeT()
        oc.builtinCode, oc.deprecatedBuiltinCode, oc.version = code, min(code, 127), 1
        model.operatorCodes.append(oc)
    sub = s.SubGraphT()
    sub.tensors, sub.inputs, sub.outputs, sub.operators = tensors, [x], [y], ops
    model.subgraphs = [sub]
    return G.pack(model)


OPS = ["CONV_2D", "DEPTHWISE_CONV_2D", "ADD", "CONV_2D", "CONCATENATION", "MEAN", "FULLY_CONNECTED", "SOFTMAX"]


@pytest.fixture(scope="module")
def dag(tmp_path_factory):
    path = tmp_path_factory.mktemp("profile") / "dag.tflite"
    path.write_bytes(dag_model())
    return path


@pytest.fixture(scope="module")
def image():
    """A real image, not noise: an MNIST-like stroke pattern tiled to the input's channels."""
    rng = np.random.RandomState(1)
    yy, xx = np.mgrid[0:SIDE, 0:SIDE]
    stroke = (np.abs(yy - xx) < 3) | (np.abs(yy + xx - SIDE) < 2)
    x = stroke[None, :, :, None] * rng.uniform(0.5, 1.0, (1, SIDE, SIDE, CH))
    return x.astype(np.float32)


def preserving(content: bytes, feeds):
    """Run ``content`` with every tensor kept (builtin kernels); returns the interpreter."""
    from ai_edge_litert.interpreter import Interpreter

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        it = Interpreter(model_content=content, experimental_preserve_all_tensors=True)
    it.allocate_tensors()
    for detail, value in zip(it.get_input_details(), feeds):
        it.set_tensor(detail["index"], value)
    it.invoke()
    return it


def litert_factory(**options):
    from edgenets.bench.runtime import resolve_runtime

    return P.content_factory(resolve_runtime("litert"), **options)


# -- surgery --------------------------------------------------------------------------------------------------
def test_graph_reads_nodes_in_execution_order(dag):
    g = G.load(dag)
    assert [g.op_name(k) for k in range(len(g))] == OPS
    names = [g.sub.tensors[t].name for t in g.cut_outputs(1)]  # the residual ADD needs both a and c
    assert names in (["a", "c"], [b"a", b"c"])
    assert len(g.cut_outputs(3)) == 2  # e, and d for the concat
    assert g.cut_outputs(len(g) - 1) == tuple(int(t) for t in g.graph_outputs)


def test_cut_models_output_the_full_models_intermediate_tensors_bit_for_bit(dag, image):
    g = G.load(dag)
    full = preserving(g.content, [image])
    for k in range(len(g)):
        cut = g.prefix(k)
        it = preserving(cut.content, [image])
        outs = it.get_output_details()
        assert len(outs) == len(cut.outputs) >= 1
        for detail, t in zip(outs, cut.outputs):
            np.testing.assert_array_equal(it.get_tensor(detail["index"]), full.get_tensor(t), err_msg=f"cut after {k}")


def test_one_op_models_output_the_full_models_tensor_for_that_node(dag, image):
    g = G.load(dag)
    full = preserving(g.content, [image])
    for k in range(len(g)):
        one = g.single(k)
        assert set(one.inputs) == set(g.node_inputs(k)) and one.outputs == g.node_outputs(k)
        it = preserving(one.content, [full.get_tensor(t) for t in one.inputs])
        (detail,) = it.get_output_details()
        np.testing.assert_array_equal(it.get_tensor(detail["index"]), full.get_tensor(one.outputs[0]), err_msg=f"node {k}")


def test_derived_models_keep_only_the_weights_they_use(dag):
    g = G.load(dag)
    sizes = [len(g.prefix(k).content) for k in range(len(g))]
    assert sizes == sorted(sizes) and sizes[0] < len(g.content)
    assert len(g.single(2).content) < len(g.single(0).content)  # ADD carries no weights, the conv does


def test_packing_a_one_megabyte_model_thirty_times_is_fast():
    g = G.load(dag_model(fc_in_extra=5200))  # a 5210 x 48 float FC: ~1 MB of weights
    assert len(g.content) > 1_000_000
    t0 = time.perf_counter()
    for k in range(30):
        g.prefix(len(g) - 1 - k % 2)  # the cuts that carry the big weights
    assert time.perf_counter() - t0 < 3.0  # ~0.1 s here; the guard is against per-byte Python loops


def test_trivial_model_adds_one():
    it = preserving(G.trivial_model(), [np.array([2.5], np.float32)])
    assert it.get_tensor(it.get_output_details()[0]["index"]).tolist() == [3.5]


# -- the profile ----------------------------------------------------------------------------------------------
def test_profile_parts_add_up_to_the_whole_and_the_document_is_json(dag, image):
    p = P.profile_model(dag, litert_factory(), image, rounds=2, min_seconds=0.02)
    json.dumps(p)
    assert [n["op"] for n in p["nodes"]] == OPS and [n["index"] for n in p["nodes"]] == list(range(len(OPS)))
    assert p["nodes"][2]["output_shape"] == [1, SIDE, SIDE, CH]
    # the prefix differences plus the per-invoke overhead telescope to the whole model's time
    assert sum(n["us"] for n in p["nodes"]) + p["overhead_us"] == pytest.approx(p["total_us"], rel=1e-9, abs=1e-6)
    assert sum(n["share"] for n in p["nodes"]) == pytest.approx(1 - p["overhead_us"] / p["total_us"], abs=1e-9)
    assert 0 < p["overhead_us"] < p["total_us"]
    for n in p["nodes"]:
        assert n["one_op_us"] is not None and n["spread_us"] >= 0 and n["delegated"] is None
        assert isinstance(n["flags"], list)
    assert {g["op"]: g["count"] for g in p["by_type"]} == {"CONV_2D": 2, "DEPTHWISE_CONV_2D": 1, "ADD": 1,
                                                           "CONCATENATION": 1, "MEAN": 1, "FULLY_CONNECTED": 1,
                                                           "SOFTMAX": 1}
    assert [g["us"] for g in p["by_type"]] == sorted((g["us"] for g in p["by_type"]), reverse=True)
    v = p["validation"]
    assert v["whole_us"] == p["total_us"] and v["one_op_sum_us"] == pytest.approx(sum(n["one_op_us"] for n in p["nodes"]))
    assert {"tolerance", "ok", "flagged", "note", "sum_ratio", "max_node_diff_us"} <= set(v)
    assert isinstance(v["ok"], bool) and "%" in v["tolerance"]["rule"]


def test_disagreeing_nodes_get_a_second_sweep_with_fresh_instances(dag, image, monkeypatch):
    monkeypatch.setattr(P, "NODE_ABS_TOL_US", -1e9)  # every node disagrees: all of them are rechecked
    p = P.profile_model(dag, litert_factory(), image, rounds=2, min_seconds=0.01)
    recheck = p["validation"]["recheck"]
    n = len(OPS)
    assert recheck["first_disagree"] == list(range(n)) and recheck["first_ok"] is False
    assert recheck["reinstanced_cuts"] == list(range(n)) and recheck["reinstanced_one_op"] == list(range(n))
    assert sum(node["us"] for node in p["nodes"]) + p["overhead_us"] == pytest.approx(p["total_us"], rel=1e-9)
    assert "second sweep" in p["validation"]["note"] and p["validation"]["ok"] is False
    json.dumps(p)


def test_rows_follow_the_headers(dag, image):
    p = P.profile_model(dag, litert_factory(), image, rounds=1, min_seconds=0.01, validate=False)
    assert p["validation"]["ok"] is None and all(n["one_op_us"] is None for n in p["nodes"])
    top = P.profile_rows(p, top=3)
    assert len(top) == 3 and all(len(r) == len(P.PROFILE_HEADERS) for r in top)
    assert [r[3] for r in top] == sorted((r[3] for r in top), reverse=True)
    everything = P.profile_rows(p, top=None)
    assert everything[-1][5] == pytest.approx(100 * (1 - p["overhead_us"] / p["total_us"]), abs=0.2)
    by_type = P.by_type_rows(p)
    assert all(len(r) == len(P.BY_TYPE_HEADERS) for r in by_type)
    assert by_type[-1][0] == P.OVERHEAD_ROW and by_type[-1][4] == pytest.approx(100.0, abs=0.2)


def test_content_factory_keeps_the_bench_rows_options(dag):
    it = litert_factory(threads=2, device="cpu-ref")(dag.read_bytes())
    it.allocate_tensors()
    assert len(it.get_input_details()) == 1


@pytest.mark.slow
def test_one_op_times_sum_to_the_whole_within_tolerance(tmp_path, image):
    """Two independent measurements agree: one-op models (alone, on the real activations) against
    the whole model. Generous on purpose (this machine is shared): 35 % on the sum, and the two
    convolutions -- most of the time -- within 50 % of their prefix differences."""
    path = tmp_path / "big.tflite"
    path.write_bytes(dag_model(side=40, ch=24))
    p = P.profile_model(path, litert_factory(), np.tile(image, (1, 2, 2, 2))[:, :40, :40, :24], rounds=5, min_seconds=0.2)
    v = p["validation"]
    assert abs(v["sum_ratio"] - 1) < 0.35, v
    for k in (0, 3):
        n = p["nodes"][k]
        assert abs(n["us"] - n["one_op_us"]) <= 0.5 * max(n["us"], n["one_op_us"]), n
    assert p["nodes"][0]["us"] > p["nodes"][2]["us"]  # a 3x3 convolution costs more than an add


# -- errors ---------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("content, fragment", [
    (b"not a model at all, just text", "not a TFLite model"),
    (b"\x00" * 4 + b"TFL3" + b"\xff" * 40, ""),
])
def test_malformed_model_is_one_clear_input_error(tmp_path, content, fragment, image):
    path = tmp_path / "bad.tflite"
    path.write_bytes(content)
    with pytest.raises(InputError) as err:
        P.profile_model(path, litert_factory(), image)
    assert str(path) in str(err.value) and fragment in str(err.value) and "\n" not in str(err.value)


def test_a_model_naming_a_missing_tensor_is_an_input_error(tmp_path, image):
    from ai_edge_litert import schema_py_generated as s

    model = s.ModelT.InitFromObj(s.Model.GetRootAs(dag_model(), 0))
    model.subgraphs[0].operators[2].inputs = [0, 999]
    path = tmp_path / "dangling.tflite"
    path.write_bytes(G.pack(model))
    with pytest.raises(InputError, match="names a tensor that does not exist"):
        P.profile_model(path, litert_factory(), image)


def test_truncated_model_is_an_input_error(tmp_path, dag, image):
    path = tmp_path / "cut.tflite"
    path.write_bytes(dag.read_bytes()[:3000])
    with pytest.raises(InputError, match="truncated|outside|past the end"):
        P.profile_model(path, litert_factory(), image)


def test_missing_model_and_wrong_sample_are_input_errors(tmp_path, dag, image):
    with pytest.raises(InputError, match="file not found"):
        P.profile_model(tmp_path / "nope.tflite", litert_factory(), image)
    with pytest.raises(InputError, match="float32.*float64|float64"):
        P.profile_model(dag, litert_factory(), image.astype(np.float64))
    with pytest.raises(InputError, match="rounds"):
        P.profile_model(dag, litert_factory(), image, rounds=0)


def test_without_the_schema_profiling_says_what_to_install(monkeypatch, dag, image):
    import ai_edge_litert

    monkeypatch.delattr(ai_edge_litert, "schema_py_generated", raising=False)  # else `from .. import` finds it
    monkeypatch.setitem(sys.modules, "ai_edge_litert.schema_py_generated", None)
    monkeypatch.setitem(sys.modules, "tensorflow", None)  # the fallback: absent too (and not imported, slowly)
    # ... also when an earlier test of the session imported TensorFlow and its schema module is cached
    for name in ("tensorflow.lite", "tensorflow.lite.python", "tensorflow.lite.python.schema_py_generated"):
        monkeypatch.setitem(sys.modules, name, None)
    with pytest.raises(MissingDependencyError, match="ai-edge-litert"):
        P.profile_model(dag, litert_factory(), image)


def test_a_runtime_without_preserve_all_tensors_cannot_validate(dag, image):
    from ai_edge_litert.interpreter import Interpreter

    class OldInterpreter(Interpreter):  # like tflite-runtime before 2.5
        def __init__(self, model_path=None, model_content=None, num_threads=None):
            super().__init__(model_path=model_path, model_content=model_content, num_threads=num_threads)

    def make(content):
        return OldInterpreter(model_content=content, num_threads=1)

    with pytest.raises(MissingDependencyError, match="validate=False"):
        P.profile_model(dag, make, image, rounds=1, min_seconds=0.0)
    assert P.profile_model(dag, make, image, rounds=1, min_seconds=0.0, validate=False)["total_us"] > 0


def test_a_runtime_that_rejects_the_model_is_one_line(dag, image):
    def make(content):
        raise RuntimeError("Encountered unresolved custom op: Foo.\nSee instructions: ...")

    with pytest.raises(EdgenetsError, match="rejected the model: Encountered unresolved custom op: Foo.$"):
        P.profile_model(dag, make, image)


def test_profiling_imports_no_tensorflow(dag):
    """The bench runs on boards without TensorFlow: the surgery uses ai-edge-litert's schema only."""
    import subprocess

    code = ("import sys, numpy as np\n"
            "from edgenets.bench.profile import profile_model, content_factory\n"
            "from edgenets.bench.runtime import resolve_runtime\n"
            f"p = profile_model({str(dag)!r}, content_factory(resolve_runtime('litert')),\n"
            f"                  np.zeros((1, {SIDE}, {SIDE}, {CH}), np.float32), rounds=1, min_seconds=0.0)\n"
            "assert p['total_us'] > 0\n"
            "print(sorted(m for m in sys.modules if m.split('.')[0] in ('tensorflow', 'keras')))\n")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip().splitlines()[-1] == "[]"
