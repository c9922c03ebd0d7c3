"""Report plots (matplotlib, Agg): latency distributions and accuracy vs latency."""

from __future__ import annotations

from pathlib import Path
from typing import Sequence

from edgenets._io import save_png


def _figure(figsize: tuple[float, float]):
    from edgenets.errors import require

    require("matplotlib", "train", "edgenets report")
    from matplotlib.figure import Figure

    fig = Figure(figsize=figsize)
    return fig, fig.subplots()


def latency_cdf(series: Sequence[dict], path: Path) -> Path:
    """One CDF curve per (model, precision, device): ``series`` items have label + percentiles_us (101 values)."""
    fig, ax = _figure((7.5, 4.2))
    for s in series:
        ax.plot(s["percentiles_us"], range(101), label=s["label"], linestyle="--" if s.get("quantised") else "-")
    ax.set_xscale("log")
    ax.set_xlabel("single-image invoke latency (µs, log scale)")
    ax.set_ylabel("percentile")
    ax.set_title("Latency distribution (steady state)")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=8, loc="lower right")
    return save_png(fig, path)


def accuracy_vs_latency(points: Sequence[dict], path: Path) -> Path:
    """Scatter: x = mean latency (µs), y = test accuracy (%); one point per model, precision and device."""
    fig, ax = _figure((7.5, 4.6))
    markers = {"float32": "o", "float16": "s", "dynamic": "^", "int8": "D"}
    for p in points:
        # a legend, not text beside each point: close points (float vs int8 of one model) overlap
        ax.scatter(p["mean_us"], 100 * p["accuracy"], marker=markers.get(p["precision"], "x"), s=50,
                   label=f"{p['model']} {p['precision']}" + (f" ({p['device']})" if p.get("device") else ""))
    ax.set_xscale("log")
    ax.set_xlabel("mean single-image latency (µs, log scale)")
    ax.set_ylabel("test accuracy (%)")
    ax.set_title("Accuracy vs latency (up and to the left is better)")
    ax.grid(True, which="both", alpha=0.3)
    if points:
        ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.01, 1.0), frameon=False)
    return save_png(fig, path)
