"""edgenets sweep end to end on a local Ray (real Ray Tune, real training, export and LiteRT bench): the front
and the recommendation equal ones computed independently from bench.json; a resumed sweep re-decides a new
budget from the same measurements without training again; bad input is one line and starts no Ray.

Each sweep runs as its own process with Ray's files in the test's folders (tests/sweeps.py).
"""

from __future__ import annotations

import json

import pytest
from conftest import assert_one_line_error
from sweeps import FAST_BENCH, best_within, brute_force_front, bench_points, ray_env, run_sweep, write_subset

pytest.importorskip("ray.tune", reason="edgenets[sweep] (Ray Tune) is not installed")

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def data(tmp_path_factory, mnist):
    return write_subset(mnist, tmp_path_factory.mktemp("data") / "mnist-subset.npz")


@pytest.fixture(scope="module")
def finished(tmp_path_factory, data):
    folder = tmp_path_factory.mktemp("sweep")
    env = ray_env(folder)
    out = folder / "sw"
    code, stdout, stderr = run_sweep(["--models", "mobilenet", "--alpha", "0.25,0.5", "--epochs", "1", "--dataset", data,
                                      "--cpus", "2", "--out", out, *FAST_BENCH], env, folder)
    assert code == 0, stderr
    return {"out": out, "env": env, "folder": folder, "stdout": stdout, "stderr": stderr, "data": data}


def _doc(out):
    return json.loads((out / "sweep.json").read_text())


def test_front_and_recommendation_equal_an_independent_computation(finished):
    out = finished["out"]
    doc = _doc(out)
    assert doc["schema"] == "edgenets.sweep/1"
    assert [t["status"] for t in doc["trials"]] == ["done", "done"]
    assert {t["alpha"] for t in doc["trials"]} == {0.25, 0.5}
    # every trial's run directory is a normal run at its width, its exports ready to copy
    for t in doc["trials"]:
        config = json.loads((out / "trials" / t["name"] / "config.json").read_text())
        assert config["settings"]["alpha"] == t["alpha"] and config["settings"]["epochs"] == 1
    points = bench_points(out)
    assert len(points) == 4  # 2 trials x float32, int8: all in one bench document (one interleaved run)
    bench = json.loads((out / "bench.json").read_text())
    assert bench["schema"] == "edgenets.bench/1" and bench["environment"]["rounds"] == 2
    for c in doc["candidates"]:  # the sweep's numbers are the bench's
        assert points[c["tflite"]] == (c["accuracy"], c["latency_us"], c["size_bytes"])
    assert {c["tflite"] for c in doc["decision"]["front"]} == brute_force_front(points)
    assert doc["decision"]["recommended"]["tflite"] == best_within(points)
    # Ray stayed on loopback; the table and the file to ship are printed
    assert doc["ray"]["node_ips"] == ["127.0.0.1"] and doc["ray"]["nodes"] == 1
    assert "recommended mobilenet" in finished["stdout"] and "ship: " in finished["stdout"]
    assert (out / "front.png").stat().st_size > 0 and "| model" in (out / "sweep.md").read_text()
    assert "Traceback" not in finished["stderr"]


def test_resume_with_a_budget_decides_again_from_the_same_measurements(finished):
    out, points = finished["out"], bench_points(finished["out"])
    trained = {p: p.stat().st_mtime_ns for p in (out / "trials").glob("*/model.keras")}
    bench_bytes = (out / "bench.json").read_bytes()
    latencies = sorted(v[1] for v in points.values())
    sizes = sorted(v[2] for v in points.values())
    limit_us, limit_kb = latencies[2], sizes[2] / 1024  # two or three of four fit each limit
    code, stdout, stderr = run_sweep(["--resume", out, "--max-latency-us", limit_us, "--max-size-kb", limit_kb],
                                     finished["env"], finished["folder"])
    assert code == 0, stderr
    assert "latencies from" in stderr and (out / "bench.json").read_bytes() == bench_bytes
    assert {p: p.stat().st_mtime_ns for p in trained} == trained  # no trial trained again
    doc = _doc(out)
    expected = best_within(points, limit_us, limit_kb)
    assert (doc["decision"]["recommended"] or {}).get("tflite") == expected
    fitting = {p for p, v in points.items() if v[1] <= limit_us and v[2] <= limit_kb * 1024}
    assert {c["tflite"] for c in doc["decision"]["fitting"]} == fitting

    # other bench settings: measured again, not reused
    code, stdout, stderr = run_sweep(["--resume", out, "--rounds", "3"], finished["env"], finished["folder"])
    assert code == 0, stderr
    assert "benchmarking 4 candidate(s)" in stderr and "latencies from" not in stderr
    assert json.loads((out / "bench.json").read_text())["environment"]["rounds"] == 3
    points = bench_points(out)

    # a budget nothing meets is an answer, not an error: the closest, by relative overshoot
    code, stdout, stderr = run_sweep(["--resume", out, "--max-latency-us", "0.5"], finished["env"], finished["folder"])
    assert code == 0, stderr
    doc = _doc(out)
    assert doc["decision"]["recommended"] is None and "no candidate fits p50 <= 0.5 us" in stdout
    fastest = min(points, key=lambda p: (points[p][1], -points[p][0]))
    assert doc["decision"]["closest"][0]["tflite"] == fastest


@pytest.mark.parametrize("args, fragment", [
    (["--models", "nosuchnet"], "--models"),
    (["--models", "mobilenet", "--alpha", "0"], "--alpha"),
    (["--models", "mobilenet", "--alpha", "0.5,,1"], "--alpha"),
    (["--models", "mobilenet", "--precisions", "int4"], "--precisions"),
    (["--models", "mobilenet", "--search", "random"], "--num-samples"),
    (["--models", "mobilenet", "--max-latency-us", "-3"], "--max-latency-us"),
    (["--models", "mobilenet", "--early-stop", "hyperband"], "--early-stop"),
    (["--models", "mobilenet", "--cpus-per-trial", "0"], "--cpus-per-trial"),
    (["--models", "mobilenet", "--address", "nowhere"], "--address"),
    (["--models", "mobilenet", "--remote-venv", "/x"], "--remote"),
    (["--alpha", "0.5"], "--models"),
    ([], "search space"),
    (["--rebench"], "--resume"),
    (["--models", "mobilenet", "--cpus-per-trial", "64"], "--cpus-per-trial 64"),
])
def test_bad_input_is_one_line_and_writes_nothing(tmp_path, run_cli, args, fragment):
    out = tmp_path / "sw"
    assert_one_line_error(run_cli("sweep", *args, "--out", out), fragment)
    assert not out.exists()


def test_an_unreachable_address_fails_in_seconds(tmp_path, run_cli):
    import socket
    import time

    with socket.socket() as s:  # a port nothing listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    started = time.perf_counter()
    res = run_cli("sweep", "--models", "mobilenet", "--address", f"127.0.0.1:{port}", "--out", tmp_path / "sw")
    assert_one_line_error(res, f"--address 127.0.0.1:{port}", "cannot reach")
    assert time.perf_counter() - started < 20 and not (tmp_path / "sw").exists()


def test_resume_and_force_refuse_what_is_not_a_sweep(tmp_path, run_cli):
    folder = tmp_path / "notasweep"
    folder.mkdir()
    (folder / "keep.txt").write_text("mine")
    assert_one_line_error(run_cli("sweep", "--resume", folder), "not a sweep directory")
    assert_one_line_error(run_cli("sweep", "--models", "mobilenet", "--out", folder), "--resume")
    assert_one_line_error(run_cli("sweep", "--models", "mobilenet", "--out", folder, "--force"), "not a sweep directory")
    assert (folder / "keep.txt").read_text() == "mine"


def test_without_ray_the_error_names_the_extra(tmp_path, run_cli, monkeypatch):
    import sys

    monkeypatch.setitem(sys.modules, "ray", None)  # `import ray` now raises ImportError
    res = run_cli("sweep", "--models", "mobilenet", "--out", tmp_path / "sw")
    assert_one_line_error(res, 'pip install "edgenets[sweep]"', code=1)
    assert not (tmp_path / "sw").exists()


def test_report_puts_the_sweep_first_and_covers_every_trial(finished, run_cli, tmp_path):
    out = finished["out"]
    res = run_cli("report", "--sweep", out, "--out", tmp_path / "report")
    assert res.code == 0, res.err
    text = (tmp_path / "report" / "index.md").read_text()
    doc = _doc(out)
    assert text.index("Which model to ship") < text.index("The answer: float32 vs int8")
    assert doc["decision"]["summary"] in text and (tmp_path / "report" / "sweep_front.png").stat().st_size > 0
    for t in doc["trials"]:  # every finished trial is a run of the report, its float32 and int8 paired
        assert f"| {t['name']} " in text
    assert_one_line_error(run_cli("report", "--out", tmp_path / "r2"), "--sweep")
    assert_one_line_error(run_cli("report", "--sweep", tmp_path, "--out", tmp_path / "r3"), "no sweep results")



def test_a_space_file_and_options_errors_name_where_the_value_came_from(tmp_path, run_cli):
    space = tmp_path / "space.json"
    space.write_text(json.dumps({"alpha": [0.5, 0], "epochs": 2}))
    out = tmp_path / "sw"
    res = run_cli("sweep", "--space", space, "--models", "mobilenet", "--epochs", "3", "--out", out)
    assert_one_line_error(res, f"{space}: alpha")  # the file's bad value, named in the file
    space.write_text(json.dumps({"models": ["mobilenet"], "alpha": [0.5]}))
    assert_one_line_error(run_cli("sweep", "--space", space, "--alpha", "-1", "--out", out), "--alpha")
    space.write_text(json.dumps({"models": ["mobilenet"], "colour": "rgb"}))
    assert_one_line_error(run_cli("sweep", "--space", space, "--epochs", "2", "--out", out), str(space), "colour")
    assert not out.exists()
