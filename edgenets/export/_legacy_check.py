"""Print a .tflite model's raw outputs for a .npy input as JSON, with a chosen runtime.

Standalone on purpose (numpy + one runtime, nothing from edgenets): the tflite-runtime 2.14 venv
(`make legacy-venv`, numpy<2) runs this file by path, and the main venv runs the same file with
ai_edge_litert, so both sides of the compatibility check execute identical code.

    python edgenets/export/_legacy_check.py MODEL.tflite INPUT.npy [--runtime tflite_runtime|ai_edge_litert]
        [--kernels default|builtin]

--kernels builtin turns off the default delegate (XNNPACK), leaving TFLite's own kernels; a newer
runtime's XNNPACK int8 path rounds differently from 2.14's kernels, so "builtin" isolates the
question "is the model read the same way" from "do the kernels round the same way".

INPUT.npy holds (N, H, W, C) values already in the model's input dtype; images run one at a time
(batch 1, as on a device). Output: {"runtime", "version", "dtype", "outputs": [[...], ...]}.
"""

import argparse
import importlib
import json
import sys

import numpy as np


def load_runtime(name):
    module = importlib.import_module(f"{name}.interpreter")
    version = getattr(importlib.import_module(name), "__version__", "unknown")
    return module, version


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("model")
    parser.add_argument("inputs")
    parser.add_argument("--runtime", default="tflite_runtime", choices=["tflite_runtime", "ai_edge_litert"])
    parser.add_argument("--kernels", default="default", choices=["default", "builtin"])
    args = parser.parse_args(argv)
    module, version = load_runtime(args.runtime)
    kwargs = {}
    if args.kernels == "builtin":
        kwargs["experimental_op_resolver_type"] = module.OpResolverType.BUILTIN_WITHOUT_DEFAULT_DELEGATES
    try:
        interp = module.Interpreter(model_path=args.model, num_threads=1, **kwargs)
        interp.allocate_tensors()
    except Exception as exc:  # the compatibility finding: report it as data, not a traceback
        json.dump({"runtime": args.runtime, "version": version, "error": f"{type(exc).__name__}: {exc}"}, sys.stdout)
        return 3
    inp = interp.get_input_details()[0]
    out = interp.get_output_details()[0]
    x = np.load(args.inputs)
    outputs = []
    for i in range(len(x)):
        interp.set_tensor(inp["index"], x[i : i + 1].astype(inp["dtype"]))
        interp.invoke()
        outputs.append(interp.get_tensor(out["index"])[0].tolist())
    json.dump({"runtime": args.runtime, "version": version, "kernels": args.kernels, "dtype": np.dtype(out["dtype"]).name,
               "outputs": outputs}, sys.stdout)
    return 0


if __name__ == "__main__":
    sys.exit(main())
