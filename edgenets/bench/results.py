"""The results document: what one ``edgenets bench`` run measured, and where.

``{"schema": "edgenets.bench/1", "environment": {...}, "results": [row, ...]}`` with one row per
(model, threads). docs/bench.md describes every field. :func:`validate` checks a document read
back from disk (for ``edgenets compare``) and names the file and the field that is wrong.
"""

from __future__ import annotations

import datetime as _dt
import json
import os
import platform
from pathlib import Path
from typing import Any, Optional, Sequence

from edgenets.errors import InputError

SCHEMA = "edgenets.bench/1"
STATUSES = ("ok", "error")

# Set by the launcher of an emulated board (board/build.py writes it into the qemu wrapper): what emulates
# the CPU, e.g. "qemu-user 7.2.0 cortex-a76, Debian bookworm arm64". Results made there record it as
# environment.emulated, and every table marks their latencies: an emulator's timing says nothing about a board.
EMULATED_ENV = "EDGENETS_EMULATED"
EMULATED_TAG = "(emulated)"


def emulation() -> Optional[str]:
    """What emulates this machine's CPU, or None on real hardware (as far as edgenets was told)."""
    value = os.environ.get(EMULATED_ENV, "").strip()
    return value or None


def is_emulated(environment: Any) -> bool:
    return isinstance(environment, dict) and bool(environment.get("emulated"))


# The SIMD features that decide which LiteRT/XNNPACK kernels run, int8 ones above all: x86 AVX2 /
# AVX-512 / VNNI dot products, ARM NEON (asimd), its int8 dot product (asimddp) and matrix multiply
# (i8mm). Two machines that differ here can rank float32 and int8 differently.
SIMD_FEATURES = ("sse4_1", "avx", "avx2", "fma", "avx512f", "avx512bw", "avx512_vnni", "avx_vnni", "amx_int8",
                 "neon", "asimd", "asimdhp", "asimddp", "i8mm", "sve", "sve2")


# What each feature gives int8 kernels, best first per architecture (XNNPACK ships kernels for all of them).
INT8_FEATURES = {
    "x86": (("amx_int8", "AMX (int8 tile matrix multiply)"), ("avx512_vnni", "AVX-512 VNNI (int8 dot products)"),
            ("avx_vnni", "AVX-VNNI (int8 dot products, 256-bit)"), ("avx512bw", "AVX-512BW (16-bit multiply-add)"),
            ("avx2", "AVX2 (16-bit multiply-add, no int8 dot product)")),
    "arm": (("i8mm", "int8 matrix multiply (SMMLA)"), ("asimddp", "NEON dot product (SDOT)"),
            ("asimd", "NEON (no int8 dot product)"), ("neon", "NEON (no int8 dot product)")),
}


def int8_capability(features: Optional[list]) -> Optional[str]:
    """One line on the int8 instructions a CPU offers its kernels, and which of the faster ones it lacks: the
    reason the same int8 model can beat float32 on one machine and lose to it on another."""
    if not isinstance(features, list):
        return None
    present = set(features)
    for arch in ("x86", "arm"):
        table = INT8_FEATURES[arch]
        if not present & {name for name, _ in table}:
            continue
        have = [text for name, text in table if name in present]
        lacking = []
        for name, text in table:  # the faster ones above the best it has
            if name in present:
                break
            lacking.append(text.split(" (")[0])
        line = f"int8 kernels can use: {have[0]}"
        if lacking:
            line += f"; this CPU lacks {', '.join(lacking)}"
        return line
    return None


def _cpuinfo() -> str:
    try:
        with open("/proc/cpuinfo") as f:
            return f.read()
    except OSError:
        return ""


def cpu_features(info: Optional[str] = None) -> Optional[list[str]]:
    """The :data:`SIMD_FEATURES` this CPU reports (/proc/cpuinfo 'flags' on x86, 'Features' on ARM),
    in that order; None where the kernel does not say (no /proc/cpuinfo, or no such line)."""
    info = _cpuinfo() if info is None else info
    for line in info.splitlines():
        key, _, value = line.partition(":")
        if key.strip() in ("flags", "Features"):
            present = set(value.split())
            return [name for name in SIMD_FEATURES if name in present]
    return None


def cpu_model(info: Optional[str] = None) -> str:
    """A human CPU name: /proc/cpuinfo 'model name' (x86), 'Model' (Raspberry Pi), else platform."""
    info = _cpuinfo() if info is None else info
    found: dict[str, str] = {}
    for line in info.splitlines():
        key, _, value = line.partition(":")
        found.setdefault(key.strip(), value.strip())
    for key in ("model name", "Model", "Hardware", "cpu model", "Processor"):
        if found.get(key):
            return found[key]
    return platform.processor() or platform.machine() or "unknown"


def collect_environment(*, runtime: Any, threads: Sequence[int], device: str, delegate: Optional[str],
                        dataset: Optional[str]) -> dict:
    from edgenets import __version__

    try:
        import numpy

        numpy_version = numpy.__version__
    except ImportError:  # pragma: no cover
        numpy_version = None
    cpuinfo = _cpuinfo()
    return {
        "hostname": platform.node(),
        "machine": platform.machine(),
        "cpu": cpu_model(cpuinfo),
        "cpu_features": cpu_features(cpuinfo),
        "cores": os.cpu_count(),
        "emulated": emulation(),
        "os": platform.platform(),
        "python": platform.python_version(),
        "runtime": runtime.name,
        "runtime_version": runtime.version,
        "threads": [int(t) for t in threads],
        "device": device,
        "delegate": delegate,
        "dataset": dataset,
        "edgenets_version": __version__,
        "numpy_version": numpy_version,
        "created": _dt.datetime.now(_dt.timezone.utc).replace(microsecond=0).isoformat(),
    }


def make_document(environment: dict, results: list[dict]) -> dict:
    return {"schema": SCHEMA, "environment": environment, "results": results}


def device_label(environment: dict) -> str:
    """How compare names a column group: host / CPU / runtime (+ delegate or cpu-ref)."""
    label = f"{environment.get('hostname') or '?'} / {environment.get('cpu') or '?'} / " \
            f"{environment.get('runtime')} {environment.get('runtime_version')}"
    if environment.get("delegate"):
        label += f" / {Path(str(environment['delegate'])).name}"
    elif environment.get("device") not in (None, "cpu"):
        label += f" / {environment['device']}"
    if is_emulated(environment):
        label += " / EMULATED"
    return label


# ------------------------------------------------------------------ validation on read

_NUMBER = (int, float)
_ENV_FIELDS = {"hostname": str, "machine": str, "cpu": str, "runtime": str, "runtime_version": str, "threads": list}
_ROW_FIELDS = {"model": str, "path": str, "precision": str, "threads": int, "status": str}
_OK_FIELDS = {"sha256": str, "size_bytes": int, "metrics": dict, "latency": dict}
_METRICS = ("accuracy", "precision", "recall", "f1")
_LATENCY = ("mean_us", "std_us", "min_us", "p50_us", "p90_us", "p99_us", "runs")


def _type_name(value: Any) -> str:
    return "null" if value is None else type(value).__name__


def _check(obj: dict, fields: dict, where: str, source: str) -> None:
    for name, kind in fields.items():
        if name not in obj:
            raise InputError(f"{source}: {where}{name}: missing")
        value = obj[name]
        ok = isinstance(value, kind) and not (kind in (int, _NUMBER) and isinstance(value, bool))
        if not ok:
            raise InputError(f"{source}: {where}{name}: expected {getattr(kind, '__name__', 'number')}, "
                             f"got {_type_name(value)}")


def validate(doc: Any, source: str) -> dict:
    """Return ``doc`` if it is a results document; else raise InputError naming ``source`` and the field."""
    if not isinstance(doc, dict):
        raise InputError(f"{source}: not an edgenets results document (top level is {_type_name(doc)}, expected object)")
    if doc.get("schema") != SCHEMA:
        raise InputError(f"{source}: schema: expected {SCHEMA!r}, got {doc.get('schema')!r} (not an edgenets bench result?)")
    env = doc.get("environment")
    if not isinstance(env, dict):
        raise InputError(f"{source}: environment: expected object, got {_type_name(env)}")
    _check(env, _ENV_FIELDS, "environment.", source)
    if env.get("emulated") is not None and not isinstance(env["emulated"], str):
        raise InputError(f"{source}: environment.emulated: expected str or null, got {_type_name(env['emulated'])}")
    rows = doc.get("results")
    if not isinstance(rows, list):
        raise InputError(f"{source}: results: expected list, got {_type_name(rows)}")
    for i, row in enumerate(rows):
        where = f"results[{i}]."
        if not isinstance(row, dict):
            raise InputError(f"{source}: results[{i}]: expected object, got {_type_name(row)}")
        _check(row, _ROW_FIELDS, where, source)
        if row["status"] not in STATUSES:
            raise InputError(f"{source}: {where}status: expected one of {', '.join(STATUSES)}, got {row['status']!r}")
        if row["status"] != "ok":
            continue
        _check(row, _OK_FIELDS, where, source)
        _check(row["metrics"], {k: _NUMBER for k in _METRICS}, where + "metrics.", source)
        _check(row["latency"], {k: _NUMBER for k in _LATENCY}, where + "latency.", source)
    return doc


def load(path: str | os.PathLike) -> dict:
    """Read and validate one results JSON file."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise InputError(f"{path}: file not found") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise InputError(f"{path}: cannot read ({exc})") from None
    try:
        doc = json.loads(text)
    except ValueError as exc:
        raise InputError(f"{path}: not valid JSON ({exc})") from None
    return validate(doc, str(path))


def dumps(doc: dict) -> str:
    from edgenets._io import _json_default

    return json.dumps(doc, indent=2, default=_json_default) + "\n"
