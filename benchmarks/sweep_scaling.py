"""One small sweep with 1 and then 2 concurrent trials on this machine: wall time, the same trainings, and
what Ray itself costs.

    .venv/bin/python benchmarks/sweep_scaling.py --out runs/sweep-scaling

1. ``edgenets sweep`` (a local Ray on loopback, one CPU per trial) of ``--models`` x ``--alpha`` on an MNIST
   subset, run twice into ``--out/c1`` and ``--out/c2``: ``--max-concurrent 1``, then 2. Reported: the
   trial phase's wall time (sweep.json ``seconds.trials``: Ray start to the last trial done), the bench
   phase's, and the speed-up.
2. The same result: every candidate's .tflite file (sha256) and test accuracy compared between the two runs,
   and each run's Pareto front (its own latency measurement; a front may differ only where two latencies
   are within noise of each other -- said if so).
3. Ray's own overhead: ``ray.init`` on loopback plus a Tune run of as many trials as the sweep, each doing
   nothing, with one CPU each -- the part of a sweep's wall time that is not training, exporting or
   benchmarking.

Prints a table and the machine (cpu_features); writes ``--out/scaling.json``. Nothing else should run
meanwhile: it measures wall time on a shared CPU.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))


def sweep(out: Path, concurrent: int, args: argparse.Namespace) -> dict:
    cmd = [sys.executable, "-m", "edgenets", "sweep", "--models", args.models, "--alpha", args.alpha,
           "--epochs", str(args.epochs), "--limit", str(args.limit), "--dataset", "mnist", "--cpus", "2",
           "--max-concurrent", str(concurrent), "--bench-limit", "2000", "--out", str(out), "--force"]
    print("$ edgenets " + " ".join(cmd[3:]), flush=True)
    started = time.perf_counter()
    subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL)
    wall = time.perf_counter() - started
    doc = json.loads((out / "sweep.json").read_text())
    doc["wall_seconds"] = wall
    return doc


def _sha(path: str) -> str:
    import hashlib

    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def ray_overhead(trials: int) -> dict:
    """ray.init on loopback + a Tune run of ``trials`` do-nothing trials (1 CPU each), in a fresh process."""
    code = f"""
import os, time, json
os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
t0 = time.perf_counter()
from edgenets.sweep import tuning
tuning.connect(None, num_cpus=2)
t1 = time.perf_counter()
from ray import tune
def noop(config):
    tune.report({{"x": 1}})
tuner = tune.Tuner(tune.with_resources(noop, {{"cpu": 1}}), param_space={{"i": tune.grid_search(list(range({trials})))}},
                   run_config=tune.RunConfig(name="noop", storage_path=os.environ["OVERHEAD_DIR"], verbose=0))
tuner.fit()
t2 = time.perf_counter()
tuning.disconnect()
print(json.dumps({{"import_and_init_s": t1 - t0, "tune_noop_s": t2 - t1, "total_s": time.perf_counter() - t0}}))
"""
    with tempfile.TemporaryDirectory() as tmp:
        env = {**os.environ, "OVERHEAD_DIR": tmp}
        done = subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, text=True, env=env)
    return json.loads(done.stdout.strip().splitlines()[-1])


def main() -> int:
    from tabulate import tabulate

    from edgenets.bench.results import cpu_features, cpu_model

    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--out", type=Path, default=Path("runs/sweep-scaling"))
    p.add_argument("--models", default="mobilenet,shufflenet_v2")
    p.add_argument("--alpha", default="0.25,0.5")
    p.add_argument("--epochs", type=int, default=2)
    p.add_argument("--limit", type=int, default=6000)
    args = p.parse_args()

    runs = {c: sweep(args.out / f"c{c}", c, args) for c in (1, 2)}
    one, two = runs[1], runs[2]
    by_key = lambda doc: {(c["name"], c["precision"]): c for c in doc["candidates"]}  # noqa: E731
    a, b = by_key(one), by_key(two)
    same_files = all(_sha(a[k]["tflite"]) == _sha(b[k]["tflite"]) for k in a)
    same_accuracy = all(a[k]["accuracy"] == b[k]["accuracy"] for k in a)
    front = lambda doc: {(c["name"], c["precision"]) for c in doc["decision"]["front"]}  # noqa: E731
    overhead = ray_overhead(len(one["trials"]))

    rows = [[f"{c} at once", f"{d['seconds']['trials']:.0f}", f"{d['seconds']['bench']:.0f}", f"{d['wall_seconds']:.0f}"]
            for c, d in runs.items()]
    print()
    print(f"machine: {cpu_model()}, {os.cpu_count()} cores; cpu_features: {' '.join(cpu_features() or [])}")
    print(f"sweep: {len(one['trials'])} trials ({args.models} x alpha {args.alpha}), {args.epochs} epochs on "
          f"{args.limit} MNIST images, {len(one['candidates'])} candidates")
    print(tabulate(rows, headers=["trials", "trial phase s", "bench phase s", "wall s"], tablefmt="github"))
    print(f"speed-up of the trial phase, 2 vs 1 at once: {one['seconds']['trials'] / two['seconds']['trials']:.2f}x")
    print(f"same .tflite files (sha256): {same_files}; same accuracies: {same_accuracy}; "
          f"same front: {front(one) == front(two)}"
          + ("" if front(one) == front(two) else f" (only in 1: {sorted(front(one) - front(two))}, "
                                                   f"only in 2: {sorted(front(two) - front(one))})"))
    print(f"Ray itself: import + ray.init {overhead['import_and_init_s']:.1f} s, a Tune run of "
          f"{len(one['trials'])} do-nothing trials {overhead['tune_noop_s']:.1f} s")
    result = {"cpu": cpu_model(), "cpu_features": cpu_features(), "cores": os.cpu_count(), "args": vars(args) | {"out": str(args.out)},
              "seconds": {str(c): {**d["seconds"], "wall": d["wall_seconds"]} for c, d in runs.items()},
              "same_files": same_files, "same_accuracy": same_accuracy, "same_front": front(one) == front(two),
              "ray_overhead": overhead}
    (args.out / "scaling.json").write_text(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
