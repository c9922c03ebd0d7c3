"""A sweep's results as tables (terminal, Markdown) and the accuracy-vs-latency plot of its front.

Everything here reads the results document (``SWEEP/sweep.json``), so ``edgenets report`` draws the same
plot from the file that ``edgenets sweep`` wrote.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Optional

from edgenets.sweep.front import KIB

def load_results(path: str | Path) -> tuple[dict, Path]:
    """A sweep's results document (a sweep directory or its sweep.json) and the sweep directory; one-line errors."""
    import json

    from edgenets.errors import InputError

    p = Path(path)
    file = p / "sweep.json" if p.is_dir() else p
    if not file.is_file():
        raise InputError(f"--sweep {path}: no sweep results there (a folder written by `edgenets sweep` has sweep.json)")
    try:
        doc = json.loads(file.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise InputError(f"{file}: not readable JSON ({type(exc).__name__}: {exc})") from None
    if not isinstance(doc, dict) or doc.get("schema") != "edgenets.sweep/1":
        got = doc.get("schema") if isinstance(doc, dict) else type(doc).__name__
        raise InputError(f"{file}: schema: expected 'edgenets.sweep/1', got {got!r} (not an edgenets sweep result?)")
    for key in ("candidates", "decision", "budget", "trials"):
        if key not in doc:
            raise InputError(f"{file}: no {key!r} (an incomplete sweep result)")
    return doc, file.parent


HEADERS = ["", "model", "alpha", "precision", "accuracy %", "p50 us", "size KiB", "front", "budget", "trial"]


def _key(row: dict) -> tuple:
    return (row["trial_id"], row["precision"])


def table_rows(doc: dict) -> list[list[Any]]:
    """Every candidate, best first (measured: accuracy, then faster, smaller; then failed ones): a marker
    column (* recommended), the numbers, on the front, within budget, and the trial's name or failure."""
    decision = doc["decision"]
    front = {_key(c) for c in decision["front"]}
    fitting = {_key(c) for c in decision["fitting"]}
    rec = decision.get("recommended")
    rec_key = _key(rec) if rec else None
    budget = any(v is not None for v in decision["budget"].values())
    measured = [c for c in doc["candidates"] if c.get("error") is None and c.get("accuracy") is not None]
    measured.sort(key=lambda c: (-c["accuracy"], c["latency_us"], c["size_bytes"], c["trial_id"], c["precision"]))
    failed = [c for c in doc["candidates"] if c not in measured]
    rows = []
    for c in measured:
        rows.append(["*" if _key(c) == rec_key else "", c["model"], f"{c['alpha']:g}", c["precision"],
                     f"{100 * c['accuracy']:.2f}", f"{c['latency_us']:.1f}", f"{c['size_bytes'] / KIB:.1f}",
                     "yes" if _key(c) in front else "", ("fits" if _key(c) in fitting else "over") if budget else "",
                     c.get("name", c["trial_id"])])
    for c in failed:
        rows.append(["", c["model"], f"{c['alpha']:g}", c["precision"], "", "", "", "", "",
                     f"{c.get('name', c['trial_id'])}: {c.get('error')}"])
    return rows


def where_measured(doc: dict) -> str:
    from edgenets.bench.results import device_label

    env = doc.get("environment") or {}
    if not env:
        return "nothing was measured"
    features = env.get("cpu_features")
    text = device_label(env)
    if features is not None:
        text += f"; cpu_features: {' '.join(features) or 'none of those checked'}"
    return text


def markdown_table(doc: dict) -> str:
    from tabulate import tabulate

    lines = [f"# Sweep: {len(doc['trials'])} trial(s), {len(doc['candidates'])} candidate(s)", "",
             f"Measured on: {where_measured(doc)}.", "",
             f"Budget: {_budget_text(doc)}. {doc['decision']['summary']}.", "",
             tabulate(table_rows(doc), headers=HEADERS, tablefmt="github"), "",
             "accuracy: the .tflite file on the test split; p50: single-image latency, all candidates in one "
             "interleaved bench run after every training had finished; front: not dominated in accuracy, "
             "latency and size.", ""]
    return "\n".join(lines)


def _budget_text(doc: dict) -> str:
    b = doc["budget"]
    parts = []
    if b.get("max_latency_us") is not None:
        parts.append(f"p50 <= {b['max_latency_us']:g} us")
    if b.get("max_size_kb") is not None:
        parts.append(f"size <= {b['max_size_kb']:g} KiB")
    return " and ".join(parts) or "none"


def latency_front(measured: list[dict]) -> list[dict]:
    """The two-objective front the plot draws: fastest first, each more accurate than every faster one (the
    table's front also counts size, so a small slow candidate can be on it and below this line)."""
    out: list[dict] = []
    for c in sorted(measured, key=lambda c: (c["latency_us"], -c["accuracy"])):
        if not out or c["accuracy"] > out[-1]["accuracy"]:
            out.append(c)
    return out


def front_plot(doc: dict, path: Path) -> Optional[Path]:
    """Accuracy (%) vs p50 latency (µs, log): every measured candidate, the accuracy-vs-latency front as a step
    line, the budget's latency limit dashed, the recommendation ringed. None when nothing was measured."""
    from edgenets._io import save_png
    from edgenets.report.plots import _figure, group_colors

    measured = [c for c in doc["candidates"] if c.get("error") is None and c.get("accuracy") is not None]
    if not measured:
        return None
    fig, ax = _figure((7.5, 4.6))
    markers = {"float32": "o", "float16": "s", "dynamic": "^", "int8": "D"}
    groups = [f"{c['model']} a{c['alpha']:g}" for c in measured]
    colors = group_colors(sorted(set(groups)))
    seen = set()
    for c, g in zip(measured, groups):
        label = f"{g} {c['precision']}"
        ax.scatter(c["latency_us"], 100 * c["accuracy"], marker=markers.get(c["precision"], "x"), s=45,
                   color=colors[g], label=None if label in seen else label, zorder=3)
        seen.add(label)
    front = latency_front(measured)
    if front:
        ax.step([c["latency_us"] for c in front], [100 * c["accuracy"] for c in front], where="post", color="0.4",
                linewidth=1, zorder=2, label="front: accuracy vs latency")
    limit = doc["budget"].get("max_latency_us")
    if limit is not None:
        ax.axvline(limit, color="tab:red", linestyle="--", linewidth=1, label=f"budget {limit:g} us")
    rec = doc["decision"].get("recommended")
    if rec:
        ax.scatter(rec["latency_us"], 100 * rec["accuracy"], s=220, facecolors="none", edgecolors="black",
                   linewidths=1.5, zorder=4, label="recommended")
    ax.set_xscale("log")
    from matplotlib.ticker import LogLocator, NullFormatter, ScalarFormatter

    ax.xaxis.set_major_locator(LogLocator(base=10, subs=(1.0, 2.0, 5.0)))
    ax.xaxis.set_major_formatter(ScalarFormatter())
    ax.xaxis.set_minor_formatter(NullFormatter())
    ax.set_xlabel("p50 single-image latency (µs, log scale)")
    ax.set_ylabel("test accuracy (%)")
    env = doc.get("environment") or {}
    ax.set_title(f"Sweep: accuracy vs latency on {env.get('cpu') or '?'}" + (" (EMULATED)" if env.get("emulated") else ""),
                 fontsize=10)
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.01, 1.0), frameon=False)
    return save_png(fig, path)
