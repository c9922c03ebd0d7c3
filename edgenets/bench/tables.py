"""Tables as data: lists of rows (header + values) computed from results documents.

The CLI renders them with tabulate (terminal, Markdown) or csv; nothing here formats text
beyond rounding. Three views:

- :func:`summary` — one line per (model, threads) row of a run, failures included;
- :func:`quantisation_deltas` — a quantised model beside its float32 twin (same model name,
  threads, device, runtime): accuracy delta (percentage points), F1 delta, speedup, size and
  memory ratios;
- :func:`compare` — several runs (machines) side by side: rows (model, precision, threads), a
  column group per device, joined on the model file's SHA-256 or, failing that, its name.
"""

from __future__ import annotations

import os
from typing import Any, Optional, Sequence

from edgenets.bench.delegation import summary_cell
from edgenets.bench.results import EMULATED_TAG, device_label, is_emulated

BASELINE = "float32"


def _ratio(a: Optional[float], b: Optional[float]) -> Optional[float]:
    return None if a is None or b in (None, 0) else a / b


def _get(row: dict, *keys: str) -> Any:
    value: Any = row
    for key in keys:
        if not isinstance(value, dict):
            return None
        value = value.get(key)
    return value


def _config(row: dict) -> tuple:
    return (row.get("model"), row.get("threads"), row.get("device"), row.get("delegate"), row.get("runtime"))


def _folder(row: dict) -> str:
    return os.path.dirname(str(row.get("path") or ""))


def float_partners(rows: Sequence[dict]) -> dict[int, dict]:
    """id(quantised row) -> its float32 twin: same model name and configuration, and, when one run's exports
    sit in several folders (export-a/, export-b/ benched together), the float32 file of the same folder."""
    floats: dict[tuple, list[dict]] = {}
    for r in rows:
        if r.get("precision") == BASELINE:
            floats.setdefault(_config(r), []).append(r)
    partners = {}
    for q in rows:
        if q.get("precision") == BASELINE:
            continue
        candidates = floats.get(_config(q)) or []
        same_folder = [f for f in candidates if _folder(f) == _folder(q)]
        chosen = same_folder or (candidates if len(candidates) == 1 else [])
        if chosen:
            partners[id(q)] = chosen[0]
    return partners


def quantisation_deltas(results: Sequence[dict]) -> list[dict]:
    """One entry per quantised row that has a float32 row of the same model and configuration."""
    ok = [r for r in results if r.get("status") == "ok"]
    partners = float_partners(ok)
    out = []
    for q in ok:
        f = partners.get(id(q))
        if q.get("precision") == BASELINE or f is None:
            continue
        f_mem, q_mem = _get(f, "memory", "peak_rss_increase_bytes"), _get(q, "memory", "peak_rss_increase_bytes")
        out.append({
            "model": q["model"],
            "threads": q["threads"],
            "precision": q["precision"],
            "float_accuracy": f["metrics"]["accuracy"],
            "accuracy": q["metrics"]["accuracy"],
            "accuracy_delta_pp": (q["metrics"]["accuracy"] - f["metrics"]["accuracy"]) * 100.0,
            "float_f1": f["metrics"]["f1"],
            "f1": q["metrics"]["f1"],
            "f1_delta": q["metrics"]["f1"] - f["metrics"]["f1"],
            "float_mean_us": f["latency"]["mean_us"],
            "mean_us": q["latency"]["mean_us"],
            "speedup": _ratio(f["latency"]["mean_us"], q["latency"]["mean_us"]),
            "speedup_range": paired_speedup_range(f["latency"], q["latency"]),
            "size_ratio": _ratio(q.get("size_bytes"), f.get("size_bytes")),
            "memory_ratio": _ratio(q_mem, f_mem),
        })
    return out


def paired_speedup_range(float_latency: dict, quant_latency: dict) -> Optional[list[float]]:
    """[min, max] over interleaved rounds of float p50 / quantised p50, each ratio from one round
    (both timed within seconds of each other); None for single-block timings."""
    f, q = float_latency.get("round_p50_us"), quant_latency.get("round_p50_us")
    if not (isinstance(f, list) and isinstance(q, list)) or len(f) != len(q) or len(f) < 2:
        return None
    ratios = [a / b for a, b in zip(f, q) if isinstance(a, (int, float)) and isinstance(b, (int, float)) and b > 0]
    return [min(ratios), max(ratios)] if len(ratios) == len(f) else None


def round_spread_pct(latency: dict) -> Optional[float]:
    """How far the slowest round's median is above the fastest's (%): the drift the rounds averaged."""
    p50s = latency.get("round_p50_us")
    if not isinstance(p50s, list) or len(p50s) < 2 or not all(isinstance(v, (int, float)) and v > 0 for v in p50s):
        return None
    return (max(p50s) / min(p50s) - 1.0) * 100.0


DELTA_HEADERS = ["model", "threads", "float acc %", "quant", "acc %", "Δacc pp", "float F1", "F1", "ΔF1",
                 "float mean us", "mean us", "speedup x", "per-round x", "size ratio", "memory ratio"]


# Columns whose values are timings: under emulation they measure the emulator, and say so in the header.
TIMING_HEADERS = {"mean us", "p50 us", "p99 us", "rounds ±%", "img/s", "float mean us", "speedup x", "per-round x",
                  "float32 us", "quant us", "quant/float x", "quant %"}


def headers_for(headers: Sequence[str], emulated: bool) -> list[str]:
    """``headers`` with every timing column marked "(emulated)" when the run was emulated."""
    return [f"{h} {EMULATED_TAG}" if emulated and h in TIMING_HEADERS else h for h in headers]


def delta_rows(deltas: Sequence[dict]) -> list[list]:
    return [[d["model"], d["threads"], _pct(d["float_accuracy"]), d["precision"], _pct(d["accuracy"]),
             _round(d["accuracy_delta_pp"], 2), _round(d["float_f1"], 4), _round(d["f1"], 4), _round(d["f1_delta"], 4),
             _round(d["float_mean_us"], 1), _round(d["mean_us"], 1), _round(d["speedup"], 2),
             format_range(d.get("speedup_range")), _round(d["size_ratio"], 3), _round(d["memory_ratio"], 2)]
            for d in deltas]


def format_range(pair: Optional[Sequence[float]]) -> Optional[str]:
    """[0.48, 0.52] -> "0.48-0.52" (None stays None: a missing cell)."""
    return None if not pair else f"{pair[0]:.2f}-{pair[1]:.2f}"


SUMMARY_HEADERS = ["model", "precision", "input", "threads", "status", "acc %", "F1", "mean us", "p50 us", "p99 us",
                   "rounds ±%", "img/s", "size KiB", "mem MiB", "delegated", "error"]


def input_size(row: dict) -> Optional[str]:
    """The model's input per image, as "HxWxC" (e.g. "32x32x3"), from the row's input tensor; None if unknown."""
    shape = _get(row, "input", "shape")
    if not isinstance(shape, list) or len(shape) < 2:
        return None
    return "x".join(str(d) for d in shape[1:])


def summary(results: Sequence[dict]) -> list[list]:
    rows = []
    for r in results:
        lat = r.get("latency") or {}
        mem = _get(r, "memory", "peak_rss_increase_bytes")
        rows.append([
            r.get("model"), r.get("precision"), input_size(r), r.get("threads"), r.get("status"),
            _pct(_get(r, "metrics", "accuracy")), _round(_get(r, "metrics", "f1"), 4),
            _round(lat.get("mean_us"), 1), _round(lat.get("p50_us"), 1), _round(lat.get("p99_us"), 1),
            _round(round_spread_pct(lat), 1), _round(lat.get("images_per_s"), 0),
            _round(r["size_bytes"] / 1024, 1) if r.get("size_bytes") is not None else None,
            _round(mem / 2**20, 2) if mem is not None else None,
            summary_cell(r.get("delegation")),
            r.get("error") or "",
        ])
    return rows


PER_CLASS_HEADERS = ["model", "precision", "class", "precision", "recall", "F1", "support"]


def per_class(results: Sequence[dict]) -> list[list]:
    rows, seen = [], set()
    for r in results:
        key = (r.get("model"), r.get("precision"), r.get("sha256"))
        if r.get("status") != "ok" or key in seen:  # per-class scores do not depend on threads
            continue
        seen.add(key)
        for c in r["metrics"].get("per_class", []):
            rows.append([r["model"], r["precision"], c["label"], _round(c["precision"], 4), _round(c["recall"], 4),
                         _round(c["f1"], 4), c["support"]])
    return rows


# ------------------------------------------------------------------ several machines

COMPARE_METRICS = (("acc %", lambda r: _pct(_get(r, "metrics", "accuracy"))),
                   ("mean us", lambda r: _round(_get(r, "latency", "mean_us"), 1)),
                   ("p99 us", lambda r: _round(_get(r, "latency", "p99_us"), 1)))


def compare(docs: Sequence[tuple[str, dict]]) -> tuple[list[str], list[str], list[list]]:
    """(device labels, headers, rows) for documents from several runs; ``docs`` = [(source, doc), ...]."""
    devices: list[str] = []
    cells: dict[tuple, dict[str, dict]] = {}
    name_by_sha: dict[str, str] = {}
    for _source, doc in docs:
        label = device_label(doc["environment"])
        if label in devices:  # two runs on the same machine/runtime: keep them apart
            n = 2
            while f"{label} #{n}" in devices:
                n += 1
            label = f"{label} #{n}"
        devices.append(label)
        for r in doc["results"]:
            sha = r.get("sha256")
            # the same file benchmarked on two machines joins on its hash, whatever its path/name there
            name = name_by_sha.setdefault(sha, r["model"]) if sha else r["model"]
            cells.setdefault((name, r["precision"], r["threads"]), {})[label] = r
    headers = ["model", "precision", "threads"]
    for i, (_source, doc) in enumerate(docs, 1):
        headers += [f"[{i}] {m}" for m in headers_for([m for m, _ in COMPARE_METRICS], is_emulated(doc["environment"]))]
    rows = []
    for key in sorted(cells, key=lambda k: (str(k[0]), str(k[1]), k[2])):
        row = list(key)
        for label in devices:
            r = cells[key].get(label)
            if r is None:
                row += [None] * len(COMPARE_METRICS)
            elif r.get("status") != "ok":
                row += ["error"] + [None] * (len(COMPARE_METRICS) - 1)
            else:
                row += [fn(r) for _, fn in COMPARE_METRICS]
        rows.append(row)
    return devices, headers, rows


def _pct(x: Optional[float]) -> Optional[float]:
    return None if x is None else round(x * 100.0, 2)


def _round(x: Optional[float], digits: int) -> Optional[float]:
    return None if x is None else round(float(x), digits)


# ------------------------------------------------------------------ per-node profiles (bench --profile)

PROFILE_TYPE_HEADERS = ["model", "threads", "op", "count", "float32 us", "quant us", "quant/float x", "quant %"]
PROFILE_NODE_HEADERS = ["model", "threads", "node", "op", "output", "float32 us", "quant us", "quant/float x",
                        "quant %", "delegated", "flags"]
OVERHEAD_OP = "(per-invoke overhead)"


def _profiled(r: dict) -> Optional[dict]:
    p = r.get("profile")
    return p if r.get("status") == "ok" and isinstance(p, dict) and isinstance(p.get("nodes"), list) else None


def profile_pairs(results: Sequence[dict]) -> list[tuple[dict, Optional[dict], Optional[dict]]]:
    """(key, float32 row, quantised row) for every profiled configuration: a quantised row beside the float32
    row of the same model, threads, device and runtime; a profiled row without a partner stands alone."""
    profiled = [r for r in results if _profiled(r)]
    partners = float_partners(profiled)
    pairs, used = [], set()
    for q in profiled:
        if q.get("precision") == BASELINE:
            continue
        f = partners.get(id(q))
        if f is not None:
            used.add(id(f))
        pairs.append(({"model": q.get("model"), "threads": q.get("threads"), "precision": q.get("precision")}, f, q))
    for f in profiled:
        if f.get("precision") == BASELINE and id(f) not in used:
            pairs.append(({"model": f.get("model"), "threads": f.get("threads"), "precision": None}, f, None))
    return pairs


def _label(key: dict) -> str:
    return f"{key['model']} ({key['precision']})" if key.get("precision") else str(key["model"])


def profile_type_rows(results: Sequence[dict]) -> list[list]:
    """"Summary by node type", float32 and quantised side by side, sorted by the quantised time (else float's)."""
    rows = []
    for key, f, q in profile_pairs(results):
        fp, qp = (_profiled(f) if f else None), (_profiled(q) if q else None)
        f_by = {g["op"]: g for g in (fp or {}).get("by_type", [])}
        q_by = {g["op"]: g for g in (qp or {}).get("by_type", [])}
        ops = sorted(set(f_by) | set(q_by), key=lambda op: -((q_by.get(op) or f_by.get(op) or {}).get("us") or 0.0))
        q_total = (qp or {}).get("total_us")
        entries = [(op, (q_by.get(op) or f_by.get(op))["count"], (f_by.get(op) or {}).get("us"), (q_by.get(op) or {}).get("us"))
                   for op in ops]
        entries.append((OVERHEAD_OP, None, (fp or {}).get("overhead_us"), (qp or {}).get("overhead_us")))
        entries.append(("total", sum(g["count"] for g in (q_by or f_by).values()), (fp or {}).get("total_us"), q_total))
        for op, count, fu, qu in entries:
            rows.append([_label(key), key["threads"], op, count, _round(fu, 2), _round(qu, 2),
                         _round(_ratio(qu, fu), 2) if fu and fu > 0.5 else None,
                         _round(100 * qu / q_total, 1) if qu is not None and q_total else None])
    return rows


def node_partners(float_profile: dict, quant_profile: dict) -> dict[int, dict]:
    """Quantised node index -> the float32 node that does the same work: the two graphs lined up on (op, output
    shape) with difflib, so a node the int8 graph adds (a QUANTIZE, a rewritten stem) leaves the rest paired."""
    import difflib

    def key(n: dict) -> tuple:
        return (n["op"], tuple(n.get("output_shape") or ()))

    f_nodes, q_nodes = float_profile["nodes"], quant_profile["nodes"]
    matcher = difflib.SequenceMatcher(a=[key(n) for n in q_nodes], b=[key(n) for n in f_nodes], autojunk=False)
    partners = {}
    for block in matcher.get_matching_blocks():
        for i in range(block.size):
            partners[q_nodes[block.a + i]["index"]] = f_nodes[block.b + i]
    return partners


def profile_node_rows(results: Sequence[dict], top: Optional[int] = 10) -> list[list]:
    """"Top by computation time": the slowest nodes (of the quantised model when there is one), each beside the
    float32 node doing the same work (:func:`node_partners`; blank where the quantised graph has a node of its own)."""
    rows = []
    for key, f, q in profile_pairs(results):
        fp, qp = (_profiled(f) if f else None), (_profiled(q) if q else None)
        main = qp or fp
        partner = node_partners(fp, qp) if fp and qp else {}
        nodes = sorted(main["nodes"], key=lambda n: -n["us"])
        if top is not None:
            nodes = nodes[: int(top)]
        total = main.get("total_us")
        for n in nodes:
            fnode = n if main is fp else partner.get(n["index"])
            qu = n["us"] if main is qp else None
            fu = fnode["us"] if fnode else None
            delegated = n.get("delegated")
            rows.append([_label(key), key["threads"], n["index"], n["op"], "x".join(map(str, n.get("output_shape") or [])),
                         _round(fu, 2), _round(qu, 2), _round(_ratio(qu, fu), 2) if fu and fu > 0.5 else None,
                         _round(100 * n["us"] / total, 1) if total else None,
                         None if delegated is None else ("yes" if delegated else "NO"), " ".join(n.get("flags") or [])])
    return rows


def profile_validation_lines(results: Sequence[dict]) -> list[str]:
    """One line per profiled row: whether the independent one-op measurement agrees with the prefix split."""
    lines = []
    for r in results:
        p = r.get("profile")
        if not isinstance(p, dict) or r.get("status") != "ok":
            continue
        head = f"{r.get('model')} {r.get('precision')}, {r.get('threads')} thread(s)"
        if p.get("error"):
            lines.append(f"{head}: profile failed: {p['error']}")
            continue
        v = p.get("validation") or {}
        if v.get("ok") is None:
            lines.append(f"{head}: not validated")
            continue
        disagree = [f"{n['op']} (node {n['index']})" for n in p["nodes"] if "disagree" in (n.get("flags") or [])]
        ratio = v.get("sum_ratio")
        lines.append(f"{head}: one-op models sum to {'-' if ratio is None else f'{ratio:.3f}'} of the whole, "
                     f"{v.get('nodes_agreeing')}/{len(p['nodes'])} nodes agree with it"
                     + (f"; DISAGREE: {', '.join(disagree)}" if disagree else "")
                     + ("" if v.get("ok") else " -> validation FAILED: read this profile with care"))
    return lines
