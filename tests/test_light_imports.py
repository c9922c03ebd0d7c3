"""The device side stays light: importing edgenets and asking any command for help never imports TensorFlow,
and `edgenets bench` / `compare` / `predict` run without scikit-learn, scipy, pandas or pillow (the board install,
`pip install "edgenets[device]"`, has none of them; predict needs pillow for image files only)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

# what the device side must never import: TensorFlow and friends, and the libraries the board install left out
HEAVY = ("tensorflow", "keras", "tf_keras", "jax", "torch")
NOT_ON_THE_BOARD = ("sklearn", "scipy", "pandas", "PIL")

PROBE = r"""
import json, sys
from edgenets.cli import main, app
import typer.main
group = typer.main.get_command(app)
commands = sorted(group.commands)
helps = [[], *[[name, "--help"] for name in commands]]
for args in helps:
    try:
        main(args + ["--help"] if not args else args)
    except SystemExit as exc:
        assert exc.code in (0, None), (args, exc.code)
heavy = sorted(m for m in sys.modules if m.split(".")[0] in sys.argv[1].split(","))
print(json.dumps({"commands": commands, "heavy": heavy}))
"""


def test_help_of_every_command_imports_no_tensorflow():
    proc = subprocess.run([sys.executable, "-c", PROBE, ",".join(HEAVY + NOT_ON_THE_BOARD)],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    report = json.loads(proc.stdout.strip().splitlines()[-1])
    assert "data" in report["commands"]
    assert report["heavy"] == []


# the modules themselves, not lazy package __init__s: what `edgenets bench` / `compare` really load
DEVICE_SIDE = ["edgenets.cli", "edgenets.data", "edgenets.formats", "edgenets.commands.bench", "edgenets.bench.runner",
               "edgenets.bench.render", "edgenets.bench.evaluate", "edgenets.bench.probe", "edgenets.bench.results",
               "edgenets.bench.runtime", "edgenets.bench.tables", "edgenets.bench.latency", "edgenets.bench.ops",
               "edgenets.bench.memory", "edgenets.data.split", "edgenets.data.loaders", "edgenets.train.metrics",
               "edgenets.export.verify", "edgenets.inference.tensors", "edgenets.inference.batching",
               "edgenets.inference.metrics", "edgenets.inference.litert", "edgenets.predict", "edgenets.commands.predict"]


@pytest.mark.parametrize("module", DEVICE_SIDE)
def test_device_side_modules_import_without_tensorflow(module):
    code = f"import importlib, sys; importlib.import_module({module!r}); " \
           f"print(sorted(m for m in sys.modules if m.split('.')[0] in {HEAVY + NOT_ON_THE_BOARD!r}))"
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    if "ModuleNotFoundError" in proc.stderr and module.split(".")[-1] in proc.stderr:
        pytest.fail(f"{module} does not exist")
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "[]"


# Installed in every process of the run (the bench probes models in child processes) through
# PYTHONPATH: importing a blocked package fails as if it were not installed, and every attempt is
# logged, so a `try: import pandas` that falls back quietly is caught too.
BLOCKER = r"""
import os, sys
_BLOCKED = set(os.environ["EDGENETS_TEST_BLOCK"].split(","))
_LOG = os.environ["EDGENETS_TEST_BLOCK_LOG"]

class _Blocker:
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in _BLOCKED:
            with open(_LOG, "a") as log:
                log.write(name + "\n")
            raise ModuleNotFoundError(f"No module named {name!r} (blocked by the test)", name=name)
        return None

sys.meta_path.insert(0, _Blocker())
"""


def _run_blocked(tmp_path: Path, *args: str, timeout: int = 300):
    site = tmp_path / "blocker"
    site.mkdir(exist_ok=True)
    (site / "sitecustomize.py").write_text(BLOCKER)
    log = tmp_path / "blocked-imports.log"
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(site), os.environ.get("PYTHONPATH", "")]).rstrip(os.pathsep),
           "EDGENETS_TEST_BLOCK": ",".join(HEAVY + NOT_ON_THE_BOARD), "EDGENETS_TEST_BLOCK_LOG": str(log)}
    proc = subprocess.run([sys.executable, "-m", "edgenets", *args], capture_output=True, text=True,
                          timeout=timeout, env=env, cwd=tmp_path)
    attempted = sorted(set(log.read_text().split())) if log.exists() else []
    return proc, attempted


def test_the_blocker_blocks(tmp_path):
    """The harness itself: with pandas blocked, `import pandas` fails and is logged."""
    site = tmp_path / "blocker"
    site.mkdir()
    (site / "sitecustomize.py").write_text(BLOCKER)
    log = tmp_path / "log"
    env = {**os.environ, "PYTHONPATH": str(site), "EDGENETS_TEST_BLOCK": "pandas", "EDGENETS_TEST_BLOCK_LOG": str(log)}
    proc = subprocess.run([sys.executable, "-c", "import pandas"], capture_output=True, text=True, env=env, timeout=60)
    assert proc.returncode != 0 and "blocked by the test" in proc.stderr
    assert log.read_text().split() == ["pandas"]


def test_bench_and_compare_run_without_tensorflow_sklearn_scipy_pandas_pillow(tmp_path):
    """The board's code path end to end: a CSV data set, a stratified --limit (the sklearn-free draw),
    evaluation metrics (numpy), latency, the results file, then compare of two results files."""
    pytest.importorskip("ai_edge_litert")
    pytest.importorskip("flatbuffers")
    from tflite_builder import tiny_float_model

    from edgenets.data import save_csv

    models = []
    for name, fixed in (("fixed", True), ("resizable", False)):
        (tmp_path / name).mkdir()
        models.append(tiny_float_model(tmp_path / name / "model_float32.tflite", fixed_batch=fixed))
    rng = np.random.RandomState(0)
    labels = np.arange(200) % 10
    save_csv(tmp_path / "digits.csv", rng.randint(0, 256, size=(200, 28, 28, 1)).astype(np.uint8), labels)
    fast = ["--runs", "5", "--warmup", "0", "--min-seconds", "0", "--rounds", "2"]
    for out in ("a.json", "b.json"):
        proc, attempted = _run_blocked(tmp_path, "bench", *map(str, models), "--dataset", str(tmp_path / "digits.csv"),
                                       "--limit", "100", *fast, "--output", str(tmp_path / out))
        assert proc.returncode == 0, proc.stderr
        assert attempted == [], attempted
    doc = json.loads((tmp_path / "a.json").read_text())
    rows = doc["results"]
    assert [r["status"] for r in rows] == ["ok", "ok"]
    assert [r["metrics"]["eval"]["images"] for r in rows] == [100, 100]
    assert {r["metrics"]["eval"]["batch"] for r in rows} == {1, 64}  # the fixed-batch model fell back to batch 1
    for row in rows:
        assert sum(map(sum, row["metrics"]["confusion_matrix"])) == 100
        assert [c["support"] for c in row["metrics"]["per_class"]] == [10] * 10  # --limit kept the class balance
    proc, attempted = _run_blocked(tmp_path, "compare", str(tmp_path / "a.json"), str(tmp_path / "b.json"),
                                   "--format", "csv")
    assert proc.returncode == 0, proc.stderr
    assert attempted == [], attempted


def test_image_folder_on_a_light_install_is_a_one_line_install_hint(tmp_path):
    pytest.importorskip("ai_edge_litert")
    pytest.importorskip("flatbuffers")
    from tflite_builder import tiny_float_model

    (tmp_path / "m").mkdir()
    model = tiny_float_model(tmp_path / "m" / "model_float32.tflite")
    (tmp_path / "images" / "0").mkdir(parents=True)
    (tmp_path / "images" / "0" / "a.png").write_bytes(b"not opened: the hint comes first")
    proc, attempted = _run_blocked(tmp_path, "bench", str(model), "--dataset", str(tmp_path / "images"),
                                   "--runs", "5", "--warmup", "0", "--min-seconds", "0")
    assert proc.returncode == 1, (proc.stdout, proc.stderr)
    lines = [line for line in proc.stderr.splitlines() if line.strip() and not line.startswith("INFO:")]
    assert len(lines) == 1 and lines[0].startswith("error: ") and "Traceback" not in proc.stderr, proc.stderr
    assert 'pip install "edgenets[images]"' in lines[0]
    assert attempted and set(attempted) <= {"PIL", "PIL.Image"}, attempted


def test_predict_runs_without_tensorflow_sklearn_scipy_pandas_pillow(tmp_path):
    """predict on a CSV and an NPZ (no image decoding) on the board's install: nothing heavy is even tried; an
    image file there is one line with the install hint."""
    pytest.importorskip("ai_edge_litert")
    pytest.importorskip("flatbuffers")
    from tflite_builder import tiny_float_model

    (tmp_path / "m").mkdir()
    model = tiny_float_model(tmp_path / "m" / "model_float32.tflite", fixed_batch=False)
    rng = np.random.RandomState(0)
    images = rng.randint(0, 256, size=(20, 28, 28, 1)).astype(np.uint8)
    np.savetxt(tmp_path / "rows.csv", images.reshape(20, -1), fmt="%d", delimiter=",")
    np.savez(tmp_path / "images.npz", x=images)
    out = tmp_path / "p.json"
    proc, attempted = _run_blocked(tmp_path, "predict", str(model), str(tmp_path / "rows.csv"),
                                   str(tmp_path / "images.npz"), "--output", str(out))
    assert proc.returncode == 0, proc.stderr
    assert attempted == [], attempted
    doc = json.loads(out.read_text())
    top1 = [p["top"][0]["index"] for p in doc["predictions"]]
    assert len(top1) == 40 and top1[:20] == top1[20:]
    (tmp_path / "a.png").write_bytes(b"not opened: the hint comes first")
    proc, attempted = _run_blocked(tmp_path, "predict", str(model), str(tmp_path / "a.png"))
    assert proc.returncode == 1, (proc.stdout, proc.stderr)
    lines = [line for line in proc.stderr.splitlines() if line.strip() and not line.startswith("INFO:")]
    assert len(lines) == 1 and lines[0].startswith("error: ") and 'pip install "edgenets[images]"' in lines[0]
