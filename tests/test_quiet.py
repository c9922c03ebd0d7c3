"""Commands keep third-party start-up noise off stderr (TensorFlow's C++ log, LiteRT's delegate INFO line), keep
every line we or a runtime print for a reason, and show everything with EDGENETS_DEBUG=1.

The commands run in fresh processes with the environment a user has: without the TF_CPP_MIN_LOG_LEVEL and
TF_ENABLE_ONEDNN_OPTS that conftest sets for the in-process tests."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import numpy as np
import pytest
from tflite_builder import tiny_float_model

from edgenets import _quiet

# What the libraries print that a user cannot act on (TensorFlow 2.21, ai-edge-litert 2.3, tflite-runtime 2.14).
NOISE = ("oneDNN custom operations are on", "All log messages before absl::InitializeLog()", "cpu_feature_guard",
         "This TensorFlow binary is optimized", "Could not find cuda drivers", "Unable to register cu",
         "Created TensorFlow Lite XNNPACK delegate for CPU")
XNNPACK_LINE = "INFO: Created TensorFlow Lite XNNPACK delegate for CPU."


def _user_env(**extra: str) -> dict:
    env = {k: v for k, v in os.environ.items()
           if k not in ("TF_CPP_MIN_LOG_LEVEL", "TF_ENABLE_ONEDNN_OPTS", _quiet.DEBUG_ENV)}
    return {**env, **extra}


def _edgenets(*args, **env: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "edgenets", *map(str, args)], capture_output=True, text=True,
                          timeout=300, env=_user_env(**env))


def _noise(stderr: str) -> list[str]:
    return [line for line in stderr.splitlines() if any(n in line for n in NOISE)]


@pytest.fixture(scope="module")
def tiny_bench_inputs(tmp_path_factory):
    """A TensorFlow-free float model (28x28x1 -> 10 scores) and 40 labelled images for it."""
    root = tmp_path_factory.mktemp("quiet")
    rng = np.random.default_rng(0)
    x = rng.integers(0, 256, (40, 28, 28, 1), dtype=np.uint8)
    y = np.arange(40) % 10
    np.savez(root / "digits.npz", x_train=x, y_train=y, x_test=x, y_test=y)
    return tiny_float_model(root / "tiny.tflite"), root / "digits.npz"


def _bench(model, data, **env: str) -> subprocess.CompletedProcess:
    return _edgenets("bench", model, "--dataset", data, "--runs", 5, "--warmup", 1, "--min-seconds", 0.01, "--rounds", 1,
                     "--format", "json", **env)


def test_bench_prints_no_runtime_noise_and_debug_shows_it(tiny_bench_inputs):
    model, data = tiny_bench_inputs
    quiet = _bench(model, data)
    assert quiet.returncode == 0, quiet.stderr
    assert _noise(quiet.stderr) == [], quiet.stderr
    assert f"{model}: float32, 1 thread(s): accuracy" in quiet.stderr  # our own progress lines stay
    assert json.loads(quiet.stdout)["results"][0]["status"] == "ok"
    loud = _bench(model, data, EDGENETS_DEBUG="1")
    assert loud.returncode == 0, loud.stderr
    assert XNNPACK_LINE in loud.stderr.splitlines()  # the runtime does print it: the filter is what hides it


ENTRY_SCRIPT = r"""
import sys
from edgenets.cli import main

def run(*args):
    try:
        main(list(args))
    except SystemExit as exc:
        return exc.code

assert run("--version") == 0
import tensorflow as tf  # a bare import, as any command's code may do: the entry has set TensorFlow's log level
print(float(tf.reduce_sum(tf.ones((4, 4)))))
sys.exit(run(*sys.argv[1:]))
"""


def test_tensorflow_loading_commands_print_only_their_own_lines(tmp_path):
    # `edgenets report` reads model.keras with Keras (TensorFlow); a corrupt one ends the command after that
    # import with our one error line, and nothing from TensorFlow before it
    from edgenets import runconfig

    run = tmp_path / "run"
    run.mkdir()
    runconfig.write(run, {"model": "tiny", "dataset": "mnist", "seed": 0, "val_split": 0.1, "num_classes": 10,
                          "class_names": [str(i) for i in range(10)], "input_shape": [28, 28, 1]})
    (run / "metrics.json").write_text(json.dumps({"test": dict.fromkeys(["accuracy", "precision", "recall", "f1"], 0.5),
                                                  "training": {}}))
    (run / "model.keras").write_bytes(b"not a zip archive")
    proc = subprocess.run([sys.executable, "-c", ENTRY_SCRIPT, "report", str(run), "--out", str(tmp_path / "r")],
                          capture_output=True, text=True, timeout=300, env=_user_env())
    assert proc.returncode == 2, proc.stderr
    lines = proc.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"error: {run / 'model.keras'}: not a readable Keras model"), lines
    assert proc.stdout.splitlines()[-1] == "16.0"


FILTER_SCRIPT = r"""
import os, sys
from edgenets import _quiet
print("before", file=sys.stderr)
with _quiet.filtered_stderr() as filtered:
    os.write(2, b"INFO: Created TensorFlow Lite XNNPACK delegate for CPU.\n")
    os.write(2, b"ERROR: Node number 3 (TfLiteXNNPackDelegate) failed to prepare.\n")
    print("a warning we print ourselves", file=sys.stderr)
    os.write(2, b"no newline at the end")
print(f"\ndropped {filtered.dropped}", file=sys.stderr)
try:
    with _quiet.filtered_stderr():  # a native call that fails: its message still shows
        os.write(2, b"ERROR: failed to create XNNPACK runtime\n")
        raise RuntimeError("allocate_tensors failed")
except RuntimeError:
    print("raised", file=sys.stderr)
"""


@pytest.mark.parametrize("debug", ["", "1"])
def test_filtered_stderr_drops_only_known_noise_in_order(debug):
    proc = subprocess.run([sys.executable, "-c", FILTER_SCRIPT], capture_output=True, text=True, timeout=60,
                          env=_user_env(EDGENETS_DEBUG=debug))
    kept = ["ERROR: Node number 3 (TfLiteXNNPackDelegate) failed to prepare.", "a warning we print ourselves",
            "no newline at the end"]
    expected = ["before", *([XNNPACK_LINE] if debug else []), *kept, f"dropped {None if debug else 1}",
                "ERROR: failed to create XNNPACK runtime", "raised"]
    assert proc.returncode == 0 and proc.stderr.splitlines() == expected, proc.stderr


@pytest.mark.parametrize("debug, user, expected", [("", None, "2"), ("1", None, "0"), ("", "1", "1"), ("0", None, "2")])
def test_tensorflow_log_level_quiet_unless_debug_or_set_by_the_user(debug, user, expected):
    env = {_quiet.DEBUG_ENV: debug, **({"TF_CPP_MIN_LOG_LEVEL": user} if user else {})}
    _quiet.configure(env)
    assert env["TF_CPP_MIN_LOG_LEVEL"] == expected
    assert "TF_ENABLE_ONEDNN_OPTS" not in env  # numerics are not ours to change: only the messages go
