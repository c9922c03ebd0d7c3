"""`make demo` end to end on a tiny setting, and the report it writes."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    if shutil.which("make") is None:
        pytest.skip("make not installed")
    out = tmp_path_factory.mktemp("demo") / "runs"
    proc = subprocess.run(
        ["make", "-s", "demo", f"VENV={sys.prefix}", "DEMO_EPOCHS=1", "DEMO_LIMIT=800", f"DEMO_OUT={out}",
         "DEMO_BENCH_ARGS=--limit 500 --runs 50 --warmup 5 --min-seconds 0.2"],
        cwd=ROOT, capture_output=True, text=True, timeout=900,
    )
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    return out, proc.stdout


@pytest.mark.slow
def test_demo_trains_exports_benches_and_reports(demo):
    out, stdout = demo
    for model in ("mobilenet", "shufflenet"):
        run = out / model
        for name in ("config.json", "model.keras", "history.csv", "metrics.json", "curves.png", "confusion.png",
                     "export/model_float32.tflite", "export/model_int8.tflite", "export/export.json"):
            assert (run / name).is_file(), f"{run / name} missing"
    doc = json.loads((out / "bench-cpu.json").read_text())
    rows = {(r["model"], r["precision"]): r for r in doc["results"]}
    assert set(rows) == {(m, p) for m in ("mobilenet", "shufflenet") for p in ("float32", "int8")}
    assert all(r["status"] == "ok" for r in rows.values())
    assert "float32 vs quantised" in stdout  # the float-vs-int8 table was printed
    # every row profiled per node (the parts and the overhead make the whole) and its delegation reported
    for r in rows.values():
        p = r["profile"]
        assert sum(n["us"] for n in p["nodes"]) + p["overhead_us"] == pytest.approx(p["total_us"], rel=1e-9)
        assert r["delegation"]["status"] in ("full", "partial")
    assert "profile: summary by node type" in stdout and "profile validation" in stdout


@pytest.mark.slow
def test_report_has_every_section_plot_and_the_measured_numbers(demo):
    out, _ = demo
    report = out / "report"
    md = (report / "index.md").read_text()
    html = (report / "index.html").read_text()
    for section in ("1. The answer: float32 vs int8, accuracy vs latency", "2. Evaluation on the untouched test set",
                    "3. Computational efficiency", "4. Training convergence", "5. Beside the reference study",
                    "6. Models and complexity"):
        assert section in md and section in html
    pngs = {p.name for p in report.glob("*.png")}
    assert pngs == {"mobilenet-curves.png", "mobilenet-confusion.png", "shufflenet-curves.png",
                    "shufflenet-confusion.png", "latency.png", "accuracy_vs_latency.png", "profile.png"}
    for png in pngs:
        assert f"({png})" in md  # linked from the Markdown
    assert html.count('src="data:image/png;base64,') == len(pngs)  # embedded: the page is self-contained
    # numbers are the run's own, not re-measured: the Keras test accuracy from metrics.json
    for model in ("mobilenet", "shufflenet"):
        acc = json.loads((out / model / "metrics.json").read_text())["test"]["accuracy"]
        assert re.search(rf"\| {model} +\| Keras float +\| {100 * acc:.2f} ", md), model
    # and the int8 row is the bench's measurement of that run's int8 file
    doc = json.loads((out / "bench-cpu.json").read_text())
    int8 = next(r for r in doc["results"] if r["model"] == "shufflenet" and r["precision"] == "int8")
    assert re.search(rf"\| shufflenet +\| TFLite int8 +\| {100 * int8['metrics']['accuracy']:.2f} ", md)
    # the float/int8 speed ratio within each interleaved round: its range, as the bench computed it
    lo, hi = next(c for c in doc["comparisons"] if c["model"] == "shufflenet")["speedup_range"]
    assert re.search(rf"\| shufflenet +\| 1 +\| int8 +\|[^\n]*\| {lo:.2f}-{hi:.2f} +\|", md)
    # where it was measured, SIMD features included (they decide which int8 kernels run)
    features = doc["environment"]["cpu_features"]
    simd = " ".join(features) if features is not None else "not recorded"
    assert re.search(rf"\| bench-cpu\.json +\| [^|]+\| [^|]+\| {re.escape(simd)} +\|", md), simd
