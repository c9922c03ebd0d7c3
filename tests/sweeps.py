"""Helpers for the sweep tests: a real `edgenets sweep` in a subprocess, with Ray kept to a test folder, and
the answers computed independently of edgenets.sweep (brute-force dominance over bench.json's rows)."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

# one epoch on a 1,200-image MNIST subset; few timing runs: these tests check the plumbing, not the speed
FAST_BENCH = ["--min-seconds", "0.1", "--rounds", "2", "--runs", "20", "--warmup", "2"]


def write_subset(mnist, path: Path, train: int = 1200, test: int = 300) -> Path:
    from edgenets.data import stratified_indices

    tr = stratified_indices(mnist.y_train, train, seed=1)
    te = stratified_indices(mnist.y_test, test, seed=1)
    np.savez(path, x_train=mnist.x_train[tr, ..., 0], y_train=mnist.y_train[tr],
             x_test=mnist.x_test[te, ..., 0], y_test=mnist.y_test[te])
    return path


def ray_env(folder: Path) -> dict:
    """Ray's token (HOME/.ray) and session files (RAY_TMPDIR) in a folder the test owns; no usage statistics.
    RAY_TMPDIR is short (/tmp/...): Ray's socket paths must fit in 107 bytes."""
    home = Path(folder) / "home"
    home.mkdir(parents=True, exist_ok=True)
    from edgenets.data.cache import home as data_home

    env = dict(os.environ)
    # a fresh name, not created: Ray creates it, and run_sweep removes it after each run (nothing left behind)
    ray_tmp = tempfile.mkdtemp(prefix="edgenets-ray-", dir="/tmp")
    os.rmdir(ray_tmp)
    env.update(HOME=str(home), RAY_TMPDIR=ray_tmp, RAY_USAGE_STATS_ENABLED="0",
               EDGENETS_HOME=str(data_home()), PYTHONUNBUFFERED="1", TF_CPP_MIN_LOG_LEVEL="3")
    return env


class Sweep:
    """`edgenets sweep ARGS` as its own process group (so the test ends exactly what it started)."""

    def __init__(self, args, env: dict, log_dir: Path):
        self.out_path = Path(log_dir) / "stdout.txt"
        self.err_path = Path(log_dir) / "stderr.txt"
        self._out, self._err = open(self.out_path, "w"), open(self.err_path, "w")
        self.proc = subprocess.Popen([sys.executable, "-m", "edgenets", "sweep", *map(str, args)], env=env,
                                     stdout=self._out, stderr=self._err, start_new_session=True)

    def wait(self, timeout: float = 600) -> int:
        try:
            return self.proc.wait(timeout=timeout)
        finally:
            self.close()

    @property
    def err(self) -> str:
        return self.err_path.read_text()

    @property
    def out(self) -> str:
        return self.out_path.read_text()

    def close(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        try:  # whatever Ray left in the group this test created (nothing, when the sweep shut Ray down)
            os.killpg(self.proc.pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass
        self._out.close()
        self._err.close()


def run_sweep(args, env: dict, log_dir: Path, timeout: float = 600) -> tuple[int, str, str]:
    sweep = Sweep(args, env, log_dir)
    code = sweep.wait(timeout)
    shutil.rmtree(env["RAY_TMPDIR"], ignore_errors=True)  # Ray's session files: the next run makes new ones
    return code, sweep.out, sweep.err


def bench_points(sweep_dir: Path) -> dict[str, tuple[float, float, int]]:
    """bench.json's ok rows: path -> (accuracy, p50 us, size bytes), straight from the bench document."""
    doc = json.loads((Path(sweep_dir) / "bench.json").read_text())
    return {r["path"]: (r["metrics"]["accuracy"], r["latency"]["p50_us"], r["size_bytes"])
            for r in doc["results"] if r["status"] == "ok"}


def brute_force_front(points: dict[str, tuple[float, float, int]]) -> set[str]:
    """Paths no other point dominates (accuracy max, latency min, size min): every pair compared."""
    def dominates(a, b):
        better_or_equal = a[0] >= b[0] and a[1] <= b[1] and a[2] <= b[2]
        return better_or_equal and a != b

    return {p for p, v in points.items() if not any(dominates(w, v) for q, w in points.items() if q != p)}


def best_within(points: dict, max_latency_us=None, max_size_kb=None):
    """The most accurate point within the limits; ties to the faster, then the smaller."""
    fitting = [(p, v) for p, v in points.items()
               if (max_latency_us is None or v[1] <= max_latency_us) and (max_size_kb is None or v[2] <= max_size_kb * 1024)]
    if not fitting:
        return None
    return min(fitting, key=lambda pv: (-pv[1][0], pv[1][1], pv[1][2]))[0]
