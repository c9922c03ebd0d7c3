"""Renderings of a results document (or a compare) as terminal text, Markdown, CSV or JSON.

All of them show the same data (tables.py); JSON is the full document.
"""

from __future__ import annotations

import csv
import io
import json
from typing import Callable, Sequence

from edgenets.bench import delegation, tables
from edgenets.bench.results import device_label, dumps, int8_capability, is_emulated
from edgenets.errors import InputError

FORMATS = ("table", "json", "csv", "md")
SUFFIX_FORMATS = {".json": "json", ".csv": "csv", ".md": "md", ".txt": "table"}


def _tabulate(rows: Sequence[Sequence], headers: Sequence[str], fmt: str) -> str:
    from tabulate import tabulate

    return tabulate(rows, headers=headers, tablefmt=fmt, floatfmt="g", missingval="-")


def _environment_line(env: dict) -> str:
    features = env.get("cpu_features")
    simd = f"SIMD {' '.join(map(str, features)) or 'none of note'}, " if isinstance(features, list) else ""
    rounds = f"; latency in {env['rounds']} interleaved rounds" if _int(env.get("rounds")) > 1 else ""
    warning = (f"EMULATED ({env['emulated']}): accuracy and outputs are the board software's, the latencies time "
               f"the emulator and say nothing about a real board.\n") if is_emulated(env) else ""
    return (f"{warning}{device_label(env)}; {env.get('cores')} cores, {simd}{env.get('os')}, Python {env.get('python')}; "
            f"device {env.get('device')}, threads {','.join(map(str, env.get('threads', [])))}; "
            f"data {env.get('dataset')}{rounds}")


def _int(value) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) else 0


def _sections(doc: dict, per_class: bool) -> list[tuple[str, list[str], list[list]]]:
    emulated = is_emulated(doc["environment"])
    sections = [("results", tables.headers_for(tables.SUMMARY_HEADERS, emulated), tables.summary(doc["results"]))]
    deltas = doc.get("comparisons")
    if deltas is None:
        deltas = tables.quantisation_deltas(doc["results"])
    if deltas:
        sections.append(("float32 vs quantised", tables.headers_for(tables.DELTA_HEADERS, emulated),
                         tables.delta_rows(deltas)))
    if any(isinstance(r.get("profile"), dict) and r["profile"].get("nodes") for r in doc["results"]):
        sections.append(("profile: summary by node type (us per image)",
                         tables.headers_for(tables.PROFILE_TYPE_HEADERS, emulated), tables.profile_type_rows(doc["results"])))
        sections.append(("profile: top nodes by time",
                         tables.headers_for(tables.PROFILE_NODE_HEADERS, emulated), tables.profile_node_rows(doc["results"])))
    if per_class:
        sections.append(("per class", tables.PER_CLASS_HEADERS, tables.per_class(doc["results"])))
    return sections


def bench_text(doc: dict, *, markdown: bool = False, per_class: bool = False) -> str:
    fmt = "github" if markdown else "simple"
    parts = [("## edgenets bench\n\n" if markdown else "") + _environment_line(doc["environment"])]
    int8 = int8_capability(doc["environment"].get("cpu_features"))
    if int8 and any(r.get("precision") == "int8" for r in doc["results"]):
        parts[0] += f"\n{int8}"
    for title, headers, rows in _sections(doc, per_class):
        heading = f"### {title}" if markdown else f"{title}:"
        parts.append(f"{heading}\n\n{_tabulate(rows, headers, fmt)}" if markdown else f"{heading}\n{_tabulate(rows, headers, fmt)}")
        notes = {"results": ("delegation", "delegation (nodes not run by the delegate):", delegation.notes),
                 "profile: top nodes by time": ("profile validation", "profile validation (one-op models, measured "
                                                "independently, against the prefix split):",
                                                tables.profile_validation_lines)}.get(title)
        lines = notes[2](doc["results"]) if notes else []
        if lines:
            heading = f"### {notes[0]}" if markdown else notes[1]
            bullets = "\n".join(f"- {line}" for line in lines)
            parts.append(f"{heading}\n\n{bullets}" if markdown else f"{heading}\n{bullets}")
    return "\n\n".join(parts) + "\n"


CSV_FIELDS = (
    ("model", ("model",)), ("path", ("path",)), ("sha256", ("sha256",)), ("precision", ("precision",)),
    ("threads", ("threads",)), ("device", ("device",)), ("delegate", ("delegate",)), ("runtime", ("runtime",)),
    ("runtime_version", ("runtime_version",)), ("status", ("status",)), ("error", ("error",)),
    ("size_bytes", ("size_bytes",)), ("accuracy", ("metrics", "accuracy")), ("precision_macro", ("metrics", "precision")),
    ("recall_macro", ("metrics", "recall")), ("f1_macro", ("metrics", "f1")), ("eval_images", ("metrics", "eval", "images")),
    ("init_us", ("latency", "init_us")), ("first_us", ("latency", "first_us")), ("runs", ("latency", "runs")),
    ("mean_us", ("latency", "mean_us")), ("std_us", ("latency", "std_us")), ("min_us", ("latency", "min_us")),
    ("p50_us", ("latency", "p50_us")), ("p90_us", ("latency", "p90_us")), ("p99_us", ("latency", "p99_us")),
    ("images_per_s", ("latency", "images_per_s")), ("rounds", ("latency", "rounds")), ("peak_rss_increase_bytes", ("memory", "peak_rss_increase_bytes")),
    ("delegation", ("delegation", "status")), ("delegate_partitions", ("delegation", "partitions")),
    ("delegated_nodes", ("delegation", "delegated_nodes")), ("nodes", ("delegation", "nodes")),
)
# Computed columns, after the stored ones: the model's input per image ("32x32x3").
CSV_COMPUTED = (("input_size", tables.input_size),)


def bench_csv(doc: dict) -> str:
    env = doc["environment"]
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(["hostname", "cpu", "emulated", *[name for name, _ in CSV_FIELDS], *[n for n, _ in CSV_COMPUTED]])
    for r in doc["results"]:
        writer.writerow([env.get("hostname"), env.get("cpu"), env.get("emulated") or "",
                         *["" if (v := tables._get(r, *keys)) is None else v for _, keys in CSV_FIELDS],
                         *["" if (v := fn(r)) is None else v for _, fn in CSV_COMPUTED]])
    return buf.getvalue()


def render_bench(doc: dict, fmt: str, *, per_class: bool = False) -> str:
    renderers: dict[str, Callable[[], str]] = {
        "table": lambda: bench_text(doc, per_class=per_class),
        "md": lambda: bench_text(doc, markdown=True, per_class=per_class),
        "csv": lambda: bench_csv(doc),
        "json": lambda: dumps(doc),
    }
    return renderers[check_format(fmt)]()


def render_compare(docs: Sequence[tuple[str, dict]], fmt: str) -> str:
    devices, headers, rows = tables.compare(docs)
    fmt = check_format(fmt)
    if fmt == "json":
        return json.dumps({
            "devices": [{"column": f"[{i}]", "label": label, "source": src, "environment": doc["environment"]}
                        for i, (label, (src, doc)) in enumerate(zip(devices, docs), 1)],
            "rows": [dict(zip(headers, row)) for row in rows],
        }, indent=2) + "\n"
    if fmt == "csv":
        buf = io.StringIO()
        writer = csv.writer(buf, lineterminator="\n")
        writer.writerow([_expand(h, devices) for h in headers])
        writer.writerows([["" if v is None else v for v in row] for row in rows])
        return buf.getvalue()
    legend = "\n".join(f"[{i}] {label}  ({src})" for i, (label, (src, _)) in enumerate(zip(devices, docs), 1))
    table = _tabulate(rows, headers, "github" if fmt == "md" else "simple")
    if fmt == "md":
        legend = "\n".join(f"- {line}" for line in legend.splitlines())
        return f"## edgenets compare\n\n{legend}\n\n{table}\n"
    return f"{legend}\n\n{table}\n"


def _expand(header: str, devices: Sequence[str]) -> str:
    """'[2] mean us' -> '<device 2 label>: mean us' (CSV has no legend)."""
    if header.startswith("[") and "] " in header:
        index, _, metric = header[1:].partition("] ")
        return f"{devices[int(index) - 1]}: {metric}"
    return header


def check_format(fmt: str) -> str:
    if fmt not in FORMATS:
        raise InputError(f"--format must be one of {', '.join(FORMATS)}. Received: {fmt!r}")
    return fmt


def format_for_output(path: str) -> str:
    """--output's format, from its suffix (.json/.csv/.md/.txt)."""
    from pathlib import Path

    suffix = Path(path).suffix.lower()
    if suffix not in SUFFIX_FORMATS:
        raise InputError(f"--output {path}: unknown suffix {suffix or '(none)'!r}; use one of {', '.join(SUFFIX_FORMATS)}")
    return SUFFIX_FORMATS[suffix]


def check_output(path) -> None:
    """Fail before the work, not after it: a known suffix, not a folder, a folder to write into."""
    import os
    from pathlib import Path

    if path is None:
        return
    path = Path(path)
    format_for_output(str(path))
    if path.is_dir():
        raise InputError(f"--output {path}: is a directory")
    parent = path.parent if str(path.parent) else Path(".")
    if parent.exists() and not os.access(parent, os.W_OK):
        raise InputError(f"--output {path}: cannot write into {parent}")
