"""Single-image latency the way TFLite's ``benchmark_model`` reports it.

Four phases, kept apart: init (load + allocate), the first inference (lazy kernel preparation,
delegate warm-up), a warm-up, then the steady state over at least ``runs`` invokes and at least
``min_seconds``. Only ``invoke()`` is inside the timer; the input tensor is set once, before.

Interleaved rounds (``bench --rounds N``): a shared machine drifts over seconds (other tenants,
frequency scaling), so two models timed one after the other in single blocks can differ by the
drift alone. :class:`LatencySession` keeps one interpreter per configuration and times it in
several short rounds; the runner visits every configuration in each round (alternating the
order), so all of them sample the same stretches of time. Each round starts with a short untimed
re-warm (caches went cold while the other models ran); the steady-state samples of all rounds are
merged for the summary, and each round's median is kept to show the drift.
"""

from __future__ import annotations

import time
from typing import Any, Callable, Optional

import numpy as np

from edgenets.bench import DEFAULT_MIN_SECONDS, DEFAULT_RUNS, DEFAULT_WARMUP


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


class LatencySession:
    """One model configuration's interpreter, kept for several timed rounds."""

    def __init__(self, make_interpreter: Callable[[], Any], sample: np.ndarray, *, warmup: int = DEFAULT_WARMUP) -> None:
        t0 = time.perf_counter_ns()
        self.interpreter = make_interpreter()
        self.interpreter.allocate_tensors()
        self.init_ns = time.perf_counter_ns() - t0
        self.interpreter.set_tensor(self.interpreter.get_input_details()[0]["index"], sample)
        self.warmup = warmup
        t0 = time.perf_counter_ns()
        self.interpreter.invoke()
        self.first_ns = time.perf_counter_ns() - t0
        self.warm: list[np.ndarray] = []
        self.rounds: list[np.ndarray] = []

    def round(self, runs: int, min_seconds: float, rewarm: Optional[int] = None) -> np.ndarray:
        """Warm up (untimed: ``warmup`` invokes before the first round, ``rewarm`` before later ones,
        default the same), then time at least ``runs`` invokes and at least ``min_seconds``."""
        invoke = self.interpreter.invoke
        n = self.warmup if not self.rounds or rewarm is None else rewarm
        warm = steady_state(invoke, n, 0.0) if n > 0 else np.zeros(0, dtype=np.int64)
        self.warm.append(warm)
        samples = steady_state(invoke, max(1, runs), min_seconds)
        self.rounds.append(samples)
        return samples

    def block(self) -> dict:
        """The latency block of the results document, over all rounds so far."""
        if not self.rounds:
            raise ValueError("no timed round yet")
        steady = np.concatenate(self.rounds)
        warm = self.warm[0]  # the warm-up after loading; later ones re-warm between rounds
        block = {
            "init_us": self.init_ns / 1e3,
            "first_us": self.first_ns / 1e3,
            "warmup_runs": int(len(warm)),
            "warmup_mean_us": float(warm.mean() / 1e3) if len(warm) else None,
            **summarize(steady),
            "seconds": float(steady.sum() / 1e9),
            "rounds": len(self.rounds),
        }
        if len(self.rounds) > 1:
            block["round_p50_us"] = [round(float(np.median(r)) / 1e3, 3) for r in self.rounds]
        return block


def round_budget(runs: int, min_seconds: float, warmup: int, rounds: int) -> tuple[int, float, int]:
    """The per-round share of a run's budget (runs, seconds, re-warm invokes): ``rounds`` rounds time
    what one block would, and re-warm (the caches went cold while other models ran) with about
    ``warmup`` invokes in all."""
    return max(1, -(-runs // rounds)), min_seconds / rounds, min(warmup, max(1, -(-warmup // rounds)))


def measure(make_interpreter: Callable[[], Any], sample: np.ndarray, *, runs: int = DEFAULT_RUNS, warmup: int = DEFAULT_WARMUP,
            min_seconds: float = DEFAULT_MIN_SECONDS) -> tuple[dict, Any]:
    """Latency block for one model configuration in one round; returns (block, the allocated interpreter)."""
    session = LatencySession(make_interpreter, sample, warmup=warmup)
    session.round(runs, min_seconds)
    return session.block(), session.interpreter
