"""Which TFLite interpreter runs the models: ai_edge_litert -> tflite_runtime -> tensorflow.lite.

A registry of runtimes, tried in order for ``--runtime auto``. The TensorFlow entry is the last
resort and is imported only when it is chosen: everything else here stays TensorFlow-free, so
``edgenets bench`` runs on a board with ``pip install "edgenets[device]"`` alone.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from typing import Any, Callable, Optional

from edgenets._quiet import quiet_interpreter_class
from edgenets.errors import InputError, MissingDependencyError, first_line

DEVICES = ("cpu", "cpu-ref")


@dataclass(frozen=True)
class RuntimeSpec:
    name: str  # what --runtime calls it
    module: str  # the module that holds Interpreter / load_delegate / OpResolverType
    distribution: str  # the pip package, for the version and the install hint
    install: str  # how to get it


RUNTIMES: dict[str, RuntimeSpec] = {
    s.name: s
    for s in (
        RuntimeSpec("litert", "ai_edge_litert.interpreter", "ai-edge-litert", 'pip install "edgenets[device]"'),
        RuntimeSpec("tflite-runtime", "tflite_runtime.interpreter", "tflite-runtime",
                    'pip install "edgenets[legacy]" (needs numpy<2)'),
        RuntimeSpec("tensorflow", "tensorflow.lite", "tensorflow", 'pip install "edgenets[train]"'),
    )
}
RUNTIME_CHOICES = ("auto", *RUNTIMES)


@dataclass(frozen=True)
class Runtime:
    """A resolved runtime: the interpreter class and friends, with the version that ran."""

    name: str
    version: str
    module: str
    interpreter_cls: Any
    load_delegate: Callable[..., Any]
    op_resolver_type: Any  # the OpResolverType enum, or None on runtimes that predate it

    def make_interpreter(self, model_path: str, *, threads: int = 1, device: str = "cpu",
                         delegate: Optional[str] = None) -> Any:
        """Load ``model_path`` (not yet allocated). Raises whatever the runtime raises."""
        kwargs: dict[str, Any] = {"model_path": str(model_path), "num_threads": int(threads)}
        if device == "cpu-ref":
            if self.op_resolver_type is None:
                raise RuntimeError(f"{self.name} {self.version} cannot disable the default delegate (no OpResolverType)")
            # Optimised builtin kernels without XNNPACK: shows what the default delegate buys.
            kwargs["experimental_op_resolver_type"] = self.op_resolver_type.BUILTIN_WITHOUT_DEFAULT_DELEGATES
        if delegate:
            kwargs["experimental_delegates"] = [self.load_delegate(str(delegate))]
        return self.interpreter_cls(**kwargs)

    def describe(self) -> str:
        return f"{self.name} {self.version}"


def _version(distribution: str, module: str) -> str:
    """The installed distribution's version (tensorflow-cpu counts as tensorflow), else the module's."""
    from edgenets._meta import dist_version

    found = dist_version(distribution)
    if found:
        return found
    root = importlib.import_module(module.split(".")[0])
    return str(getattr(root, "__version__", "unknown"))


def _load(spec: RuntimeSpec) -> Runtime:
    if spec.name == "tensorflow":
        # The public tf.lite is an attribute of the tensorflow module (importing the package
        # "tensorflow.lite" gives the internal one); load_delegate / OpResolverType live under
        # tf.lite.experimental.
        mod = importlib.import_module("tensorflow").lite
        interp, load_delegate = mod.Interpreter, mod.experimental.load_delegate
        resolver = getattr(mod.experimental, "OpResolverType", None)
    else:
        mod = importlib.import_module(spec.module)
        interp, load_delegate = mod.Interpreter, mod.load_delegate
        resolver = getattr(mod, "OpResolverType", None)
    interp = quiet_interpreter_class(interp)  # no "INFO: Created ... XNNPACK delegate" line on stderr
    return Runtime(spec.name, _version(spec.distribution, spec.module), spec.module, interp, load_delegate, resolver)


def resolve_runtime(choice: str = "auto") -> Runtime:
    """The runtime named by ``choice``, or the first importable one for ``auto``."""
    if choice not in RUNTIME_CHOICES:
        raise InputError(f"--runtime must be one of {', '.join(RUNTIME_CHOICES)}. Received: {choice!r}")
    order = list(RUNTIMES) if choice == "auto" else [choice]
    problems = []
    for name in order:
        spec = RUNTIMES[name]
        try:
            return _load(spec)
        except Exception as exc:  # noqa: BLE001 - a broken install is "not usable", whatever it raises
            # tflite-runtime 2.14 under numpy 2 fails here with "compiled using NumPy 1.x".
            problems.append(f"{name}: {first_line(exc)}")
    if choice == "auto":
        raise MissingDependencyError(
            'edgenets bench needs a TFLite runtime: pip install "edgenets[device]" (tried ' + "; ".join(problems) + ")"
        )
    raise MissingDependencyError(f"--runtime {choice} is not usable: {RUNTIMES[choice].install} ({problems[0]})")
