"""A sweep stopped mid-way resumes without training its finished trials again; a Ray cluster of two nodes
(started and stopped by the test, on loopback only) runs a sweep through --address.

Real Ray, real processes: the sweep is its own process group; the cluster lives in its own network and PID
namespaces (`unshare -n -p`), so it listens on nothing but that namespace's loopback and every process of it
ends with the namespace.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from sweeps import FAST_BENCH, Sweep, bench_points, brute_force_front, ray_env, run_sweep, write_subset

pytest.importorskip("ray.tune", reason="edgenets[sweep] (Ray Tune) is not installed")

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def data(tmp_path_factory, mnist):
    return write_subset(mnist, tmp_path_factory.mktemp("data") / "mnist-subset.npz")


def _starts(log: Path) -> int:
    """How many times a trial ran: its log gets one 'trial ID: {...}' line per start."""
    return sum(1 for line in log.read_text().splitlines() if line.split(" ", 2)[1:2] == ["trial"])


def test_a_stopped_sweep_resumes_without_training_finished_trials_again(tmp_path, data):
    env = ray_env(tmp_path)
    out = tmp_path / "sw"
    args = ["--models", "mobilenet", "--alpha", "0.25,0.5", "--epochs", "1", "--dataset", data, "--cpus", "2",
            "--max-concurrent", "1", "--out", out, *FAST_BENCH]
    sweep = Sweep(args, env, tmp_path)
    try:
        deadline = time.monotonic() + 300
        # the second trial has started: with one trial at a time, Ray Tune has recorded the first as finished
        # (its last report alone is not enough: a trial stopped between that report and Tune's record of its
        # end is run again on resume -- and then skips its work, which the kept files below would show)
        while "[2/2]" not in sweep.err:
            assert sweep.proc.poll() is None and time.monotonic() < deadline, sweep.err
            time.sleep(0.5)
        os.kill(sweep.proc.pid, signal.SIGTERM)  # what `kill` and job schedulers send
        code = sweep.proc.wait(timeout=120)
    finally:
        sweep.close()
        shutil.rmtree(env["RAY_TMPDIR"], ignore_errors=True)
    assert code == 130, sweep.err
    assert f"edgenets sweep --resume {out}" in sweep.err and "Traceback" not in sweep.err
    assert not (out / "sweep.json").exists()
    finished = [d for d in (out / "trials").iterdir() if (d / "export" / "export.json").is_file()]
    assert len(finished) == 1
    kept = {p: p.stat().st_mtime_ns for p in finished[0].rglob("*") if p.is_file()}

    resume = sweep.err.split("Continue with: ")[1].split()  # the command exactly as printed
    assert resume == ["edgenets", "sweep", "--resume", str(out)]
    code, stdout, stderr = run_sweep(resume[2:], env, tmp_path)
    assert code == 0, stderr
    doc = json.loads((out / "sweep.json").read_text())
    assert [t["status"] for t in doc["trials"]] == ["done", "done"]
    assert {p: p.stat().st_mtime_ns for p in kept} == kept  # the finished trial: not a file touched
    assert _starts(out / "trials" / f"{finished[0].name}.log") == 1  # and Ray Tune did not even start it again
    assert {c["tflite"] for c in doc["decision"]["front"]} == brute_force_front(bench_points(out))


def _can_unshare() -> str:
    if os.geteuid() != 0:
        return "needs root for network and PID namespaces (unshare -n -p)"
    for tool in ("unshare", "ip"):
        if shutil.which(tool) is None:
            return f"needs {tool}"
    probe = subprocess.run(["unshare", "-n", "-p", "-f", "--mount-proc", "true"], capture_output=True)
    return "" if probe.returncode == 0 else f"unshare failed: {probe.stderr.decode(errors='replace').strip()}"


CLUSTER = r"""
set -u
ip link set lo up
export RAY_AUTH_MODE=token   # nodes join with the cluster's token (HOME/.ray/auth_token)
"$BIN/ray" get-auth-token --generate >/dev/null 2>&1
"$BIN/ray" start --head --node-ip-address=127.0.0.1 --port=6390 --num-cpus=1 --include-dashboard=false \
    --disable-usage-stats >"$LOGS/head.log" 2>&1 || { echo "head failed"; exit 3; }
"$BIN/ray" start --address=127.0.0.1:6390 --node-ip-address=127.0.0.1 --num-cpus=1 --disable-usage-stats \
    >"$LOGS/worker.log" 2>&1 || { echo "worker failed"; exit 3; }
"$PY" -m edgenets sweep --address 127.0.0.1:6390 "$@" >"$LOGS/stdout.txt" 2>"$LOGS/stderr.txt"
code=$?
"$BIN/ray" stop >"$LOGS/stop.log" 2>&1   # in this PID namespace it sees only this cluster
rm -f "$RAY_TMPDIR/ray/ray_current_cluster"
exit $code
"""


def test_a_two_node_cluster_runs_the_sweep_through_address(tmp_path, data):
    reason = _can_unshare()
    if reason:
        pytest.skip(reason)
    env = ray_env(tmp_path)
    env.update(BIN=str(Path(sys.executable).parent), PY=sys.executable, LOGS=str(tmp_path))
    out = tmp_path / "sw"
    args = ["--models", "mobilenet", "--alpha", "0.25,0.5", "--epochs", "1", "--dataset", str(data), "--out", str(out),
            *FAST_BENCH]
    try:
        done = subprocess.run(["unshare", "-n", "-p", "-f", "--mount-proc", "bash", "-c", CLUSTER, "cluster", *args],
                              env=env, capture_output=True, text=True, timeout=600)
    finally:
        shutil.rmtree(env["RAY_TMPDIR"], ignore_errors=True)
    stderr = (tmp_path / "stderr.txt").read_text() if (tmp_path / "stderr.txt").exists() else ""
    assert done.returncode == 0, (done.stdout, done.stderr, stderr)
    assert "on the Ray cluster at 127.0.0.1:6390: 2 node(s), 2 CPUs" in stderr
    doc = json.loads((out / "sweep.json").read_text())
    assert doc["ray"]["nodes"] == 2 and doc["ray"]["address"] == "127.0.0.1:6390"
    assert [t["status"] for t in doc["trials"]] == ["done", "done"]
    # one CPU per node and one per trial: the two trials ran at once, one on each node
    assert len({t["node"] for t in doc["trials"]}) == 2
    assert {c["tflite"] for c in doc["decision"]["front"]} == brute_force_front(bench_points(out))


def test_asha_stops_a_trailing_training_a_failed_one_is_a_row_and_the_sweep_goes_on(tmp_path, mnist):
    """--early-stop asha on real Ray Tune, one trial at a time. The first trial (batch 32) trains and is exported.
    The second (batch 1024: two steps an epoch, so it cannot learn) meets the first one's recorded epochs and
    trails them at a rung (epoch 1 or 2 of 3): stopped, listed with the reason, not exported. The third (batch
    4096, larger than the data) fails: a row with its reason; the sweep still measures and recommends the first,
    then exits 1 (as bench does with a failed row)."""
    data = write_subset(mnist, tmp_path / "mnist-3000.npz", train=3000, test=300)
    env = ray_env(tmp_path)
    out = tmp_path / "sw"
    code, stdout, stderr = run_sweep(["--models", "mobilenet", "--alpha", "0.5", "--batch-size", "32,1024,4096",
                                      "--epochs", "3", "--dataset", data, "--cpus", "2", "--max-concurrent", "1",
                                      "--early-stop", "asha", "--out", out, *FAST_BENCH], env, tmp_path)
    assert code == 1, stderr
    doc = json.loads((out / "sweep.json").read_text())
    assert doc["ray"]["scheduler"] == "asha"
    kept, stopped, failed = doc["trials"]
    assert kept["status"] == "done", kept
    assert stopped["status"] == "stopped" and stopped["error"].startswith("stopped early by ASHA after epoch "), stopped
    history = (out / "trials" / stopped["name"] / "history.csv").read_text().splitlines()
    assert 2 <= len(history) <= 3  # 1 or 2 of its 3 epochs, kept
    assert not (out / "trials" / stopped["name"] / "export").exists()
    reason = "--batch-size 4096 is larger than the training set"
    assert failed["status"] == "failed" and reason in failed["error"], failed
    for trial in (stopped, failed):
        assert {c["error"] for c in doc["candidates"] if c["trial_id"] == trial["id"]} == {trial["error"]}
        assert trial["error"] in stdout  # its rows in the table say why
    assert doc["decision"]["recommended"]["trial_id"] == kept["id"]
    last = [line for line in stderr.splitlines() if line.strip()][-1]
    assert last.startswith("error: 1 of 3 trial(s) failed") and reason in last and "Traceback" not in stderr
