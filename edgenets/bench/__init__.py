"""Bench: run .tflite models with the LiteRT interpreter (never TensorFlow unless asked) and measure them.

Modules, one job each: ``runtime`` (which interpreter), ``ops`` (file checks, op counts),
``evaluate`` (accuracy, macro P/R/F1 in numpy), ``latency`` (timing invoke only), ``memory`` (peak RSS),
``probe`` (crash-isolated first load), ``runner`` (models x threads -> results document),
``results`` (the JSON schema, validation on read), ``tables`` (float vs int8, device vs device).

Importing this package is cheap; the names below are loaded on first use.
"""

from __future__ import annotations

__all__ = ["compare", "load_results", "resolve_runtime", "run_bench"]

# Timing defaults, shared by the CLI, the runner and the latency module. They live here, in a module
# that imports nothing, so that `edgenets bench --help` shows them without loading numpy.
DEFAULT_RUNS = 200  # timed invokes at least
DEFAULT_WARMUP = 20  # untimed invokes after the first one
DEFAULT_MIN_SECONDS = 2.0  # steady-state timing at least this long
DEFAULT_ROUNDS = 10  # why interleave: benchmarks/bench_rounds.py, docs/bench.md


def __getattr__(name: str):
    if name == "run_bench":
        from edgenets.bench.runner import run_bench

        return run_bench
    if name == "resolve_runtime":
        from edgenets.bench.runtime import resolve_runtime

        return resolve_runtime
    if name == "load_results":
        from edgenets.bench.results import load

        return load
    if name == "compare":
        from edgenets.bench.tables import compare

        return compare
    raise AttributeError(name)
