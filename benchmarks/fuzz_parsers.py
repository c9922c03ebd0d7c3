"""A longer mutation-fuzzing session for the data parsers and the bench results reader.

Every input is a mutated copy of a valid file (bit flips, byte overwrites, truncation, duplication,
inserted junk). A parser passes when it either returns valid arrays or raises InputError; any other
exception is a crash and is printed with the input that caused it.

    .venv/bin/python benchmarks/fuzz_parsers.py --iterations 5000 --seed 0

The figures for docs/reliability.md come from this command.
"""

from __future__ import annotations

import argparse
import io
import json
import sys
import tempfile
import time
import traceback
from pathlib import Path

import numpy as np

from edgenets.data import load_csv, load_npz, parse_idx, save_csv, to_idx_bytes
from edgenets.errors import InputError


def mutate(raw: bytes, rng: np.random.Generator) -> bytes:
    data = bytearray(raw)
    for _ in range(int(rng.integers(1, 4))):
        op = rng.integers(0, 5)
        if not data:
            data = bytearray(rng.bytes(int(rng.integers(1, 16))))
        pos = int(rng.integers(0, len(data)))
        if op == 0:  # bit flip
            data[pos] ^= 1 << int(rng.integers(0, 8))
        elif op == 1:  # byte overwrite, biased to interesting values
            data[pos] = int(rng.choice([0, 1, 0x7F, 0x80, 0xFF, ord(","), ord("\n"), ord("-"), ord("."), ord("a")]))
        elif op == 2:  # truncate
            data = data[:pos]
        elif op == 3:  # duplicate a slice
            end = min(len(data), pos + int(rng.integers(1, 64)))
            data[pos:pos] = data[pos:end]
        else:  # insert junk
            data[pos:pos] = rng.bytes(int(rng.integers(1, 8)))
    return bytes(data)


def seeds(tmp: Path):
    rng = np.random.default_rng(0)
    x = rng.integers(0, 256, size=(3, 28, 28, 1), dtype=np.uint8)
    y = np.array([1, 7, 9])
    save_csv(tmp / "seed.csv", x, y)
    buf = io.BytesIO()
    np.savez(buf, x_train=x[..., 0], y_train=y.astype(np.uint8), x_test=x[..., 0], y_test=y.astype(np.uint8))
    from edgenets.bench.results import SCHEMA

    lat = dict(zip(("mean_us", "std_us", "min_us", "p50_us", "p90_us", "p99_us", "runs"), (10.0, 1.0, 8.0, 9.5, 11.0, 14.0, 100)))
    doc = {"schema": SCHEMA,
           "environment": {"hostname": "pi", "machine": "aarch64", "cpu": "A76", "runtime": "litert",
                           "runtime_version": "2.3.0", "threads": [1]},
           "results": [{"model": "m", "path": "m.tflite", "precision": "int8", "threads": 1, "status": "ok",
                        "sha256": "ab", "size_bytes": 100, "latency": lat,
                        "metrics": {"accuracy": 0.9, "precision": 0.9, "recall": 0.9, "f1": 0.9}}]}
    return {
        "results": json.dumps(doc, indent=1).encode(),
        "idx-images": to_idx_bytes(x[..., 0]),
        "idx-labels": to_idx_bytes(y),
        "csv": (tmp / "seed.csv").read_bytes(),
        "npz": buf.getvalue(),
    }


def target(kind: str, path: Path, raw: bytes):
    if kind.startswith("idx"):
        return parse_idx(raw, str(path))
    path.write_bytes(raw)
    if kind == "csv":
        return load_csv(path)
    if kind == "npz":
        return load_npz(path)
    if kind == "results":
        from edgenets.bench.render import render_compare
        from edgenets.bench.results import load

        doc = load(path)
        return render_compare([(str(path), doc)], "table")  # what validates must also render
    raise ValueError(kind)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--iterations", type=int, default=5000, help="mutated inputs per parser")
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    rng = np.random.default_rng(args.seed)
    rows, crashes = [], 0
    with tempfile.TemporaryDirectory() as td:
        tmp = Path(td)
        corpus = seeds(tmp)
        for kind, seed in corpus.items():
            ok = clean = crash = 0
            start = time.perf_counter()
            path = tmp / f"input.{'csv' if kind == 'csv' else 'npz' if kind == 'npz' else 'json' if kind == 'results' else 'idx'}"
            for _ in range(args.iterations):
                raw = mutate(seed, rng)
                try:
                    target(kind, path, raw)
                    ok += 1
                except InputError:
                    clean += 1
                except Exception:  # noqa: BLE001 - a crash is what we are looking for
                    crash += 1
                    if crash <= 3:
                        print(f"CRASH in {kind} parser on input {raw[:80]!r}...", file=sys.stderr)
                        traceback.print_exc()
            rows.append([kind, args.iterations, ok, clean, crash, f"{time.perf_counter() - start:.1f}"])
            crashes += crash
    from tabulate import tabulate

    print(tabulate(rows, headers=["parser", "inputs", "parsed", "clean errors", "crashes", "seconds"]))
    print(json.dumps({"seed": args.seed, "iterations": args.iterations, "crashes": crashes}))
    return 1 if crashes else 0


if __name__ == "__main__":
    sys.exit(main())
