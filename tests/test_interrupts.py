"""Interruptions (SIGINT / SIGTERM) at any moment leave no partial files behind."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from edgenets.data import BUILTINS
from edgenets._io import sha256_file


def _start(args: list[str], env: dict) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "edgenets", *args], env={**os.environ, **env},
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
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
        assert proc.returncode == 130, err
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
