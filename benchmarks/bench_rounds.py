"""Does `bench --rounds` cancel machine drift? Identical copies of one model, side by side.

K byte-identical copies of one .tflite file are benchmarked together in one `run_bench` call. They
are the same model, so any difference between their latencies is measurement error: on a shared
VM mostly drift between the seconds in which each copy was timed. Each repeat runs the copies
twice, once timed in single blocks (`--rounds 1`, one copy after the other) and once in R
interleaved rounds (`--rounds R`), with the same budget (`--min-seconds`), the order of the two
alternating between repeats. Reported per repeat and as the median over repeats: the spread
between the copies, max/min - 1 of their mean and of their p50.
Target: the interleaved spread is smaller than the single-block spread.

Usage (from the repo root):
    .venv/bin/python benchmarks/bench_rounds.py runs/NAME/export/model_float32.tflite
    .venv/bin/python benchmarks/bench_rounds.py MODEL.tflite --copies 3 --rounds 10 --min-seconds 3 --repeats 5 --threads 2
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import sys
import tempfile
from pathlib import Path


def spread(values: list[float]) -> float:
    return max(values) / min(values) - 1.0


def one_run(paths: list[Path], rounds: int, min_seconds: float, threads: int = 1) -> dict:
    from edgenets.bench import run_bench

    doc = run_bench(paths, rounds=rounds, min_seconds=min_seconds, runs=1, warmup=20, limit=100, threads=[threads])
    rows = doc["results"]
    bad = [r for r in rows if r["status"] != "ok"]
    if bad:
        raise SystemExit(f"{bad[0]['path']}: {bad[0]['error']}")
    means = [r["latency"]["mean_us"] for r in rows]
    p50s = [r["latency"]["p50_us"] for r in rows]
    return {"means": means, "p50s": p50s, "mean_spread": spread(means), "p50_spread": spread(p50s)}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("model", type=Path)
    ap.add_argument("--copies", type=int, default=3)
    ap.add_argument("--rounds", type=int, default=10)
    ap.add_argument("--min-seconds", type=float, default=3.0, help="timing budget per copy (both modes)")
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--threads", type=int, default=1, help="interpreter threads (one thread pool per copy)")
    args = ap.parse_args(argv)
    if not args.model.is_file():
        print(f"error: {args.model}: file not found", file=sys.stderr)
        return 2

    results: dict[str, list[dict]] = {"single": [], "interleaved": []}
    with tempfile.TemporaryDirectory() as tmp:
        paths = []
        for i in range(args.copies):
            path = Path(tmp) / f"copy{i}" / args.model.name
            path.parent.mkdir()
            shutil.copyfile(args.model, path)
            paths.append(path)
        print(f"{args.copies} identical copies of {args.model}, {args.threads} thread(s), {args.min_seconds:g} s of timing per copy; "
              f"single blocks vs {args.rounds} interleaved rounds\n")
        print(f"{'repeat':>6}  {'mode':<12} {'means (us)':<30} {'mean spread':>11} {'p50 spread':>10}")
        for rep in range(args.repeats):
            modes = [("single", 1), ("interleaved", args.rounds)]
            for mode, rounds in (modes if rep % 2 == 0 else modes[::-1]):
                r = one_run(paths, rounds, args.min_seconds, args.threads)
                results[mode].append(r)
                means = " / ".join(f"{m:.1f}" for m in r["means"])
                print(f"{rep + 1:>6}  {mode:<12} {means:<30} {r['mean_spread'] * 100:>10.1f}% "
                      f"{r['p50_spread'] * 100:>9.1f}%", flush=True)

    print()
    for key in ("mean_spread", "p50_spread"):
        single = statistics.median(r[key] for r in results["single"])
        inter = statistics.median(r[key] for r in results["interleaved"])
        print(f"median {key.replace('_', ' ')} between identical copies: single blocks {single * 100:.1f}%, "
              f"{args.rounds} interleaved rounds {inter * 100:.1f}%")
    return 0


if __name__ == "__main__":
    sys.exit(main())
