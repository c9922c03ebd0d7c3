"""Load + allocate + one invoke of a model in a child process: crash isolation and a clean memory figure.

The interpreter is native code; a flatbuffer that passes the runtime's verifier can still crash
it. Running the first load in ``python -m edgenets.bench.probe`` turns a segfault into a failed
row ("crashed with SIGSEGV") instead of a dead benchmark. The fresh process also gives an honest
peak-RSS increase for load + allocate + inference, unpolluted by earlier models and the data set.
Cost: one interpreter start-up (~0.2-0.3 s on a desktop) per row.
"""

from __future__ import annotations

import json
import signal
import subprocess
import sys
from typing import Optional

from edgenets.errors import first_line

PROBE_TIMEOUT_S = 300


def describe_exit(returncode: int, stderr: str) -> str:
    """A one-line reason for a child that did not report success."""
    if returncode < 0:
        try:
            name = signal.Signals(-returncode).name
        except ValueError:
            name = f"signal {-returncode}"
        return f"the runtime crashed with {name} while loading/running the model (corrupt or unsupported file?)"
    tail = [line.strip() for line in stderr.strip().splitlines() if line.strip()]
    return tail[-1] if tail else f"probe exited with status {returncode}"


def run_isolated(args: list[str], timeout: float = PROBE_TIMEOUT_S) -> tuple[Optional[dict], Optional[str]]:
    """Run ``python ARGS...`` expecting one JSON line on stdout: (report, None) or (None, reason)."""
    try:
        proc = subprocess.run([sys.executable, *args], capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        return None, f"loading the model did not finish within {timeout:.0f} s"
    report = None
    for line in reversed(proc.stdout.strip().splitlines()):
        try:
            report = json.loads(line)
            break
        except ValueError:
            continue
    if proc.returncode == 0 and isinstance(report, dict):
        return report, None
    if isinstance(report, dict) and report.get("error"):
        return None, str(report["error"])
    return None, describe_exit(proc.returncode, proc.stderr)


def probe(model_path: str, runtime: str, *, threads: int = 1, device: str = "cpu",
          delegate: Optional[str] = None) -> tuple[Optional[dict], Optional[str]]:
    """Load the model in a child process; (report with memory, None) or (None, reason)."""
    spec = {"path": str(model_path), "runtime": runtime, "threads": threads, "device": device, "delegate": delegate}
    return run_isolated(["-m", "edgenets.bench.probe", json.dumps(spec)])


def _child(spec: dict) -> dict:
    import numpy as np

    from edgenets.bench.memory import PeakRss
    from edgenets.bench.runtime import resolve_runtime

    rt = resolve_runtime(spec["runtime"])
    with PeakRss() as mem:
        it = rt.make_interpreter(spec["path"], threads=spec["threads"], device=spec["device"], delegate=spec["delegate"])
        it.allocate_tensors()
        for d in it.get_input_details():
            it.set_tensor(d["index"], np.zeros(d["shape"], dtype=d["dtype"]))
        it.invoke()
    return {"ok": True, "peak_rss_increase_bytes": mem.increase, "method": mem.method}


def main(argv: list[str]) -> int:
    try:
        report = _child(json.loads(argv[0]))
    except Exception as exc:  # noqa: BLE001 - the parent turns this into the row's error
        message = first_line(exc)
        print(json.dumps({"ok": False, "error": message}))
        return 1
    print(json.dumps(report))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
