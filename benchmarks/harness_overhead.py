"""Does `edgenets bench` measure the model, or itself? Two side-by-side checks in one run.

1. Latency: the mean that bench reports (edgenets.bench.latency.measure: each invoke timed on its
   own) vs a bare ``for _ in range(n): interpreter.invoke()`` loop timed as a whole, same model,
   same interpreter settings, alternated over several rounds so machine noise hits both alike.
   Target: within 5 %.
2. Evaluation: 10,000 MNIST test images through edgenets.bench.evaluate.evaluate, batched (resized
   input tensor) vs batch 1. Target: <= ~3 s per model; both must give identical metrics.

Usage (from the repo root):
    .venv/bin/python benchmarks/harness_overhead.py                      # seed mobilenet + shufflenet, float32 + int8
    .venv/bin/python benchmarks/harness_overhead.py runs/x/export/*.tflite
    .venv/bin/python benchmarks/harness_overhead.py --models mobilenet --rounds 15 --runs 500
Without .tflite paths, models are built from the registry (untrained weights: timing only) and
converted with edgenets.export.convert.to_tflite, which needs TensorFlow.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")


def build_models(names: list[str], folder: Path, calibration: np.ndarray) -> list[Path]:
    from edgenets.export.convert import to_tflite
    from edgenets.models import create_model

    paths = []
    for name in names:
        model = create_model(name)
        for precision in ("float32", "int8"):
            rep = calibration if precision == "int8" else None
            path = folder / f"{name}_{precision}.tflite"
            path.write_bytes(to_tflite(model, precision, representative=rep, progress=False))
            paths.append(path)
    return paths


def _load() -> str:
    try:
        return " ".join(Path("/proc/loadavg").read_text().split()[:3])
    except OSError:
        return "?"


LOAD0 = _load()


def bare_mean_us(make, sample, runs: int, warmup: int) -> float:
    it = make()
    it.allocate_tensors()
    it.set_tensor(it.get_input_details()[0]["index"], sample)
    invoke = it.invoke
    for _ in range(warmup + 1):
        invoke()
    t0 = time.perf_counter_ns()
    for _ in range(runs):
        invoke()
    return (time.perf_counter_ns() - t0) / runs / 1e3


def main(argv: list[str]) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("tflite", nargs="*", help=".tflite files (default: build --models)")
    ap.add_argument("--models", default="mobilenet,shufflenet", help="registry names to build when no files are given")
    ap.add_argument("--runs", type=int, default=1000, help="invokes per round and method")
    ap.add_argument("--rounds", type=int, default=9, help="alternating rounds (bench, bare, bench, bare, ...)")
    ap.add_argument("--threads", type=int, default=1)
    args = ap.parse_args(argv)

    from tabulate import tabulate

    from edgenets.bench.evaluate import evaluate, prepare_inputs
    from edgenets.bench.latency import measure, steady_state
    from edgenets.bench.runtime import resolve_runtime
    from edgenets.data import load_dataset

    data = load_dataset("mnist", quiet=True)
    rt = resolve_runtime("auto")
    # What the harness adds per invoke, noise-free: the timing loop around a no-op callable.
    timer_ns = float(np.median(steady_state(lambda: None, 200_000, 0.0)))
    with tempfile.TemporaryDirectory() as tmp:
        paths = [Path(p) for p in args.tflite] or build_models(args.models.split(","), Path(tmp), data.x_train[:200])
        lat_rows, eval_rows = [], []
        for path in paths:
            make = lambda p=str(path): rt.make_interpreter(p, threads=args.threads)  # noqa: E731
            probe = make()
            probe.allocate_tensors()
            sample = prepare_inputs(data.x_test[:1], probe.get_input_details()[0], "pixels/255")
            bench_means, bare_means = [], []
            for _ in range(args.rounds):
                block, _it = measure(make, sample, runs=args.runs, warmup=20, min_seconds=0.0)
                bench_means.append(block["mean_us"])
                bare_means.append(bare_mean_us(make, sample, args.runs, 20))
            # median: typical round; min: the least-disturbed round (robust on a shared machine)
            bench_mean, bare = statistics.median(bench_means), statistics.median(bare_means)
            lat_rows.append([path.name, round(bench_mean, 2), round(bare, 2), round((bench_mean - bare) / bare * 100, 2),
                             round(min(bench_means), 2), round(min(bare_means), 2),
                             round((min(bench_means) - min(bare_means)) / min(bare_means) * 100, 2),
                             round(timer_ns / 1e3 / statistics.median(bare_means) * 100, 3)])

            timings, cpu, metrics = {}, {}, {}
            for batch in (64, 1):
                t0, c0 = time.perf_counter(), time.process_time()
                m = evaluate(make, data.x_test, data.y_test, batch=batch)
                timings[batch], cpu[batch] = time.perf_counter() - t0, time.process_time() - c0
                metrics[batch] = (m["accuracy"], m["f1"], m["confusion_matrix"], m["eval"]["batch"])
            same = metrics[64][:3] == metrics[1][:3]
            eval_rows.append([path.name, metrics[64][3], round(timings[64], 2), round(cpu[64], 2), round(timings[1], 2),
                              round(cpu[1], 2), "yes" if same else "NO", round(metrics[64][0] * 100, 2)])

    print(f"runtime {rt.describe()}, {args.threads} thread(s), median and best of {args.rounds} alternating rounds "
          f"x {args.runs} invokes; python {sys.version.split()[0]}")
    print(f"load average before: {LOAD0}, after: {_load()}; timing-loop cost per invoke (no-op): {timer_ns:.0f} ns")
    print(tabulate(lat_rows, headers=["model", "bench mean us", "bare mean us", "overhead %",
                                      "bench best us", "bare best us", "overhead % (best)", "timer cost %"]))
    print()
    print(tabulate(eval_rows, headers=["model", "batch used", "10k eval wall s", "cpu s", "batch-1 wall s", "batch-1 cpu s",
                                       "identical metrics", "accuracy %"]))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
