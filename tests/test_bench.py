"""edgenets bench / compare: real tiny models, the real LiteRT interpreter, metrics checked against sklearn.

The models are built and converted once per session (Keras + edgenets.export.convert.to_tflite; the
tests may use TensorFlow, the bench code under test may not). Expected values are computed here
independently, with our own batch-1 interpreter loop.
"""

from __future__ import annotations

import csv
import io
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from conftest import assert_one_line_error

LIMIT = 300  # evaluation images per model in the fast tests
FAST = ["--runs", "20", "--warmup", "2", "--min-seconds", "0", "--limit", str(LIMIT)]
REPO = Path(__file__).resolve().parents[1]


def _tiny_cnn(head: str):
    import keras

    keras.utils.set_random_seed(0)
    pool = keras.layers.GlobalAveragePooling2D(name="gap") if head == "gap" else keras.layers.Flatten(name="flatten")
    return keras.Sequential([
        keras.Input((28, 28, 1)),
        keras.layers.Conv2D(8, 3, strides=2, activation="relu", name="conv1"),
        keras.layers.Conv2D(16, 3, strides=2, activation="relu", name="conv2"),
        pool,
        keras.layers.Dense(10, activation="softmax", name="head"),
    ])


@pytest.fixture(scope="session")
def tiny_models(tmp_path_factory, mnist_small):
    """runs/tiny/export/model_{float32,int8}.tflite (+ an int8 sidecar) and a Flatten model whose batch is fixed."""
    import keras

    from edgenets.export.convert import to_tflite

    root = tmp_path_factory.mktemp("bench")
    x = mnist_small.x_train.astype("float32") / 255.0
    paths = {}
    for head in ("gap", "flatten"):
        model = _tiny_cnn(head)
        model.compile(keras.optimizers.Adam(0.01), "sparse_categorical_crossentropy")
        model.fit(x, mnist_small.y_train, epochs=3, batch_size=32, verbose=0)
        export = root / ("tiny" if head == "gap" else "tinyflat") / "export"
        export.mkdir(parents=True)
        for precision in ("float32", "int8") if head == "gap" else ("float32",):
            rep = mnist_small.x_train[:100] if precision == "int8" else None
            path = export / f"model_{precision}.tflite"
            path.write_bytes(to_tflite(model, precision, representative=rep, progress=False))
            paths[(head, precision)] = path
    # A sidecar as export writes it: bench must pick up precision, labels and preprocessing from it.
    (export_dir := paths[("gap", "int8")].parent).joinpath("model_int8.json").write_text(json.dumps(
        {"precision": "int8", "labels": [str(i) for i in range(10)], "preprocessing": "pixels/255"}))
    assert export_dir.name == "export"
    bad = root / "bad"
    bad.mkdir()
    data = paths[("gap", "float32")].read_bytes()
    (bad / "truncated.tflite").write_bytes(data[: len(data) // 2])
    (bad / "notes.tflite").write_text("this is not a model\n" * 10)
    paths["truncated"] = bad / "truncated.tflite"
    paths["text"] = bad / "notes.tflite"
    return paths


@pytest.fixture(scope="session")
def bench_doc(tiny_models):
    """One library run over float32 + int8 + two broken files (threads 1,2)."""
    from edgenets.bench import run_bench

    models = [tiny_models[("gap", "float32")], tiny_models[("gap", "int8")], tiny_models["truncated"], tiny_models["text"]]
    return run_bench(models, threads="1,2", runs=30, warmup=2, min_seconds=0.0, limit=LIMIT)


def _rows(doc, **match):
    return [r for r in doc["results"] if all(r.get(k) == v for k, v in match.items())]


def _own_batch1_predictions(path, images):
    """Independent reference: one invoke per image, quantise/dequantise by hand."""
    from ai_edge_litert.interpreter import Interpreter

    it = Interpreter(model_path=str(path))
    it.allocate_tensors()
    inp, out = it.get_input_details()[0], it.get_output_details()[0]
    scores = []
    for img in images:
        x = img[None].astype(np.float32) / 255.0
        if inp["dtype"] != np.float32:
            s, z = inp["quantization"]
            x = np.clip(np.round(x / s) + z, -128, 127).astype(inp["dtype"])
        it.set_tensor(inp["index"], x)
        it.invoke()
        y = it.get_tensor(out["index"])[0].astype(np.float64)
        if out["dtype"] != np.float32:
            s, z = out["quantization"]
            y = (y - z) * s
        scores.append(y)
    return np.argmax(scores, axis=1)


# ------------------------------------------------------------------ metrics


@pytest.mark.parametrize("precision", ["float32", "int8"])
def test_metrics_equal_sklearn_on_raw_interpreter_outputs(bench_doc, tiny_models, mnist, precision):
    from sklearn.metrics import accuracy_score, precision_recall_fscore_support

    from edgenets.data import stratified_indices

    idx = stratified_indices(mnist.y_test, LIMIT, seed=0)
    x, y = mnist.x_test[idx], mnist.y_test[idx]
    pred = _own_batch1_predictions(tiny_models[("gap", precision)], x)
    p, r, f, _ = precision_recall_fscore_support(y, pred, average="macro", zero_division=0)
    for row in _rows(bench_doc, precision=precision):
        assert row["status"] == "ok", row["error"]
        m = row["metrics"]
        assert m["accuracy"] == pytest.approx(accuracy_score(y, pred), abs=1e-12)
        assert (m["precision"], m["recall"], m["f1"]) == pytest.approx((p, r, f), abs=1e-12)
        assert np.array(m["confusion_matrix"]).sum() == LIMIT
        assert [c["support"] for c in m["per_class"]] == np.bincount(y, minlength=10).tolist()
        assert m["accuracy"] > 0.3  # trained, not random: the test could catch a scrambled input
        assert m["eval"]["batch"] > 1  # the GAP model batches (at whichever exact batch size timed fastest)


def test_sidecar_and_dtypes_give_the_precision(bench_doc):
    assert {r["precision"] for r in bench_doc["results"][:4]} == {"float32", "int8"}
    int8 = _rows(bench_doc, precision="int8")[0]
    assert int8["input"]["dtype"] == "int8" and int8["input"]["scale"] > 0
    assert {r["model"] for r in _rows(bench_doc, status="ok")} == {"tiny"}  # runs/<name>/export/ -> name


def test_dtype_inference_without_sidecar_or_suffix(tiny_models, tmp_path):
    from ai_edge_litert.interpreter import Interpreter

    from edgenets.inference.tensors import infer_precision

    for precision in ("float32", "int8"):
        it = Interpreter(model_path=str(tiny_models[("gap", precision)]))
        it.allocate_tensors()
        assert infer_precision(it) == precision


@pytest.mark.parametrize("head, expect_batch", [("gap", 64), ("flatten", 1)])
def test_batched_evaluation_equals_batch1(tiny_models, mnist, head, expect_batch):
    from ai_edge_litert.interpreter import Interpreter

    from edgenets.inference.batching import predict, run_batch1
    from edgenets.inference.tensors import prepare_inputs

    path = str(tiny_models[(head, "float32")])
    make = lambda: Interpreter(model_path=path)  # noqa: E731
    single = make()
    single.allocate_tensors()
    x = prepare_inputs(mnist.x_test[:200], single.get_input_details()[0], "pixels/255")
    got, info = predict(make, x, batch=64)
    assert np.array_equal(got, run_batch1(single, x))
    # The Flatten model's reshape hard-codes batch 1: the harness must notice and fall back. The GAP model batches,
    # at whichever exact candidate size timed fastest.
    assert (info["batch"] > 1) if expect_batch > 1 else info["batch"] == 1, info


# ------------------------------------------------------------------ latency, failures


def test_latency_fields_present_and_ordered(bench_doc):
    for row in _rows(bench_doc, status="ok"):
        lat = row["latency"]
        assert lat["runs"] >= 30
        assert 0 < lat["min_us"] <= lat["p50_us"] <= lat["p90_us"] <= lat["p99_us"] <= lat["max_us"]
        assert lat["init_us"] > 0 and lat["first_us"] > 0 and lat["warmup_runs"] == 2
        assert lat["images_per_s"] == pytest.approx(1e6 / lat["mean_us"])
        cdf = lat["percentiles_us"]
        assert len(cdf) == 101 and cdf == sorted(cdf)
        assert cdf[0] == pytest.approx(lat["min_us"], abs=1e-3) and cdf[100] == pytest.approx(lat["max_us"], abs=1e-3)
        assert cdf[50] == pytest.approx(lat["p50_us"], abs=1e-3) and cdf[99] == pytest.approx(lat["p99_us"], abs=1e-3)
        assert row["memory"]["peak_rss_increase_bytes"] is not None
        assert row["ops"]["CONV_2D"] == 2 and row["size_bytes"] == os.path.getsize(row["path"])
    assert sorted(r["threads"] for r in _rows(bench_doc, precision="int8")) == [1, 2]


def test_rounds_merge_their_samples_and_keep_each_rounds_median(tiny_models):
    from edgenets.bench.latency import LatencySession, summarize
    from edgenets.bench.runtime import resolve_runtime

    rt = resolve_runtime("auto")
    sample = np.zeros((1, 28, 28, 1), np.float32)
    session = LatencySession(lambda: rt.make_interpreter(str(tiny_models[("gap", "float32")])), sample, warmup=3)
    for rewarm in (None, None, 1):
        session.round(7, 0.0, rewarm)
    block = session.block()
    merged = np.concatenate(session.rounds)
    assert block["runs"] == 21 and block["rounds"] == 3 and [len(r) for r in session.rounds] == [7, 7, 7]
    assert [len(w) for w in session.warm] == [3, 3, 1]  # every round re-warms
    assert block["warmup_runs"] == 3  # the block reports the warm-up after loading
    for key in ("mean_us", "p50_us", "p99_us", "max_us"):
        assert block[key] == pytest.approx(summarize(merged)[key])
    assert block["round_p50_us"] == pytest.approx([np.median(r) / 1e3 for r in session.rounds], abs=1e-3)
    single = LatencySession(lambda: rt.make_interpreter(str(tiny_models[("gap", "float32")])), sample, warmup=0)
    single.round(5, 0.0)
    assert "round_p50_us" not in single.block() and single.block()["rounds"] == 1


def test_rounds_interleave_all_rows_alternating_order(tiny_models, monkeypatch):
    from edgenets.bench import run_bench
    from edgenets.bench.latency import LatencySession

    calls = []
    original = LatencySession.round

    def recording(self, runs, min_seconds, rewarm=None):
        calls.append((self.interpreter, runs, min_seconds, rewarm))
        samples = original(self, runs, min_seconds, rewarm)
        calls[-1] += (len(self.warm[-1]),)
        return samples

    monkeypatch.setattr(LatencySession, "round", recording)
    models = [tiny_models[("gap", "float32")], tiny_models[("gap", "int8")]]
    doc = run_bench(models, runs=10, warmup=5, min_seconds=0.3, rounds=3, limit=50)
    rows = doc["results"]
    assert [r["status"] for r in rows] == ["ok", "ok"] and doc["environment"]["rounds"] == 3
    its = list(dict.fromkeys(c[0] for c in calls))
    order = [its.index(c[0]) for c in calls]
    assert order == [0, 1, 1, 0, 0, 1]  # every row in every round, order reversed on odd rounds
    assert [c[1] for c in calls] == [4] * 6 and [c[2] for c in calls] == pytest.approx([0.1] * 6)  # ceil(10/3), 0.3 s / 3
    assert [c[4] for c in calls] == [5, 5, 2, 2, 2, 2]  # the full warm-up once, then ceil(5/3) before each round
    for r in rows:
        assert r["latency"]["rounds"] == 3 and len(r["latency"]["round_p50_us"]) == 3
        assert r["latency"]["runs"] >= 12 and r["latency"]["seconds"] >= 0.3 * 0.99
    (c,) = doc["comparisons"]
    f, q = (r["latency"]["round_p50_us"] for r in rows)
    ratios = [a / b for a, b in zip(f, q)]
    assert c["speedup_range"] == pytest.approx([min(ratios), max(ratios)])


def test_a_row_failing_in_a_later_round_fails_alone(tiny_models, monkeypatch):
    from edgenets.bench import run_bench
    from edgenets.bench.latency import LatencySession

    original = LatencySession.round
    broken = []

    def flaky(self, runs, min_seconds, rewarm=None):
        if not broken and self.rounds:  # the first row to reach its second round breaks
            broken.append(self)
        if broken and self is broken[0]:
            raise RuntimeError("invoke failed: delegate lost")
        return original(self, runs, min_seconds, rewarm)

    monkeypatch.setattr(LatencySession, "round", flaky)
    models = [tiny_models[("gap", "float32")], tiny_models[("gap", "int8")]]
    doc = run_bench(models, runs=4, warmup=0, min_seconds=0.0, rounds=3, limit=50)
    bad, good = doc["results"][1], doc["results"][0]  # round 2 visits the rows in reverse: int8 first
    assert bad["status"] == "error" and bad["error"] == "invoke failed: delegate lost" and "latency" not in bad
    assert bad["ops"]["CONV_2D"] == 2 and bad["metrics"]["accuracy"] > 0
    assert good["status"] == "ok" and good["latency"]["rounds"] == 3


def test_a_row_failing_after_its_rounds_fails_alone(tiny_models, monkeypatch):
    from edgenets.bench import run_bench, runner

    original = runner.interpreter_op_counts
    calls = []

    def op_counts(it):
        calls.append(it)
        if len(calls) == 2:
            raise RuntimeError("ops table unavailable")
        return original(it)

    monkeypatch.setattr(runner, "interpreter_op_counts", op_counts)
    doc = run_bench([tiny_models[("gap", "float32")], tiny_models[("gap", "int8")]], runs=4, warmup=0,
                    min_seconds=0.0, rounds=2, limit=50)
    good, bad = doc["results"]
    assert good["status"] == "ok" and good["latency"]["rounds"] == 2
    assert bad["status"] == "error" and bad["error"] == "ops table unavailable" and "latency" not in bad
    assert bad["ops"]["CONV_2D"] == 2  # from the flatbuffer
    assert doc["comparisons"] == []  # no float/int8 pair without the int8 latency


@pytest.mark.parametrize("runs, seconds, warmup, rounds, expected", [
    (200, 2.0, 20, 10, (20, 0.2, 2)), (200, 2.0, 20, 1, (200, 2.0, 20)), (1, 0.0, 0, 10, (1, 0.0, 0)),
    (10, 1.0, 3, 4, (3, 0.25, 1)), (5, 0.0, 1, 3, (2, 0.0, 1)),
])
def test_round_budget_splits_one_blocks_cost(runs, seconds, warmup, rounds, expected):
    from edgenets.bench.latency import round_budget

    per_runs, per_seconds, rewarm = round_budget(runs, seconds, warmup, rounds)
    assert (per_runs, rewarm) == expected[::2] and per_seconds == pytest.approx(expected[1])
    assert per_runs * rounds >= runs  # --runs stays a floor


def test_round_tables_show_the_drift_and_the_per_round_speedup():
    from edgenets.bench.render import render_bench
    from edgenets.bench.tables import paired_speedup_range, round_spread_pct

    f = {"round_p50_us": [100.0, 150.0, 120.0]}
    q = {"round_p50_us": [50.0, 100.0, 40.0]}
    assert paired_speedup_range(f, q) == pytest.approx([1.5, 3.0])
    assert round_spread_pct(f) == pytest.approx(50.0) and round_spread_pct(q) == pytest.approx(150.0)
    assert paired_speedup_range({"round_p50_us": [1.0]}, {"round_p50_us": [2.0]}) is None  # one round: no pairs
    assert paired_speedup_range(f, {"round_p50_us": [1.0, 2.0]}) is None                  # rounds do not line up
    assert round_spread_pct({"mean_us": 3.0}) is None

    def row(precision, p50s):
        lat = {"mean_us": float(np.mean(p50s)), "p50_us": 1.0, "p99_us": 1.0, "round_p50_us": p50s}
        return {"model": "m", "precision": precision, "threads": 1, "status": "ok", "size_bytes": 1024,
                "metrics": {"accuracy": 0.9, "f1": 0.9}, "latency": lat}
    doc = {"environment": {"rounds": 3, "threads": [1]}, "results": [row("float32", f["round_p50_us"]),
                                                                      row("int8", q["round_p50_us"])]}
    text = render_bench(doc, "table")
    assert "latency in 3 interleaved rounds" in text
    assert "1.50-3.00" in text.split("float32 vs quantised:")[1]
    assert " 150 " in text.split("float32 vs quantised:")[0]  # int8's rounds ±%: 100/40 - 1


X86_FLAGS = "flags\t\t: fpu vme sse sse2 ssse3 sse4_1 sse4_2 avx f16c avx2 fma bmi2 avx512f avx512bw avx512_vnni\n"
PI4_FEATURES = "processor\t: 0\nFeatures\t: fp asimd evtstrm crc32 cpuid\nCPU implementer\t: 0x41\n"
PI5_FEATURES = "Features\t: fp asimd evtstrm aes pmull sha1 sha2 crc32 atomics fphp asimdhp cpuid asimdrdm lrcpc dcpop asimddp\n"
PI_32BIT = "Features\t: half thumb fastmult vfp edsp neon vfpv3 tls vfpv4 idiva idivt vfpd32 lpae evtstrm crc32\n"


@pytest.mark.parametrize("info, expected", [
    (X86_FLAGS, ["sse4_1", "avx", "avx2", "fma", "avx512f", "avx512bw", "avx512_vnni"]),
    (PI4_FEATURES, ["asimd"]),                          # Cortex-A72: NEON, no int8 dot product
    (PI5_FEATURES, ["asimd", "asimdhp", "asimddp"]),    # Cortex-A76: int8 dot product
    (PI_32BIT, ["neon"]),
    ("processor\t: 0\nmodel name\t: something\n", None),  # the kernel does not say: unknown, not "none"
    ("", None),
])
def test_cpu_features_are_read_from_cpuinfo(info, expected):
    from edgenets.bench.results import cpu_features

    assert cpu_features(info) == expected


def test_bench_records_this_machines_simd_features(bench_doc):
    from edgenets.bench.render import render_bench
    from edgenets.bench.results import SIMD_FEATURES

    try:
        lines = Path("/proc/cpuinfo").read_text().splitlines()
    except OSError:
        pytest.skip("no /proc/cpuinfo")
    flags = next((set(line.split(":", 1)[1].split()) for line in lines if line.split(":")[0].strip() in ("flags", "Features")), None)
    expected = None if flags is None else [f for f in SIMD_FEATURES if f in flags]
    assert bench_doc["environment"]["cpu_features"] == expected
    if expected:
        assert f"SIMD {' '.join(expected)}," in render_bench(bench_doc, "table")


def test_broken_files_are_failed_rows_and_the_rest_completes(bench_doc):
    broken = {Path(r["path"]).name: r for r in bench_doc["results"] if r["status"] == "error"}
    assert set(broken) == {"truncated.tflite", "notes.tflite"}
    assert "truncated" in broken["truncated.tflite"]["error"]
    assert "TFL3" in broken["notes.tflite"]["error"]
    assert len(_rows(bench_doc, status="ok")) == 4


def test_runtime_crash_in_the_probe_becomes_a_reason():
    from edgenets.bench.probe import run_isolated

    report, reason = run_isolated(["-c", "import ctypes; ctypes.string_at(0)"])
    assert report is None and "SIGSEGV" in reason


def test_missing_delegate_is_a_failed_row_not_a_crash(run_cli, tiny_models, tmp_path):
    out = tmp_path / "r.json"
    res = run_cli("bench", tiny_models[("gap", "int8")], "--delegate", tmp_path / "libnope.so", *FAST, "--output", out)
    assert res.code == 1 and "Traceback" not in res.err
    doc = json.loads(out.read_text())
    assert [r["status"] for r in doc["results"]] == ["error"]
    assert "libnope.so" in doc["results"][0]["error"]
    assert res.err.strip().splitlines()[-1].startswith("error: 1 of 1 rows failed")


def test_cpu_ref_runs_without_the_default_delegate(run_cli, tiny_models, tmp_path):
    out = tmp_path / "r.json"
    res = run_cli("bench", tiny_models[("gap", "float32")], "--device", "cpu-ref", *FAST, "--output", out)
    assert res.code == 0, res.err
    row = json.loads(out.read_text())["results"][0]
    assert row["device"] == "cpu-ref" and row["delegate_partitions"] == 0


@pytest.mark.parametrize("args, fragment", [
    (["--threads", "0"], "--threads"), (["--device", "gpu"], "--device"), (["--runs", "0"], "--runs"),
    (["--runtime", "onnx"], "--runtime"), (["--format", "xml"], "--format"), (["--min-seconds", "inf"], "--min-seconds"),
    (["--rounds", "0"], "--rounds"),
])
def test_bad_options_are_one_line_errors(run_cli, tiny_models, args, fragment):
    assert_one_line_error(run_cli("bench", tiny_models[("gap", "float32")], *args), fragment)


# ------------------------------------------------------------------ tables and formats


def test_float_vs_int8_deltas_match_the_json(bench_doc, run_cli, tiny_models, tmp_path):
    from edgenets.bench.render import render_bench

    comps = bench_doc["comparisons"]
    assert sorted(c["threads"] for c in comps) == [1, 2]
    for c in comps:
        f = _rows(bench_doc, precision="float32", threads=c["threads"])[0]
        q = _rows(bench_doc, precision="int8", threads=c["threads"])[0]
        assert c["accuracy_delta_pp"] == pytest.approx(100 * (q["metrics"]["accuracy"] - f["metrics"]["accuracy"]))
        assert c["f1_delta"] == pytest.approx(q["metrics"]["f1"] - f["metrics"]["f1"])
        assert c["speedup"] == pytest.approx(f["latency"]["mean_us"] / q["latency"]["mean_us"])
        assert c["size_ratio"] == pytest.approx(q["size_bytes"] / f["size_bytes"])
        assert c["memory_ratio"] == pytest.approx(
            q["memory"]["peak_rss_increase_bytes"] / f["memory"]["peak_rss_increase_bytes"])
    text = render_bench(bench_doc, "table")
    section = text.split("float32 vs quantised:")[1]
    for header in ("Δacc pp", "ΔF1", "speedup x", "size ratio", "memory ratio"):
        assert header in section
    assert f"{round(comps[0]['speedup'], 2):g}" in section
    assert f"{round(comps[0]['size_ratio'], 3):g}" in section


def test_json_csv_md_outputs_parse(run_cli, tiny_models, tmp_path):
    models = [tiny_models[("gap", "float32")], tiny_models[("gap", "int8")]]
    res = run_cli("bench", *models, *FAST, "--format", "json", "--output", tmp_path / "r.csv")
    assert res.code == 0, res.err
    doc = json.loads(res.out)
    assert doc["schema"] == "edgenets.bench/1" and len(doc["results"]) == 2
    rows = list(csv.DictReader(io.StringIO((tmp_path / "r.csv").read_text())))
    assert [r["precision"] for r in rows] == ["float32", "int8"]
    assert float(rows[1]["accuracy"]) == pytest.approx(doc["results"][1]["metrics"]["accuracy"])
    assert [int(r["rounds"]) for r in rows] == [10, 10]  # the default
    res = run_cli("bench", *models, *FAST, "--format", "md", "--per-class", "--output", tmp_path / "r.md")
    assert res.code == 0, res.err
    md = (tmp_path / "r.md").read_text()
    assert "| model " in md and "### float32 vs quantised" in md and "### per class" in md
    assert md == res.out


def test_compare_merges_two_machines_and_rejects_malformed(run_cli, bench_doc, tmp_path):
    from edgenets._io import write_json

    a, b = tmp_path / "desktop.json", tmp_path / "pi.json"
    write_json(a, bench_doc)
    pi = json.loads(json.dumps(bench_doc))
    pi["environment"].update(hostname="raspberrypi", cpu="Raspberry Pi 5 Model B Rev 1.0", machine="aarch64")
    for r in pi["results"]:
        r["path"] = "/home/pi/models/" + Path(r["path"]).name  # different path, same file: joined on sha256
    write_json(b, pi)
    res = run_cli("compare", a, b, "--format", "json")
    assert res.code == 0, res.err
    merged = json.loads(res.out)
    assert [d["label"].split(" / ")[0] for d in merged["devices"]] == [bench_doc["environment"]["hostname"], "raspberrypi"]
    ok = [r for r in merged["rows"] if r["precision"] == "int8" and r["threads"] == 1][0]
    expected = round(_rows(bench_doc, precision="int8", threads=1)[0]["metrics"]["accuracy"] * 100, 2)
    assert ok["[1] acc %"] == ok["[2] acc %"] == expected
    assert len(merged["rows"]) == len(bench_doc["results"])
    table = run_cli("compare", a, b)
    assert table.code == 0 and "raspberrypi" in table.out

    broken = json.loads(json.dumps(bench_doc))
    broken["results"][0]["latency"]["mean_us"] = "fast"
    write_json(tmp_path / "broken.json", broken)
    assert_one_line_error(run_cli("compare", a, tmp_path / "broken.json"), "broken.json", "results[0].latency.mean_us")
    (tmp_path / "foreign.json").write_text('{"loss": [0.3, 0.2]}')
    assert_one_line_error(run_cli("compare", a, tmp_path / "foreign.json"), "foreign.json", "schema")
    (tmp_path / "cut.json").write_text('{"schema": "edgenets.bench/1", "envir')
    assert_one_line_error(run_cli("compare", tmp_path / "cut.json"), "cut.json", "not valid JSON")



def test_emulated_runs_say_so_in_the_json_and_every_table(run_cli, tiny_models, bench_doc, tmp_path, monkeypatch):
    """A bench inside an emulated board (EDGENETS_EMULATED, set by its launcher) records what emulated it, and
    no table shows its timings unmarked: an emulator's microseconds must never pass for a board's."""
    from edgenets.bench.render import render_bench, render_compare

    models = [tiny_models[("gap", "float32")], tiny_models[("gap", "int8")]]
    monkeypatch.setenv("EDGENETS_EMULATED", "qemu-user 7.2.0 cortex-a76, Debian bookworm arm64")
    out = tmp_path / "emulated.json"
    res = run_cli("bench", *models, *FAST, "--output", out)
    assert res.code == 0, res.err
    doc = json.loads(out.read_text())
    assert doc["environment"]["emulated"] == "qemu-user 7.2.0 cortex-a76, Debian bookworm arm64"
    assert res.out.startswith("EMULATED (qemu-user 7.2.0 cortex-a76")
    for section in res.out.split("\n\n")[1:]:  # results, float32 vs quantised (the delegation notes hold no timing)
        if section.startswith("delegation"):
            continue
        header = section.splitlines()[1]
        assert "mean us (emulated)" in header, section
        assert "mean us " not in header.replace("mean us (emulated)", ""), header
    assert bench_doc["environment"]["emulated"] is None  # real hardware stays unmarked
    assert "(emulated)" not in render_bench(bench_doc, "table") and "EMULATED" not in render_bench(bench_doc, "table")
    md = render_bench(doc, "md")
    assert "EMULATED" in md and "mean us (emulated)" in md
    rows = list(csv.DictReader(io.StringIO(render_bench(doc, "csv"))))
    assert {r["emulated"] for r in rows} == {doc["environment"]["emulated"]}

    merged = json.loads(render_compare([("x86.json", bench_doc), ("pi.json", doc)], "json"))
    labels = [d["label"] for d in merged["devices"]]
    assert not labels[0].endswith("EMULATED") and labels[1].endswith(" / EMULATED")
    assert "[1] mean us" in merged["rows"][0] and "[2] mean us (emulated)" in merged["rows"][0]
    assert "[2] acc %" in merged["rows"][0]  # accuracy is the board software's: not marked
    table = render_compare([("x86.json", bench_doc), ("pi.json", doc)], "table")
    assert "[2] mean us (emulated)" in table and "EMULATED" in table.splitlines()[1]


def test_emulated_field_is_validated_on_read(bench_doc, tmp_path):
    from edgenets._io import write_json
    from edgenets.bench.results import load
    from edgenets.errors import InputError

    doc = json.loads(json.dumps(bench_doc))
    doc["environment"]["emulated"] = 1
    write_json(tmp_path / "odd.json", doc)
    with pytest.raises(InputError, match="odd.json: environment.emulated: expected str or null, got int"):
        load(tmp_path / "odd.json")
    del doc["environment"]["emulated"]  # documents written before the field existed still load
    write_json(tmp_path / "old.json", doc)
    assert load(tmp_path / "old.json")["environment"].get("emulated") is None


# ------------------------------------------------------------------ ops


def test_flatbuffer_op_counts_match_the_interpreter(tiny_models):
    from ai_edge_litert.interpreter import Interpreter

    from edgenets.bench.ops import interpreter_op_counts, parse_op_counts

    for key in (("gap", "float32"), ("gap", "int8"), ("flatten", "float32")):
        it = Interpreter(model_path=str(tiny_models[key]))
        it.allocate_tensors()
        assert parse_op_counts(tiny_models[key].read_bytes()) == interpreter_op_counts(it)


def test_builtin_op_names_agree_with_the_runtime_schema():
    schema = pytest.importorskip("ai_edge_litert.schema_py_generated")
    from edgenets.bench.ops import BUILTIN_NAMES

    for code, name in BUILTIN_NAMES.items():
        assert getattr(schema.BuiltinOperator, name) == code, name


# ------------------------------------------------------------------ no TensorFlow on the device side

NO_TF_PROBE = r"""
import json, sys
from edgenets.cli import main
try:
    main(sys.argv[1:])
except SystemExit as exc:
    code = exc.code
heavy = sorted(m for m in sys.modules if m.split(".")[0] in ("tensorflow", "keras", "tf_keras"))
print(json.dumps({"code": code, "heavy": heavy}))
"""


def test_bench_and_compare_import_no_tensorflow(tiny_models, tmp_path):
    pytest.importorskip("ai_edge_litert")
    out = tmp_path / "r.json"
    args = ["bench", str(tiny_models[("gap", "int8")]), *FAST, "--output", str(out)]
    proc = subprocess.run([sys.executable, "-c", NO_TF_PROBE, *args], capture_output=True, text=True, timeout=180)
    report = json.loads(proc.stdout.strip().splitlines()[-1])
    assert report == {"code": 0, "heavy": []}, proc.stderr
    proc = subprocess.run([sys.executable, "-c", NO_TF_PROBE, "compare", str(out), str(out)],
                          capture_output=True, text=True, timeout=180)
    assert json.loads(proc.stdout.strip().splitlines()[-1]) == {"code": 0, "heavy": []}, proc.stderr


@pytest.mark.slow
def test_device_extra_alone_runs_bench_and_compare(tiny_models, tmp_path):
    """A clean venv with only `pip install -e .[device]` (cached in .venv-device): no TensorFlow anywhere."""
    venv = REPO / ".venv-device"
    py = venv / "bin" / "python"
    stamp = venv / ".installed"
    if not stamp.exists() or stamp.read_text() != (REPO / "pyproject.toml").read_text():
        shutil.rmtree(venv, ignore_errors=True)
        subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, timeout=120)
        pip = subprocess.run([str(py), "-m", "pip", "install", "-q", "-e", f"{REPO}[device]"],
                             capture_output=True, text=True, timeout=600)
        if pip.returncode != 0:
            pytest.fail(f"pip install -e .[device] failed: {pip.stderr[-2000:]}")
        stamp.write_text((REPO / "pyproject.toml").read_text())
    check = subprocess.run([str(py), "-c", "import importlib.util as u; print(u.find_spec('tensorflow') is None)"],
                           capture_output=True, text=True)
    assert check.stdout.strip() == "True", "the device venv must not contain TensorFlow"
    env = {**os.environ, "EDGENETS_HOME": os.environ.get("EDGENETS_HOME", str(Path.home() / ".cache" / "edgenets"))}
    edgenets = str(venv / "bin" / "edgenets")
    a, b = tmp_path / "a.json", tmp_path / "b.json"
    models = [str(tiny_models[("gap", "float32")]), str(tiny_models[("gap", "int8")])]
    for out in (a, b):
        proc = subprocess.run([edgenets, "bench", *models, *FAST, "--output", str(out)],
                              capture_output=True, text=True, timeout=300, env=env)
        assert proc.returncode == 0, proc.stderr
    assert "float32 vs quantised" in proc.stdout
    proc = subprocess.run([edgenets, "compare", str(a), str(b), "--format", "csv"],
                          capture_output=True, text=True, timeout=120, env=env)
    assert proc.returncode == 0, proc.stderr
    rows = list(csv.reader(io.StringIO(proc.stdout)))
    assert len(rows) == 1 + 2 and len(rows[0]) == 3 + 2 * 3


def test_tensorflow_runtime_is_the_last_resort_and_agrees(bench_doc, tiny_models):
    """--runtime tensorflow (tf.lite, only when asked) gives the same accuracy as ai-edge-litert."""
    pytest.importorskip("tensorflow")
    from edgenets.bench import run_bench
    from edgenets.bench.runtime import RUNTIMES

    assert list(RUNTIMES) == ["litert", "tflite-runtime", "tensorflow"]
    doc = run_bench([tiny_models[("gap", "int8")]], runtime="tensorflow", runs=5, warmup=0, min_seconds=0.0,
                    limit=LIMIT, isolate=False)
    row = doc["results"][0]
    assert row["status"] == "ok" and row["runtime"] == "tensorflow" and doc["environment"]["runtime"] == "tensorflow"
    assert row["metrics"]["accuracy"] == _rows(bench_doc, precision="int8")[0]["metrics"]["accuracy"]


def test_missing_model_file_is_a_failed_row_and_the_rest_completes(run_cli, tiny_models, tmp_path):
    out = tmp_path / "r.json"
    missing = tmp_path / "gone.tflite"
    res = run_cli("bench", missing, tiny_models[("gap", "float32")], *FAST, "--output", out)
    assert res.code == 1 and "Traceback" not in res.err
    rows = {Path(r["path"]).name: r for r in json.loads(out.read_text())["results"]}
    assert rows["gone.tflite"]["status"] == "error" and "file not found" in rows["gone.tflite"]["error"]
    assert rows[Path(tiny_models[("gap", "float32")]).name]["status"] == "ok"


@pytest.mark.parametrize("name, fragment", [("r.html", "unknown suffix"), ("adir", "is a directory")])
def test_bad_output_fails_before_the_benchmark(run_cli, tiny_models, tmp_path, name, fragment):
    target = tmp_path / name
    if name == "adir":
        target = tmp_path / "adir.json"
        target.mkdir()
    res = run_cli("bench", tiny_models[("gap", "float32")], *FAST, "--output", target)
    assert_one_line_error(res, "--output", fragment)
    assert "results:" not in res.out  # nothing was measured


def test_pairing_name_survives_copying_to_a_board(tmp_path):
    from edgenets.bench.runner import model_name

    copied = tmp_path / "pi-home" / "model_int8.tflite"  # scp'd out of runs/mobilenet-a/export/
    sidecar = {"source": {"run_dir": "/work/runs/mobilenet-a", "model": "mobilenet"}}
    assert model_name(copied, sidecar) == "mobilenet-a"
    assert model_name(copied, None) == "pi-home"  # without a sidecar only the folder is left
    assert model_name(tmp_path / "runs" / "r1" / "export" / "model_float32.tflite", None) == "r1"
    assert model_name(tmp_path / "lenet_int8.tflite", {}) == "lenet"


@pytest.mark.parametrize("features, best, lacks", [
    (["sse4_1", "avx", "avx2", "fma"], "AVX2", "AMX, AVX-512 VNNI, AVX-VNNI, AVX-512BW"),
    (["avx2", "avx512f", "avx512bw", "avx512_vnni"], "AVX-512 VNNI", "AMX"),
    (["avx2", "avx512_vnni", "amx_int8"], "AMX", None),
    (["neon", "asimd", "asimddp"], "NEON dot product", "int8 matrix multiply"),
])
def test_the_int8_instructions_line_names_the_best_and_the_missing(features, best, lacks):
    from edgenets.bench.results import int8_capability

    line = int8_capability(features)
    assert line.startswith(f"int8 kernels can use: {best}")
    assert (f"this CPU lacks {lacks}" in line) if lacks else ("lacks" not in line)
    assert int8_capability(None) is None and int8_capability(["sse4_1"]) is None


def test_two_exports_of_one_run_pair_float_and_int8_by_folder():
    """export-a/ and export-b/ of the same run, benched together: each int8 file is compared with the float32
    file of its own folder, not with whichever float32 row of that model came last."""
    from edgenets.bench.tables import quantisation_deltas

    def row(folder, precision, mean):
        return {"model": "m", "threads": 1, "device": "cpu", "delegate": None, "runtime": "litert", "status": "ok",
                "path": f"runs/m/{folder}/model_{precision}.tflite", "precision": precision, "size_bytes": 100,
                "metrics": {"accuracy": 0.9, "f1": 0.9}, "latency": {"mean_us": mean}, "memory": {}}

    rows = [row("export-a", "float32", 100.0), row("export-a", "int8", 50.0),
            row("export-b", "float32", 80.0), row("export-b", "int8", 40.0)]
    assert [d["float_mean_us"] for d in quantisation_deltas(rows)] == [100.0, 80.0]
    assert [d["speedup"] for d in quantisation_deltas(rows)] == [2.0, 2.0]


def test_every_rendering_says_the_input_size(bench_doc):
    """The results say what size the model takes: the summary's "input" column, the CSV's input_size, the JSON's
    input tensor and the evaluated images' shape."""
    from edgenets.bench.render import render_bench

    ok = _rows(bench_doc, status="ok")
    assert all(r["input"]["shape"][1:] == [28, 28, 1] and r["metrics"]["eval"]["image_shape"] == [28, 28, 1] for r in ok)
    for fmt in ("table", "md"):
        results = render_bench(bench_doc, fmt).split("results")[1]
        header = next(line for line in results.splitlines() if "precision" in line)
        assert " input " in header and results.count("28x28x1") == len(ok)
    rows = list(csv.DictReader(io.StringIO(render_bench(bench_doc, "csv"))))
    assert [r["input_size"] for r in rows] == [("28x28x1" if r["status"] == "ok" else "") for r in rows]


def test_choices_are_listed_in_help_and_reach_the_library_as_strings(run_cli, tiny_models, tmp_path):
    res = run_cli("bench", "--help")
    for choices in ("<cpu|cpu-ref>", "<auto|litert|tflite-runtime|tensorflow>", "<table|json|csv|md>", "<rgb|grey>"):
        assert choices in res.out.replace("\n", " ").replace("  ", " "), choices
    out = tmp_path / "r.json"
    res = run_cli("bench", tiny_models[("gap", "float32")], *FAST, "--device", "cpu-ref", "--runtime", "litert",
                  "--format", "csv", "--output", out)
    assert res.code == 0, res.err
    doc = json.loads(out.read_text())
    assert doc["environment"]["device"] == "cpu-ref" and doc["environment"]["runtime"] == "litert"
    assert type(doc["results"][0]["device"]) is str  # the JSON holds the value, not "Device.cpu_ref"
    assert res.out.startswith("hostname,cpu,")


def test_dataset_options_reach_the_loader_only_when_given(run_cli, bench_doc, tiny_models, mnist, tmp_path):
    """--color grey turns an RGB copy of the MNIST subset back into the images bench_doc measured (equal channels
    convert exactly), so the accuracy is the same; without it the 28x28x3 images do not fit: both shapes named."""
    from edgenets.data import stratified_indices

    idx = stratified_indices(mnist.y_test, LIMIT, seed=0)
    rgb = np.repeat(mnist.x_test[idx], 3, axis=-1)
    np.savez(tmp_path / "rgb.npz", x_train=rgb, y_train=mnist.y_test[idx], x_test=rgb, y_test=mnist.y_test[idx])
    model, fast = tiny_models[("gap", "float32")], ["--runs", "5", "--warmup", "0", "--min-seconds", "0", "--rounds", "1"]
    res = run_cli("bench", model, "--dataset", tmp_path / "rgb.npz", "--color", "grey", "--image-size", "28x28", *fast,
                  "--output", tmp_path / "grey.json")
    assert res.code == 0, res.err
    row = json.loads((tmp_path / "grey.json").read_text())["results"][0]
    assert row["metrics"]["eval"]["image_shape"] == [28, 28, 1]
    assert row["metrics"]["accuracy"] == _rows(bench_doc, precision="float32")[0]["metrics"]["accuracy"]
    res = run_cli("bench", model, "--dataset", tmp_path / "rgb.npz", *fast, "--output", tmp_path / "rgb.json")
    assert res.code == 1
    row = json.loads((tmp_path / "rgb.json").read_text())["results"][0]
    assert row["status"] == "error" and "28x28x1" in row["error"] and "28x28x3" in row["error"], row["error"]


def test_labels_are_matched_to_the_model_by_class_name():
    """A data set holding some of the model's classes, in its own order, is scored against the right outputs."""
    from pathlib import Path

    import numpy as np

    from edgenets.bench.runner import model_labels
    from edgenets.errors import InputError

    sidecar = {"labels": ["cat", "dog", "fox"]}
    data = {"class_names": ["dog", "fox"], "labels": np.array([0, 1, 1, 0])}
    labels, names = model_labels(Path("m.tflite"), sidecar, data)
    assert labels.tolist() == [1, 2, 2, 1] and names == ["cat", "dog", "fox"]
    unnamed = {"class_names": ["0", "1"], "labels": np.array([1, 0])}  # a CSV without names keeps its indices
    assert model_labels(Path("m.tflite"), sidecar, unnamed)[0].tolist() == [1, 0]
    with pytest.raises(InputError, match="classes owl are not among the model's 3 labels"):
        model_labels(Path("m.tflite"), sidecar, {"class_names": ["dog", "owl"], "labels": np.array([0, 1])})


def test_model_name_of_a_user_keras_export_is_the_keras_files_stem():
    from pathlib import Path

    from edgenets.bench.runner import model_name

    side = {"source": {"kind": "keras", "model": "colour_cnn", "model_keras": "/x/colour_cnn.keras"}}
    assert model_name(Path("/x/colour_cnn_export/model_int8.tflite"), side) == "colour_cnn"
    assert model_name(Path("/r/run1/export/model_int8.tflite"), {"source": {"run_dir": "/r/run1"}}) == "run1"
