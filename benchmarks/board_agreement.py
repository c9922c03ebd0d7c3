"""How far the emulated boards' outputs are from x86's, per model file: one run, four interpreters side by side.

    .venv/bin/python benchmarks/board_agreement.py [MODEL.tflite...] [--images images.npy] [--limit 100]

Without models it builds tests/test_board.py's zoo (tests/zoo.py: every registered model, one epoch on 1,000
images of the tests' stratified MNIST subset, float32 + int8) and uses the first --limit images of that
subset's test split: the table in docs/device.md is this command with no arguments.

Runs tests/board_outputs.py (one invoke per image, edgenets' own preprocessing) with
- x86 ai-edge-litert (this venv): the reference,
- x86 tflite-runtime 2.14 (.venv-legacy, `make legacy-venv`), to separate the runtime from the board,
- the emulated arm64 board (ai-edge-litert) and the emulated armhf board (tflite-runtime 2.14) (`make board`),
and prints, per file and interpreter: images whose raw output differs from the reference, the largest
difference (float: absolute; int8: quantisation steps) and how many predicted classes differ.
``--images`` is a uint8 .npy of shape (N, H, W, C); without it, the first --limit images of the tests' subset.
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests"))
SCRIPT = REPO / "tests" / "board_outputs.py"


def host_outputs(python: Path, runtime: str, images: Path, files: list[Path], out: Path) -> None:
    out.mkdir(parents=True)
    proc = subprocess.run([str(python), str(SCRIPT), str(images), str(out), *map(str, files), "--runtime", runtime],
                          env={"PYTHONPATH": str(REPO), "PATH": "/usr/bin:/bin"}, capture_output=True, text=True)
    if proc.returncode != 0:
        sys.exit(f"{python} ({runtime}) failed: {proc.stderr.strip().splitlines()[-1]}")


def board_outputs(arch: str, runtime: str, images: Path, files: list[Path], out: Path) -> None:
    from boards import find_board

    board = find_board(arch)
    if board is None:
        sys.exit(f"the emulated {arch} board is not built: run `make board`")
    work = board.workdir("agreement-")
    try:
        copies = []
        for i, f in enumerate(files):
            dest = work / str(i) / f.name
            dest.parent.mkdir()
            shutil.copyfile(f, dest)
            if f.with_suffix(".json").is_file():
                shutil.copyfile(f.with_suffix(".json"), dest.with_suffix(".json"))
            copies.append(dest)
        shutil.copyfile(images, work / "images.npy")
        shutil.copyfile(SCRIPT, work / SCRIPT.name)  # the board user may not be able to enter the checkout
        board.share(work)
        proc = board.run([board.python, work / SCRIPT.name, work / "images.npy", work, *copies, "--runtime", runtime])
        if proc.returncode != 0:
            sys.exit(f"{arch} board failed: {proc.stderr.strip().splitlines()[-1]}")
        out.mkdir(parents=True)
        for i in range(len(files)):
            shutil.copyfile(work / f"{i}.npz", out / f"{i}.npz")
    finally:
        shutil.rmtree(work, ignore_errors=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("models", nargs="*", type=Path)
    parser.add_argument("--images", type=Path)
    parser.add_argument("--limit", type=int, default=100)
    args = parser.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="agreement-"))
    try:
        from zoo import build_zoo, subset

        images = tmp / "images.npy"
        if not args.models or not args.images:
            x_train, y_train, x_test, _ = subset()
        if not args.models:
            print("building the zoo (tests/zoo.py) ...", file=sys.stderr)
            args.models = build_zoo(tmp / "zoo", x_train, y_train)
        np.save(images, (np.load(args.images) if args.images else x_test)[: args.limit])
        legacy = REPO / ".venv-legacy" / "bin" / "python"
        runs = {"x86 litert": lambda o: host_outputs(Path(sys.executable), "litert", images, args.models, o),
                "x86 tflite-runtime": lambda o: host_outputs(legacy, "tflite-runtime", images, args.models, o),
                "arm64 litert (emulated)": lambda o: board_outputs("arm64", "litert", images, args.models, o),
                "armhf tflite-runtime (emulated)": lambda o: board_outputs("armhf", "tflite-runtime", images, args.models, o)}
        for i, (name, run) in enumerate(runs.items()):
            run(tmp / str(i))
        from tabulate import tabulate

        rows = []
        for k, f in enumerate(args.models):
            want = np.load(tmp / "0" / f"{k}.npz")["outputs"]
            row = [f"{f.parent.parent.name}/{f.name}" if f.parent.name == "export" else str(f)]
            for i in range(1, len(runs)):
                got = np.load(tmp / str(i) / f"{k}.npz")["outputs"]
                diff = np.abs(got.astype(np.float64) - want.astype(np.float64))
                differ = int((diff.max(axis=1) > 0).sum())
                largest = f"{diff.max():.1e}" if want.dtype.kind == "f" else f"{int(diff.max())} steps"
                row.append(f"{differ}/{len(want)}, {largest}, {int((got.argmax(1) != want.argmax(1)).sum())}")
            rows.append(row)
        print(f"vs x86 litert: images whose output differs, largest difference, predicted classes that differ "
              f"({len(want)} images)")
        print(tabulate(rows, headers=["model", *list(runs)[1:]]))
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
