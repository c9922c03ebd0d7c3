"""Single-image latency the way TFLite's ``benchmark_model`` reports it.

Four phases, kept apart: init (load + allocate), the first inference (lazy kernel preparation,
delegate warm-up), a warm-up, then the steady state over at least ``runs`` invokes and at least
``min_seconds``. Only ``invoke()`` is inside the timer; the input tensor is set once, before.
"""

from __future__ import annotations

import time
from typing import Any, Callable

import numpy as np


def summarize(samples_ns: np.ndarray) -> dict:
    """mean/std/min/max/p50/p90/p99 in microseconds (+ images/s) of invoke durations in nanoseconds."""
    us = np.asarray(samples_ns, dtype=np.float64) / 1e3
    p50, p90, p99 = np.percentile(us, [50, 90, 99])
    mean = float(us.mean())
    return {
        "runs": int(len(us)),
        "mean_us": mean,
        "std_us": float(us.std()),
        "min_us": float(us.min()),
        "max_us": float(us.max()),
        "p50_us": float(p50),
        "p90_us": float(p90),
        "p99_us": float(p99),
        "images_per_s": 1e6 / mean if mean > 0 else None,
        # the whole distribution in 101 numbers (percentiles 0..100), for CDF / distribution plots
        "percentiles_us": [round(float(v), 3) for v in np.percentile(us, np.arange(101))],
    }


def steady_state(invoke: Callable[[], Any], runs: int, min_seconds: float) -> np.ndarray:
    """Durations (ns) of ``invoke`` calls: at least ``runs`` of them and at least ``min_seconds`` in total."""
    clock = time.perf_counter_ns
    samples = []
    append = samples.append
    budget = int(min_seconds * 1e9)
    total = 0
    while len(samples) < runs or total < budget:
        t0 = clock()
        invoke()
        dt = clock() - t0
        append(dt)
        total += dt
    return np.asarray(samples, dtype=np.int64)


def measure(make_interpreter: Callable[[], Any], sample: np.ndarray, *, runs: int = 200, warmup: int = 20,
            min_seconds: float = 2.0) -> tuple[dict, Any]:
    """Latency block for one model configuration; returns (block, the allocated interpreter)."""
    t0 = time.perf_counter_ns()
    interpreter = make_interpreter()
    interpreter.allocate_tensors()
    init_ns = time.perf_counter_ns() - t0
    interpreter.set_tensor(interpreter.get_input_details()[0]["index"], sample)
    invoke = interpreter.invoke

    t0 = time.perf_counter_ns()
    invoke()
    first_ns = time.perf_counter_ns() - t0

    warm = steady_state(invoke, warmup, 0.0) if warmup > 0 else np.zeros(0, dtype=np.int64)
    steady = steady_state(invoke, max(1, runs), min_seconds)
    block = {
        "init_us": init_ns / 1e3,
        "first_us": first_ns / 1e3,
        "warmup_runs": int(len(warm)),
        "warmup_mean_us": float(warm.mean() / 1e3) if len(warm) else None,
        **summarize(steady),
        "seconds": float(steady.sum() / 1e9),
    }
    return block, interpreter
