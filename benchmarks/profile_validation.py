"""Is the per-op profile (edgenets.bench.profile) real? Prefix differences against one-op models, per node.

For each .tflite given: the profile ("top by computation time" and "summary by node type"), then every
node's two independent measurements side by side (prefix difference vs the node timed alone on the
real activations, minus the per-invoke overhead), and the validation verdict with the tolerance. The
environment line (CPU, SIMD features, runtime) comes first, so the numbers can be cited with it.

The input is a real image: MNIST test image --image (the cached data set), preprocessed as the model's
sidecar says (default pixels/255) and quantised with the model's own input scale, as bench does.

Usage (from the repo root):
    .venv/bin/python benchmarks/profile_validation.py /tmp/zoo/*/export/*.tflite
    .venv/bin/python benchmarks/profile_validation.py model.tflite --threads 2 --rounds 9 --min-seconds 2
    .venv/bin/python benchmarks/profile_validation.py model.tflite --device cpu-ref --json out.json
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

import numpy as np

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")


def real_sample(path: Path, interpreter, index: int) -> np.ndarray:
    """MNIST test image ``index``, as bench feeds it to this model."""
    from edgenets.bench import evaluate as ev
    from edgenets.bench.runner import read_sidecar
    from edgenets.data import load_dataset
    from edgenets.preprocessing import DEFAULT_PREPROCESSING

    sidecar = read_sidecar(path) or {}
    data = load_dataset("mnist", quiet=True)
    interpreter.allocate_tensors()
    detail = interpreter.get_input_details()[0]
    return ev.prepare_inputs(data.x_test[index: index + 1], detail, str(sidecar.get("preprocessing") or DEFAULT_PREPROCESSING))


def agreement_rows(profile: dict) -> list[list]:
    rows = []
    for n in profile["nodes"]:
        one = n["one_op_us"]
        diff = None if one is None else n["us"] - one
        tol = n["tolerance_us"]
        rows.append([n["index"], n["op"], "x".join(map(str, n["output_shape"])), round(n["us"], 2),
                     round(n["spread_us"], 2), None if one is None else round(one, 2),
                     None if diff is None else round(diff, 2), None if tol is None else round(tol, 2),
                     " ".join(n["flags"])])
    return rows


def flag_summary(flagged: list[dict]) -> str:
    """"disagree: 10 MEAN; noisy 3; negative 2": the nodes that matter by name, the rest counted."""
    disagree = [f"{f['index']} {f['op']}" for f in flagged if {"disagree", "one-op failed"} & set(f["flags"])]
    counts = [f"{kind} {sum(kind in f['flags'] for f in flagged)}" for kind in ("noisy", "negative")]
    return "; ".join(([f"disagree: {', '.join(disagree)}"] if disagree else []) + counts)


def main(argv: list[str]) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("tflite", nargs="+", help=".tflite files to profile")
    ap.add_argument("--runtime", default="auto")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--device", default="cpu", choices=("cpu", "cpu-ref"))
    ap.add_argument("--rounds", type=int, default=None, help="default: the profiler's")
    ap.add_argument("--min-seconds", type=float, default=None, help="timed budget per model; default: the profiler's")
    ap.add_argument("--image", type=int, default=0, help="MNIST test image index")
    ap.add_argument("--top", type=int, default=10)
    ap.add_argument("--json", type=Path, default=None, help="also write the profiles here")
    args = ap.parse_args(argv)

    from tabulate import tabulate

    from edgenets.bench import profile as prof
    from edgenets.bench.results import collect_environment
    from edgenets.bench.runtime import resolve_runtime

    runtime = resolve_runtime(args.runtime)
    env = collect_environment(runtime=runtime, threads=[args.threads], device=args.device, delegate=None, dataset="mnist")
    print(f"cpu: {env['cpu']}; cores {env['cores']}; cpu_features {env['cpu_features']}; "
          f"{env['runtime']} {env['runtime_version']}; threads {args.threads}; device {args.device}; "
          f"load {' '.join(Path('/proc/loadavg').read_text().split()[:3]) if Path('/proc/loadavg').exists() else '?'}")
    make = prof.content_factory(runtime, threads=args.threads, device=args.device)
    options = {k: v for k, v in (("rounds", args.rounds), ("min_seconds", args.min_seconds)) if v is not None}
    summary, profiles = [], {}
    for path in map(Path, args.tflite):
        sample = real_sample(path, make(path.read_bytes()), args.image)
        t0 = time.perf_counter()
        p = prof.profile_model(path, make, sample, **options)
        wall = time.perf_counter() - t0
        profiles[str(path)] = p
        v = p["validation"]
        print(f"\n=== {path}  ({len(p['nodes'])} nodes, profiled in {wall:.1f} s)")
        print(f"whole {p['total_us']:.1f} us (±{p['total_spread_us']:.1f} IQR over rounds), per-invoke overhead {p['overhead_us']:.2f} us")
        print("\nTop by computation time\n" + tabulate(prof.profile_rows(p, args.top), headers=prof.PROFILE_HEADERS,
                                                      floatfmt="g", missingval="-"))
        print("\nSummary by node type\n" + tabulate(prof.by_type_rows(p), headers=prof.BY_TYPE_HEADERS,
                                                   floatfmt="g", missingval="-"))
        print("\nPrefix difference vs one-op, every node\n" + tabulate(
            agreement_rows(p), headers=["node", "op", "output", "prefix us", "±us", "one-op us", "diff us", "tol us", "flags"],
            floatfmt="g", missingval="-"))
        print(f"\nvalidation: {'OK' if v['ok'] else 'NOT OK'} -- one-op sum {v['one_op_sum_us']:.1f} us + overhead "
              f"{v['overhead_us']:.2f} = {v['one_op_sum_us'] + v['overhead_us']:.1f} us vs whole {v['whole_us']:.1f} us "
              f"(ratio {v['sum_ratio']:.3f}); max |prefix - one-op| {v['max_node_diff_us']:.2f} us; "
              f"{v['nodes_agreeing']}/{v['nodes']} nodes agree; tolerance: {v['tolerance']['rule']}")
        print(f"note: {v['note']}")
        if v.get("recheck"):
            r = v["recheck"]
            print(f"recheck: nodes {r['first_disagree']} disagreed in the first sweep; fresh instances of cuts "
                  f"{r['reinstanced_cuts']} and one-op models {r['reinstanced_one_op']}; still disagreeing: {r['still_disagree']}")
        summary.append([path.parent.parent.name + "/" + path.stem, len(p["nodes"]), round(p["total_us"], 1),
                        round(v["one_op_sum_us"], 1), round(v["sum_ratio"], 3), round(v["max_node_diff_us"], 2),
                        f"{v['nodes_agreeing']}/{v['nodes']}", "ok" if v["ok"] else "NOT OK",
                        flag_summary(v["flagged"]),
                        ",".join(map(str, v["recheck"]["first_disagree"])) if v.get("recheck") else "-",
                        round(wall, 1)])
    print("\n=== summary\n" + tabulate(summary, headers=["model", "nodes", "whole us", "one-op sum us", "(sum+ovh)/whole",
                                                      "max diff us", "agree", "verdict", "flagged", "rechecked", "s"], floatfmt="g"))
    if args.json:
        args.json.write_text(json.dumps({"environment": env, "profiles": profiles}, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
