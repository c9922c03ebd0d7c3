"""Interruptions (SIGINT / SIGTERM) at any moment leave no partial files behind."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from edgenets.data import BUILTINS
from edgenets._io import sha256_file


def _default_sigint() -> None:
    # A test run started in the background (`make test &`, nohup, some CI shells) inherits SIGINT
    # as *ignored*, and Python then never installs its Ctrl-C handler: the child would sleep
    # through the signal this module sends. Give the child the terminal-like default back.
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def _start(args: list[str], env: dict) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "edgenets", *args], env={**os.environ, **env},
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, preexec_fn=_default_sigint,
    )


@pytest.mark.slow
@pytest.mark.parametrize("sig, delay", [(signal.SIGINT, 0.8), (signal.SIGTERM, 1.6), (signal.SIGTERM, 2.4)])
def test_fetch_interrupted_leaves_only_verified_files(tmp_path, sig, delay):
    proc = _start(["data", "fetch", "mnist"], {"EDGENETS_HOME": str(tmp_path)})
    time.sleep(delay)
    proc.send_signal(sig)
    out, err = proc.communicate(timeout=60)
    folder = tmp_path / "datasets" / "mnist"
    if proc.returncode == 0:  # it finished before the signal: everything must verify
        assert len(list(folder.iterdir())) == 4
    else:
        # 130, or -SIGINT: CPython reports "ended by SIGINT" when the interrupt surfaced inside an
        # import (as test_signal_while_the_cli_is_still_importing_is_one_line shows); either way the
        # one line below and no traceback
        assert proc.returncode in (130, -signal.SIGINT), (proc.returncode, err)
        assert err.strip().splitlines()[-1] == "error: interrupted"
        assert "Traceback" not in err
    leftovers = [p.name for p in folder.glob("*")] if folder.exists() else []
    for name in leftovers:
        assert name in BUILTINS["mnist"].sha256, f"partial file left behind: {name}"
        assert sha256_file(folder / name) == BUILTINS["mnist"].sha256[name]
    # and the next run completes from where it stopped
    done = subprocess.run([sys.executable, "-m", "edgenets", "data", "fetch", "mnist"],
                          env={**os.environ, "EDGENETS_HOME": str(tmp_path)}, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert sorted(p.name for p in folder.iterdir()) == sorted(BUILTINS["mnist"].sha256)


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
def test_signal_while_the_cli_is_still_importing_is_one_line(sig):
    """A signal while the CLI's own modules (typer, rich, numpy) import is no traceback either.

    The signal is sent as soon as ``-X importtime`` reports the first module that ``edgenets.cli``'s
    import pulled in (the first line after ``edgenets._entry``): the rest of typer, rich and the CLI
    take another ~100 ms to import, and `models` then imports TensorFlow, so the signal lands in
    edgenets' own start-up. (A fixed delay is not enough: on a loaded machine it can land while
    CPython is still starting, before any code of ours runs, where CPython ends with its own
    "Fatal Python error: init_import_site".)
    """
    proc = subprocess.Popen([sys.executable, "-X", "importtime", "-m", "edgenets", "models"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, preexec_fn=_default_sigint)
    seen = []
    for line in proc.stderr:
        seen.append(line)
        if len(seen) > 1 and seen[-2].split("|")[-1].strip() == "edgenets._entry":
            break
    else:
        proc.wait()
        pytest.fail(f"never saw an import after edgenets._entry (exit {proc.returncode}): {''.join(seen[-20:])}")
    assert not any("edgenets.cli" in line for line in seen)  # still inside the CLI's import
    proc.send_signal(sig)
    _, err = proc.communicate(timeout=120)
    # 130, or Python's own "ended by SIGINT" status when the interrupt surfaced inside an import
    assert proc.returncode in (130, -signal.SIGINT), (proc.returncode, err[-2000:])
    assert "Traceback" not in err, err[-2000:]
    assert err.strip().splitlines()[-1] == "error: interrupted"


# ----------------------------------------------------------------------------- train, export, bench


def _wait_for(predicate, proc: subprocess.Popen, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if proc.poll() is not None:
            out, err = proc.communicate()
            raise AssertionError(f"process ended early ({proc.returncode}): {err[-2000:]}")
        if time.monotonic() > deadline:
            proc.kill()
            raise AssertionError("timed out waiting for the process to get there")
        time.sleep(0.2)


def _no_partial_files(folder: Path) -> None:
    leftovers = [p for p in folder.rglob("*") if ".part" in p.name]  # x.part and x.part.keras
    assert not leftovers, f"partial files left behind: {leftovers}"


@pytest.fixture(scope="module")
def small_npz(tmp_path_factory, mnist_small):
    path = tmp_path_factory.mktemp("data") / "small.npz"
    np.savez(path, x_train=mnist_small.x_train[:800], y_train=mnist_small.y_train[:800],
             x_test=mnist_small.x_test[:200], y_test=mnist_small.y_test[:200])
    return path


@pytest.mark.slow
def test_train_killed_mid_epoch_resumes_from_the_last_completed_epoch(tmp_path, small_npz):
    run = tmp_path / "k"
    args = ["train", "--model", "shufflenet", "--dataset", str(small_npz), "--epochs", "3", "--batch-size", "32",
            "--out", str(tmp_path), "--name", "k", "--quiet"]
    proc = _start(args, {})
    state = run / "checkpoints" / "state.json"
    _wait_for(lambda: state.is_file(), proc, timeout=240)  # epoch 1 committed
    time.sleep(0.5)  # into epoch 2
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 130, err[-2000:]
    assert "edgenets train --resume" in err and "Traceback" not in err
    _no_partial_files(run)
    done = json.loads(state.read_text())["epochs_done"]
    assert 1 <= done < 3
    resumed = subprocess.run([sys.executable, "-m", "edgenets", "train", "--resume", str(run), "--quiet"],
                             capture_output=True, text=True, timeout=600)
    assert resumed.returncode == 0, resumed.stderr[-2000:]
    history = (run / "history.csv").read_text().strip().splitlines()
    assert [line.split(",")[0] for line in history[1:]] == ["1", "2", "3"]
    assert (run / "metrics.json").is_file()
    _no_partial_files(run)


@pytest.mark.slow
def test_bench_killed_writes_no_results_file(tmp_path, small_npz):
    from edgenets.export.convert import to_tflite
    from edgenets.models import create_model

    model = tmp_path / "m.tflite"
    model.write_bytes(to_tflite(create_model("shufflenet"), "float32"))
    out = tmp_path / "results.json"
    proc = _start(["bench", str(model), "--dataset", str(small_npz), "--runs", "10000000", "--min-seconds", "120",
                   "--output", str(out)], {})
    time.sleep(8)
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, err[-2000:]
    assert err.strip().splitlines()[-1] == "error: interrupted"
    assert not out.exists()
    _no_partial_files(tmp_path)


@pytest.mark.slow
def test_export_killed_leaves_only_complete_files(tmp_path, mnist):
    from edgenets.train import train_run

    # 5,000 test images: each written model is verified on them (about a second apiece), so the
    # signal sent when the first file appears lands while the others are still being written
    data = tmp_path / "data.npz"
    np.savez(data, x_train=mnist.x_train[:800], y_train=mnist.y_train[:800],
             x_test=mnist.x_test[:5000], y_test=mnist.y_test[:5000])
    train_run("shufflenet", str(data), epochs=1, batch_size=64, out=tmp_path, name="r", quiet=True, log=lambda m: None)
    run = tmp_path / "r"
    proc = _start(["export", str(run), "--int8", "--float16", "--dynamic", "--calib-samples", "100"], {})
    export = run / "export"
    _wait_for(lambda: (export / "model_float32.tflite").is_file(), proc, timeout=240)  # mid-way: float32 is out
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=120)
    if proc.returncode == 0:
        pytest.skip("export finished before the signal arrived")
    assert proc.returncode == 130, err[-2000:]
    assert "Traceback" not in err
    _no_partial_files(export)
    sidecars = sorted(export.glob("model_*.json"))
    for sidecar in sidecars:  # every sidecar describes a complete model file
        doc = json.loads(sidecar.read_text())
        assert sha256_file(export / doc["file"]) == doc["sha256"]
    # export.json is written last: present only if the signal came after the last write (while the
    # tables were printing), and then it lists four complete models
    summary = export / "export.json"
    if summary.exists():
        listed = {m["file"]: m["sha256"] for m in json.loads(summary.read_text())["models"]}
        assert len(listed) == 4 == len(sidecars)
        assert all(sha256_file(export / f) == h for f, h in listed.items())
