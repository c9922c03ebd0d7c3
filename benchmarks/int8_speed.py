"""Is int8 faster than float32, and what does each export option add? Every registered model, one bench run.

    .venv/bin/python benchmarks/int8_speed.py                     # train (if needed), export, bench, print
    .venv/bin/python benchmarks/int8_speed.py --out runs/int8-speed --epochs 3 --limit 12000 --rounds 10

1. Trains every registered model with the default recipe (``--epochs``, ``--limit`` training images) into
   ``--out/<model>``, unless that run directory already has a model.keras (delete it to retrain).
2. Exports each run once per variant into ``--out/<model>/export-<variant>``: ``baseline`` is the export as it
   was before the graph options existed (softmax output, no folding, no stem rewrite, batch 1); each option
   is then added alone, and ``default`` is what ``edgenets export --int8`` does now.
3. Benches every file of every variant in ONE ``edgenets bench`` run (interleaved rounds, 1 thread, the full
   test set unless ``--eval-limit``), so all ratios come from rows timed side by side.
4. Prints, per model and variant: float32 and int8 p50, the int8 speed-up (float32 p50 / int8 p50, and its range
   over the interleaved rounds), both accuracies and their difference, and the evaluation time of the test set;
   then the issue's goals checked on the default variant, and the machine (``cpu_features``).

Latencies are this machine's: never compare them with another session's (our VMs change CPU).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

# variant -> `edgenets export` options; "baseline" is the export before the graph options existed
VARIANTS = {
    "baseline": ["--softmax", "--no-fold-shuffle", "--no-int8-stem", "--batch", "1"],
    "+logits": ["--logits", "--no-fold-shuffle", "--no-int8-stem", "--batch", "1"],
    "+fold-shuffle": ["--softmax", "--fold-shuffle", "--no-int8-stem", "--batch", "1"],
    "+int8-stem": ["--softmax", "--no-fold-shuffle", "--int8-stem", "--batch", "1"],
    "+dynamic-batch": ["--softmax", "--no-fold-shuffle", "--no-int8-stem", "--batch", "dynamic"],
    "default": [],
}


def edgenets(*args: str) -> None:
    cmd = [sys.executable, "-m", "edgenets", *map(str, args)]
    print("$ edgenets " + " ".join(map(str, args)), flush=True)
    subprocess.run(cmd, check=True)


def main() -> int:
    from edgenets.models import list_models

    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--out", type=Path, default=REPO / "runs" / "int8-speed")
    ap.add_argument("--models", default=",".join(list_models()))
    ap.add_argument("--variants", default=",".join(VARIANTS))
    ap.add_argument("--epochs", type=int, default=3)
    ap.add_argument("--limit", type=int, default=12000, help="training images")
    ap.add_argument("--eval-limit", type=int, default=None, help="test images (default: all 10,000)")
    ap.add_argument("--rounds", type=int, default=10)
    ap.add_argument("--min-seconds", type=float, default=2.0)
    ap.add_argument("--profile", action="store_true", help="also profile every row (bench --profile)")
    args = ap.parse_args()
    models = [m for m in args.models.split(",") if m]
    variants = [v for v in args.variants.split(",") if v]
    unknown = [v for v in variants if v not in VARIANTS]
    if unknown:
        ap.error(f"unknown variant(s) {unknown}; choose from {list(VARIANTS)}")

    files: list[tuple[str, str, str, Path]] = []  # (model, variant, precision, path)
    for model in models:
        run = args.out / model
        if not (run / "model.keras").is_file():
            edgenets("train", "--model", model, "--epochs", args.epochs, "--limit", args.limit, "--out", args.out,
                     "--name", model, "--force", "--quiet")
        for variant in variants:
            export = run / f"export-{variant}"
            if not (export / "model_int8.tflite").is_file():
                edgenets("export", run, "--int8", "--out", export, *VARIANTS[variant])
            for precision in ("float32", "int8"):
                files.append((model, variant, precision, export / f"model_{precision}.tflite"))

    results = args.out / "int8-speed-bench.json"
    bench = ["bench", *[f for *_, f in files], "--rounds", args.rounds, "--min-seconds", args.min_seconds,
             "--output", results, "--format", "json"]
    if args.eval_limit:
        bench += ["--limit", args.eval_limit]
    if args.profile:
        bench.append("--profile")
    subprocess.run([sys.executable, "-m", "edgenets", *map(str, bench)], check=False, stdout=subprocess.DEVNULL)
    doc = json.loads(results.read_text())
    report(doc, files, variants)
    return 0


def report(doc: dict, files: list, variants: list) -> None:
    from tabulate import tabulate

    from edgenets.bench.results import int8_capability
    from edgenets.bench.tables import paired_speedup_range

    by_path = {str(Path(r["path"]).resolve()): r for r in doc["results"]}
    rows, speedups = [], {}
    models = list(dict.fromkeys(m for m, *_ in files))
    for model in models:
        for variant in variants:
            f = by_path.get(str((next(p for m, v, pr, p in files if (m, v, pr) == (model, variant, "float32"))).resolve()))
            q = by_path.get(str((next(p for m, v, pr, p in files if (m, v, pr) == (model, variant, "int8"))).resolve()))
            if not f or not q or f.get("status") != "ok" or q.get("status") != "ok":
                rows.append([model, variant, "error", (f or {}).get("error") or (q or {}).get("error")])
                continue
            fl, ql = f["latency"], q["latency"]
            ratio = fl["p50_us"] / ql["p50_us"]
            spread = paired_speedup_range(fl, ql)
            speedups[(model, variant)] = (ratio, f["metrics"]["accuracy"], q["metrics"]["accuracy"])
            rows.append([model, variant, round(fl["p50_us"], 1), round(ql["p50_us"], 1), round(ratio, 2),
                         f"{spread[0]:.2f}-{spread[1]:.2f}" if spread else None,
                         round(100 * f["metrics"]["accuracy"], 2), round(100 * q["metrics"]["accuracy"], 2),
                         round(100 * (q["metrics"]["accuracy"] - f["metrics"]["accuracy"]), 2),
                         f["metrics"]["eval"]["seconds"], q["metrics"]["eval"]["seconds"],
                         f"{f['metrics']['eval']['batch']}/{q['metrics']['eval']['batch']}",
                         (q.get("delegation") or {}).get("status")])
    env = doc["environment"]
    print()
    print(f"{env.get('cpu')}; cpu_features {' '.join(env.get('cpu_features') or [])}; {env.get('runtime')} "
          f"{env.get('runtime_version')}; 1 thread; {env.get('dataset')}; {env.get('rounds')} interleaved rounds")
    print(int8_capability(env.get("cpu_features")) or "")
    print(tabulate(rows, headers=["model", "variant", "float32 p50 us", "int8 p50 us", "int8 speed-up x", "per-round x",
                                  "float32 acc %", "int8 acc %", "Δ pp", "float32 eval s", "int8 eval s",
                                  "eval batch f/q", "int8 delegation"], floatfmt="g"))
    if "default" in variants:
        fast = {m: speedups.get((m, "default")) for m in models}
        measured = {m: v for m, v in fast.items() if v}
        not_slower = [m for m, v in measured.items() if v[0] >= 1.0]
        twice = [m for m, v in measured.items() if v[0] >= 2.0]
        close = [m for m, v in measured.items() if abs(v[2] - v[1]) * 100 <= 0.1]
        print(f"\ngoals on the default export: int8 at least as fast as float32: {len(not_slower)}/{len(measured)} "
              f"({', '.join(not_slower) or 'none'}); >= 2x: {len(twice)} ({', '.join(twice) or 'none'}); "
              f"accuracy within 0.1 pp of float32: {len(close)}/{len(measured)}")


if __name__ == "__main__":
    sys.exit(main())
