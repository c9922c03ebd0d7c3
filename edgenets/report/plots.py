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


def group_colors(groups: Sequence[str]) -> dict[str, tuple]:
    """One distinct colour per group (a model: its float and int8 twins share it), in first-seen order.

    matplotlib's default cycle has 10 colours, so an 11th series silently reuses the first one's; a
    study of 7 models x 2 precisions needs 7 colours, not 14, with precision shown by marker or line
    style. Up to 10 groups use tab10, up to 20 tab20, more are spread evenly over a continuous map.
    """
    from matplotlib import colormaps

    order = list(dict.fromkeys(groups))
    n = len(order)
    if n <= 10:
        palette = [colormaps["tab10"](i) for i in range(n)]
    elif n <= 20:
        palette = [colormaps["tab20"](i) for i in range(n)]
    else:
        palette = [colormaps["turbo"](i / (n - 1)) for i in range(n)]
    return dict(zip(order, palette))


def latency_cdf(series: Sequence[dict], path: Path) -> Path:
    """One CDF curve per (model, precision, device): ``series`` items have label + percentiles_us (101 values),
    and optionally group (curves of one group share a colour; default: the label) and quantised (dashed)."""
    fig, ax = _figure((7.5, 4.2))
    colors = group_colors([s.get("group", s["label"]) for s in series])
    for s in series:
        ax.plot(s["percentiles_us"], range(101), label=s["label"], linestyle="--" if s.get("quantised") else "-",
                color=colors[s.get("group", s["label"])])
    ax.set_xscale("log")
    ax.set_xlabel("single-image invoke latency (µs, log scale)")
    ax.set_ylabel("percentile")
    ax.set_title("Latency distribution (steady state)")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=8, loc="lower right")
    return save_png(fig, path)


def accuracy_vs_latency(points: Sequence[dict], path: Path) -> Path:
    """Scatter: x = mean latency (µs), y = test accuracy (%); one point per model, precision and device.

    Colour = model (and device), marker = precision, so a model's float and int8 twins are one colour.
    A point's optional ``input`` (e.g. "32x32x3") is shown in its legend entry."""
    fig, ax = _figure((7.5, 4.6))
    markers = {"float32": "o", "float16": "s", "dynamic": "^", "int8": "D"}
    where = [f" ({p['device']})" if p.get("device") else "" for p in points]
    colors = group_colors([p["model"] + w for p, w in zip(points, where)])
    for p, w in zip(points, where):
        # a legend, not text beside each point: close points (float vs int8 of one model) overlap
        ax.scatter(p["mean_us"], 100 * p["accuracy"], marker=markers.get(p["precision"], "x"), s=50,
                   color=colors[p["model"] + w],
                   label=f"{p['model']} {p['precision']}" + (f", {p['input']}" if p.get("input") else "") + w)
    ax.set_xscale("log")
    ax.set_xlabel("mean single-image latency (µs, log scale)")
    ax.set_ylabel("test accuracy (%)")
    ax.set_title("Accuracy vs latency (up and to the left is better)")
    ax.grid(True, which="both", alpha=0.3)
    if points:
        ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.01, 1.0), frameon=False)
    return save_png(fig, path)


def profile_by_type(panels: Sequence[dict], path: Path) -> Path:
    """Where the time goes: per op type, float32 beside the quantised model, one panel per model.

    ``panels`` items: title, and ops = [(op type, float32 µs or None, quantised µs or None), ...] in the
    order to draw (slowest first). Bars are horizontal so long op names stay readable."""
    from matplotlib.figure import Figure

    from edgenets.errors import require

    require("matplotlib", "train", "edgenets report")
    heights = [max(1.6, 0.32 * len(p["ops"]) + 0.9) for p in panels]
    fig = Figure(figsize=(7.5, sum(heights)))
    axes = fig.subplots(len(panels), 1, squeeze=False, height_ratios=heights)[:, 0]
    for ax, panel in zip(axes, panels):
        ops = panel["ops"][::-1]  # slowest at the top
        y = range(len(ops))
        for offset, index, label, color in ((0.2, 1, "float32", "tab:blue"), (-0.2, 2, panel.get("quant") or "quantised",
                                                                                   "tab:orange")):
            values = [max(0.0, op[index]) if op[index] is not None else 0.0 for op in ops]
            if any(op[index] is not None for op in ops):
                ax.barh([v + offset for v in y], values, height=0.38, label=label, color=color)
        ax.set_yticks(list(y), [op[0] for op in ops], fontsize=8)
        ax.set_xlabel("µs per image (sum over the nodes of that type)", fontsize=8)
        ax.set_title(panel["title"], fontsize=9)
        ax.grid(True, axis="x", alpha=0.3)
        ax.legend(fontsize=7, loc="lower right")
    fig.tight_layout()
    return save_png(fig, path)
