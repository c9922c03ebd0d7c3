"""Beyond 28x28 grey digits: every registered model on two non-MNIST sets, trained, exported and benched.

    .venv/bin/python benchmarks/make_datasets.py --out runs/datasets      # the data (no download)
    .venv/bin/python benchmarks/shapes_workload.py --data runs/datasets --out runs/shapes

For each data set (``digits8x8.npz``: 8x8 grey, 10 classes; ``photo-shapes``: 64x64 RGB, 4 classes) and each
model: ``edgenets train`` (default recipe, ``--epochs``; mean-std preprocessing for the colour set) into
``--out/<set>/<model>`` unless it already has a model.keras, ``edgenets export --int8``, then ONE ``edgenets
bench`` per data set over all its files (interleaved rounds, 1 thread, the whole test split), so every latency
of a table was measured side by side. Prints one table per set: input, parameters, MACs, Keras / float32 /
int8 test accuracy, int8 − float32, p50 latencies, int8 speed-up and file sizes, and the machine
(``cpu_features``). Latencies are this machine's: never compare them with another session's.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

# data set -> (path under --data, extra `edgenets train` options)
SETS = {
    "digits8x8": ("digits8x8.npz", []),
    "photo-shapes": ("photo-shapes", ["--preprocessing", "mean-std"]),
}


def edgenets(*args: object, **kwargs) -> subprocess.CompletedProcess:
    print("$ edgenets " + " ".join(map(str, args)), flush=True)
    return subprocess.run([sys.executable, "-m", "edgenets", *map(str, args)], **{"check": True, **kwargs})


def main() -> int:
    from edgenets.models import list_models

    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--data", type=Path, default=REPO / "runs" / "datasets")
    ap.add_argument("--out", type=Path, default=REPO / "runs" / "shapes")
    ap.add_argument("--sets", default=",".join(SETS))
    ap.add_argument("--models", default=",".join(list_models()))
    ap.add_argument("--epochs", type=int, default=10)
    ap.add_argument("--rounds", type=int, default=10)
    ap.add_argument("--min-seconds", type=float, default=2.0)
    args = ap.parse_args()
    models = [m for m in args.models.split(",") if m]
    summary = {}
    for name in [s for s in args.sets.split(",") if s]:
        rel, train_opts = SETS[name]
        data = args.data / rel
        if not data.exists():
            ap.error(f"{data}: not found (run benchmarks/make_datasets.py --out {args.data} first)")
        files = []
        for model in models:
            run = args.out / name / model
            if not (run / "model.keras").is_file():
                edgenets("train", "--model", model, "--dataset", data, "--epochs", args.epochs, *train_opts,
                         "--out", args.out / name, "--name", model, "--force", "--quiet")
            if not (run / "export" / "model_int8.tflite").is_file():
                edgenets("export", run, "--int8")
            files += [run / "export" / f"model_{p}.tflite" for p in ("float32", "int8")]
        results = args.out / f"{name}-bench.json"
        edgenets("bench", *files, "--dataset", data, "--rounds", args.rounds, "--min-seconds", args.min_seconds,
                 "--output", results, "--format", "json", check=False, stdout=subprocess.DEVNULL)
        summary[name] = report(name, json.loads(results.read_text()), args.out / name, models)
    (args.out / "summary.json").write_text(json.dumps(summary, indent=2) + "\n")
    return 0


def report(name: str, doc: dict, root: Path, models: list[str]) -> list[dict]:
    from tabulate import tabulate

    import keras

    from edgenets.models.complexity import model_stats

    by_path = {str(Path(r["path"]).resolve()): r for r in doc["results"]}
    rows, out = [], []
    for model in models:
        run = root / model
        config = json.loads((run / "config.json").read_text())
        metrics = json.loads((run / "metrics.json").read_text())
        f = by_path.get(str((run / "export" / "model_float32.tflite").resolve()), {})
        q = by_path.get(str((run / "export" / "model_int8.tflite").resolve()), {})
        if f.get("status") != "ok" or q.get("status") != "ok":
            rows.append([model, "error", f.get("error") or q.get("error")])
            continue
        shape = config["input_shape"]
        cx = model_stats(keras.models.load_model(run / "model.keras", compile=False))
        fl, ql = f["latency"]["p50_us"], q["latency"]["p50_us"]
        fa, qa = f["metrics"]["accuracy"], q["metrics"]["accuracy"]
        row = {"model": model, "input": "x".join(map(str, shape)), "classes": config["num_classes"],
               "params": cx.params, "macs": cx.macs, "epochs": metrics["training"]["epochs"],
               "keras_accuracy": metrics["test"]["accuracy"], "float32_accuracy": fa, "int8_accuracy": qa,
               "delta_pp": round(100 * (qa - fa), 2), "float32_p50_us": fl, "int8_p50_us": ql,
               "int8_speedup": round(fl / ql, 2), "float32_kib": round(f["size_bytes"] / 1024, 1),
               "int8_kib": round(q["size_bytes"] / 1024, 1), "test_images": f["metrics"]["eval"]["images"]}
        out.append(row)
        rows.append([model, row["input"], f"{row['params']:,}", f"{row['macs'] / 1e6:.2f} M",
                     f"{100 * row['keras_accuracy']:.2f}", f"{100 * fa:.2f}", f"{100 * qa:.2f}", f"{row['delta_pp']:+.2f}",
                     f"{fl:.1f}", f"{ql:.1f}", f"{row['int8_speedup']:.2f}", row["float32_kib"], row["int8_kib"]])
    env = doc["environment"]
    print(f"\n{name}: {env.get('cpu')}; cpu_features {' '.join(env.get('cpu_features') or [])}; {env.get('runtime')} "
          f"{env.get('runtime_version')}; 1 thread; {env.get('rounds')} interleaved rounds; "
          f"{out[0]['test_images'] if out else '?'} test images")
    print(tabulate(rows, headers=["model", "input", "params", "MACs", "Keras acc %", "float32 acc %", "int8 acc %",
                                  "Δ pp", "float32 p50 µs", "int8 p50 µs", "int8 speed-up x", "float32 KiB",
                                  "int8 KiB"], disable_numparse=True))
    return out


if __name__ == "__main__":
    sys.exit(main())
