"""Raw model outputs, one invoke per image, written to an .npz: run by the host's Python and, unchanged,
inside the emulated boards (tests/test_board.py), so the two machines' numbers can be compared bit by bit.

    python board_outputs.py IMAGES.npy OUT_DIR MODEL.tflite... [--runtime auto] [--trace INDEX]

writes OUT_DIR/0.npz, 1.npz, ... (one per model, in order; one process, since an emulated start costs seconds).

It uses edgenets' own runtime resolution and input preprocessing, as ``edgenets bench`` does. ``--trace I``
instead runs image I once on the builtin kernels (no XNNPACK, every intermediate tensor kept) and saves each
op's outputs, so a difference can be traced to the first op that computes it differently.
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
from pathlib import Path

import numpy as np

from edgenets.bench.evaluate import prepare_inputs, run_batch1
from edgenets.bench.runner import read_sidecar
from edgenets.bench.runtime import resolve_runtime
from edgenets.preprocessing import DEFAULT_PREPROCESSING


def main(argv: list[str]) -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("images")
    parser.add_argument("out_dir")
    parser.add_argument("models", nargs="+")
    parser.add_argument("--runtime", default="auto")
    parser.add_argument("--trace", type=int, default=None)
    args = parser.parse_args(argv)

    runtime = resolve_runtime(args.runtime)
    images = np.load(args.images, allow_pickle=False)
    meta = {"runtime": runtime.describe(), "machine": platform.machine()}
    for i, model in enumerate(args.models):
        out = str(Path(args.out_dir) / f"{i}.npz")
        if args.trace is None:
            outputs(runtime, model, images, out, meta)
        else:
            trace(runtime, model, images, args.trace, out, meta)


def _preprocessing(model: str) -> str:
    return (read_sidecar(Path(model)) or {}).get("preprocessing", DEFAULT_PREPROCESSING)


def outputs(runtime, model: str, images: np.ndarray, out: str, meta: dict) -> None:
    interpreter = runtime.make_interpreter(model, threads=1)
    interpreter.allocate_tensors()
    x = prepare_inputs(images, interpreter.get_input_details()[0], _preprocessing(model))
    np.savez(out, outputs=run_batch1(interpreter, x), meta=np.array(json.dumps(meta)))


def trace(runtime, model: str, images: np.ndarray, index: int, out: str, meta: dict) -> None:
    kwargs = {"model_path": model, "num_threads": 1, "experimental_preserve_all_tensors": True}
    if runtime.op_resolver_type is not None:
        kwargs["experimental_op_resolver_type"] = runtime.op_resolver_type.BUILTIN_WITHOUT_DEFAULT_DELEGATES
    interpreter = runtime.interpreter_cls(**kwargs)
    interpreter.allocate_tensors()
    inp = interpreter.get_input_details()[0]
    x = prepare_inputs(images[index: index + 1], inp, _preprocessing(model))
    interpreter.set_tensor(inp["index"], x)
    interpreter.invoke()
    arrays, ops = {}, []
    for op in interpreter._get_ops_details():
        names = []
        for t in op["outputs"]:
            arrays[f"t{int(t)}"] = interpreter.get_tensor(int(t)).copy()
            names.append(int(t))
        ops.append({"index": int(op["index"]), "op": op["op_name"], "outputs": names})
    names_by_index = {str(int(t["index"])): t["name"] for t in interpreter.get_tensor_details()}
    np.savez(out, meta=np.array(json.dumps({**meta, "ops": ops, "tensor_names": names_by_index})), **arrays)


if __name__ == "__main__":
    main(sys.argv[1:])
