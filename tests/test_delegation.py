"""The delegation report on every bench row, and the builtin-kernel fallback when XNNPACK cannot prepare.

Models are written with the flatbuffer schema (tests/tflite_builder.py), no TensorFlow: an int8 fully
connected layer whose requantisation scale is chosen exactly, on either side of XNNPACK's limit.
"""

from __future__ import annotations

import numpy as np
import pytest
from tflite_builder import tiny_float_model, tiny_int8_model

from edgenets.bench import delegation

FAST = dict(runs=20, warmup=2, min_seconds=0.0, rounds=1, limit=100)


def _bench(paths, **kwargs):
    from edgenets.bench.runner import run_bench

    return run_bench([str(p) for p in paths], **{**FAST, **kwargs})


def _raw_outputs(path, device, images):
    """The model's outputs on ``images`` with our own loop (independent of bench's evaluation)."""
    from edgenets.bench.runtime import resolve_runtime

    it = resolve_runtime("litert").make_interpreter(str(path), device=device)
    it.allocate_tensors()
    inp, out = it.get_input_details()[0], it.get_output_details()[0]
    q = np.clip(np.round(images.astype(np.float32) / 255.0 / inp["quantization"][0]) + inp["quantization"][1], -128, 127)
    result = []
    for image in q.astype(np.int8):
        it.set_tensor(inp["index"], image[None])
        it.invoke()
        result.append(it.get_tensor(out["index"])[0].copy())
    return np.stack(result)


@pytest.mark.parametrize("isolate", [True, False])
def test_a_model_xnnpack_cannot_prepare_is_measured_on_builtin_kernels_and_says_why(tmp_path, isolate):
    from edgenets.bench.runner import load_eval_data

    bad = tiny_int8_model(tmp_path / "bad_int8.tflite", requant_scale=300.0)
    doc = _bench([bad], isolate=isolate)
    row = doc["results"][0]
    assert row["status"] == "ok", row["error"]
    block = row["delegation"]
    assert block["status"] == "not delegated" and block["partitions"] == 0 and block["delegated_nodes"] == 0
    assert block["failed_node"]["node"] == 1 and block["failed_node"]["op"] == "FULLY_CONNECTED"
    assert block["failed_node"]["requant_scale"] == pytest.approx(300.0, rel=1e-5)
    assert "300" in block["reason"] and "256" in block["reason"] and block["fix"]
    assert "failed to prepare" in block["message"]
    # what was measured is the builtin-kernel model: its accuracy is the one --device cpu-ref gets
    data = load_eval_data("mnist", FAST["limit"])
    expected = _raw_outputs(bad, "cpu-ref", data["images"]).argmax(axis=1)
    assert row["metrics"]["accuracy"] == pytest.approx(float(np.mean(expected == data["labels"])))
    assert row["latency"]["runs"] >= FAST["runs"]


def test_the_fallback_is_in_the_table_with_the_node_and_the_fix(tmp_path, run_cli):
    bad = tiny_int8_model(tmp_path / "bad_int8.tflite", requant_scale=1000.0)
    result = run_cli("bench", bad, "--runs", "5", "--warmup", "0", "--min-seconds", "0", "--rounds", "1", "--limit", "50")
    assert result.code == 0, result.err
    assert "NOT DELEGATED" in result.out
    assert "node 1 (FULLY_CONNECTED)" in result.out and "Fix:" in result.out


@pytest.mark.parametrize("scale, prepares", [(255.0, True), (256.0, False)])
def test_the_diagnosed_limit_is_the_runtimes(tmp_path, scale, prepares):
    """If a runtime moves XNNPACK's limit, the diagnosis must move with it: this fails first."""
    from edgenets.bench.runtime import resolve_runtime

    path = tiny_int8_model(tmp_path / "m.tflite", requant_scale=scale)
    it = resolve_runtime("litert").make_interpreter(str(path))
    try:
        it.allocate_tensors()
        prepared = True
    except Exception as exc:  # noqa: BLE001
        assert delegation.is_delegate_prepare_failure(str(exc)), exc
        prepared = False
    assert prepared is prepares
    ref = resolve_runtime("litert").make_interpreter(str(path), device="cpu-ref")
    ref.allocate_tensors()
    assert (delegation.diagnose_prepare_failure(ref) is None) is prepares


def test_int8_softmax_stays_on_builtin_kernels_and_float_is_fully_delegated(tmp_path):
    q = tiny_int8_model(tmp_path / "q_int8.tflite", requant_scale=16.0, softmax=True)
    f = tiny_float_model(tmp_path / "f_float32.tflite")
    doc = _bench([q, f])
    by = {r["model"]: r["delegation"] for r in doc["results"]}
    assert by["q"]["status"] == "partial" and by["q"]["partitions"] == 1 and by["q"]["nodes"] == 3
    assert by["q"]["delegated_nodes"] == 2
    assert [(n["node"], n["op"]) for n in by["q"]["builtin_nodes"]] == [(2, "SOFTMAX")]
    assert "int8 SOFTMAX" in by["q"]["builtin_nodes"][0]["why"]
    assert by["f"]["status"] == "full" and by["f"]["builtin_nodes"] == [] and by["f"]["delegated_nodes"] == 2
    notes = delegation.notes(doc["results"])
    assert len(notes) == 1 and "SOFTMAX (node 2)" in notes[0]


def test_cpu_ref_is_builtin_by_choice(tmp_path):
    f = tiny_float_model(tmp_path / "f_float32.tflite")
    block = _bench([f], device="cpu-ref")["results"][0]["delegation"]
    assert block["status"] == "builtin by choice" and block["partitions"] == 0
    assert delegation.notes([{"delegation": block}]) == []


def test_partition_members_walk_back_to_each_partitions_inputs():
    """Two partitions with a builtin node between them; tensors are ints as the interpreter gives them."""
    ops = [
        {"index": 0, "op_name": "CONV_2D", "inputs": [0, 10, 11], "outputs": [1]},
        {"index": 1, "op_name": "RELU", "inputs": [1], "outputs": [2]},
        {"index": 2, "op_name": "CUSTOM", "inputs": [2], "outputs": [3]},
        {"index": 3, "op_name": "ADD", "inputs": [3, 2], "outputs": [4]},
        {"index": 4, "op_name": "DELEGATE", "inputs": [0, 10, 11], "outputs": [2]},
        {"index": 5, "op_name": "DELEGATE", "inputs": [3, 2], "outputs": [4]},
    ]
    assert delegation.partition_members(ops) == [{0, 1}, {3}]


def test_the_message_markers_match_only_delegate_failures():
    assert delegation.is_delegate_prepare_failure(
        "failed to create XNNPACK runtimeNode number 5 (TfLiteXNNPackDelegate) failed to prepare.")
    assert not delegation.is_delegate_prepare_failure("Didn't find op for builtin opcode 'CONV_2D' version '9'")


def test_bench_profile_pairs_float_and_int8_nodes_and_fills_delegation(tmp_path, run_cli, monkeypatch):
    """`bench --profile`: per-node times in the JSON (node times + overhead = the whole), each node marked in or out
    of the delegate from the row's delegation report, and the side-by-side tables in the text output."""
    import json

    from edgenets.bench import runner

    monkeypatch.setitem(runner.PROFILE_OPTIONS, "rounds", 2)
    monkeypatch.setitem(runner.PROFILE_OPTIONS, "min_seconds", 0.05)
    q = tiny_int8_model(tmp_path / "m_int8.tflite", requant_scale=16.0, softmax=True)
    f = tiny_float_model(tmp_path / "m_float32.tflite")
    out = tmp_path / "p.json"
    res = run_cli("bench", f, q, "--runs", "5", "--warmup", "0", "--min-seconds", "0", "--rounds", "1", "--limit", "50",
                  "--profile", "--output", out)
    assert res.code == 0, res.err
    rows = {r["precision"]: r for r in json.loads(out.read_text())["results"]}
    for precision, ops in (("float32", ["RESHAPE", "FULLY_CONNECTED"]), ("int8", ["RESHAPE", "FULLY_CONNECTED", "SOFTMAX"])):
        p = rows[precision]["profile"]
        assert [n["op"] for n in p["nodes"]] == ops
        assert sum(n["us"] for n in p["nodes"]) + p["overhead_us"] == pytest.approx(p["total_us"], rel=1e-9)
        assert all(n["one_op_us"] is not None for n in p["nodes"]) and "ok" in p["validation"]
    assert [n["delegated"] for n in rows["int8"]["profile"]["nodes"]] == [True, True, False]
    assert "profile: summary by node type" in res.out and "profile: top nodes by time" in res.out
    assert "profile validation" in res.out


def test_export_verification_survives_a_model_xnnpack_cannot_prepare(tmp_path, mnist_small):
    """The accuracy check after export runs such a file on builtin kernels and says why, instead of crashing."""
    from edgenets.export.verify import predict

    bad = tiny_int8_model(tmp_path / "bad.tflite", requant_scale=400.0)
    got = predict(bad, mnist_small.x_test[:40], batch_size=8)
    assert got.not_delegated["diagnosis"]["op"] == "FULLY_CONNECTED"
    assert "failed to prepare" in got.not_delegated["message"]
    assert len(got.labels) == 40
    good = predict(tiny_int8_model(tmp_path / "good.tflite", requant_scale=4.0), mnist_small.x_test[:40], batch_size=8)
    assert good.not_delegated is None
