"""Report: bad inputs fail cleanly; the document model renders the same content to Markdown and HTML; a
report on a 32x32x3 colour run leads with the answer, says the real input size, and collapses the layer tables.

The full report on real MNIST runs is exercised by tests/test_demo.py (it runs `make demo`)."""

from __future__ import annotations

import hashlib
import json
import re

import numpy as np
import pytest
from conftest import assert_one_line_error

from edgenets import runconfig
from edgenets.report.document import Details, Document, Heading, Paragraph, Table, to_html, to_markdown

METRIC_KEYS = ["accuracy", "precision", "recall", "f1"]


def _run_dir(root, name="run", *, shape=(28, 28, 1), classes=10, dataset="mnist", preprocessing="pixels/255"):
    """A run directory with a valid config.json (written by the schema module, as `edgenets train` does)."""
    run = root / name
    run.mkdir(parents=True)
    runconfig.write(run, {"model": "tiny", "dataset": str(dataset), "seed": 0, "val_split": 0.1, "num_classes": classes,
                          "class_names": [str(i) for i in range(classes)], "input_shape": list(shape),
                          "preprocessing": preprocessing})
    return run


def test_missing_run_directory(run_cli, tmp_path):
    assert_one_line_error(run_cli("report", tmp_path / "nope", "--out", tmp_path / "r"), "nope", "run directory not found")
    assert not (tmp_path / "r").exists()


def test_run_without_config(run_cli, tmp_path):
    (tmp_path / "run").mkdir()
    assert_one_line_error(run_cli("report", tmp_path / "run", "--out", tmp_path / "r"), str(tmp_path / "run" / "config.json"),
                          "not found", "finished `edgenets train` run")


@pytest.mark.parametrize("content, fragment", [("{not json", "not valid JSON"), ('{"model": "mobilenet"}', "missing keys"),
                                               ("[1]", "expected a JSON object")])
def test_malformed_config(run_cli, tmp_path, content, fragment):
    run = tmp_path / "run"
    run.mkdir()
    (run / "config.json").write_text(content)
    assert_one_line_error(run_cli("report", run, "--out", tmp_path / "r"), "config.json", fragment)
    assert not (tmp_path / "r").exists()


def test_run_without_metrics(run_cli, tmp_path):
    run = _run_dir(tmp_path)
    assert_one_line_error(run_cli("report", run, "--out", tmp_path / "r"), str(run / "metrics.json"), "file not found")


@pytest.mark.parametrize("content, fragment", [("{not json", "not readable JSON"), ("[1, 2]", "expected a JSON object"),
                                               ('{"test": {}}', "training: missing"),
                                               ('{"test": {}, "training": {}}', "test.accuracy: missing")])
def test_malformed_metrics(run_cli, tmp_path, content, fragment):
    run = _run_dir(tmp_path)
    (run / "metrics.json").write_text(content)
    assert_one_line_error(run_cli("report", run, "--out", tmp_path / "r"), "metrics.json", fragment)


def test_foreign_bench_file(run_cli, tmp_path):
    run = _run_dir(tmp_path)
    (run / "metrics.json").write_text(json.dumps({"test": dict.fromkeys(METRIC_KEYS, 0.5), "training": {}}))
    bench = tmp_path / "other.json"
    bench.write_text(json.dumps({"schema": "someone-else/2"}))
    assert_one_line_error(run_cli("report", run, "--bench", bench, "--out", tmp_path / "r"), str(bench), "schema")


def test_markdown_and_html_render_the_same_cells(tmp_path):
    doc = Document("t").add(Heading("Section"), Paragraph("uses `code`"),
                            Table(["model", "accuracy %"], [["mobilenet", 99.3712], ["shufflenet", None]]),
                            Details("Layers of `tiny`", [Table(["layer"], [["stem_conv"]])]))
    md, page = to_markdown(doc, tmp_path), to_html(doc)
    assert "## Section" in md and "<h2>Section</h2>" in page
    assert "<code>code</code>" in page and "`code`" in md
    assert "| mobilenet  | 99.37 " in md and '<td class="n">99.37</td>' in page
    assert "| –" in md and "<td>–</td>" in page  # a missing value is a dash, not "None"
    # collapsed: the table inside <details>, in both renderings (GitHub renders Markdown between the tags)
    assert re.search(r"<details>\n<summary>Layers of <code>tiny</code></summary>\n\n\| layer +\|\n[^<]*stem_conv[^<]*"
                     r"\n</details>", md), md
    assert re.search(r"<details><summary>Layers of <code>tiny</code></summary>\n<table>.*stem_conv.*</table>\n</details>",
                     page, re.S), page


def _captured_figure(monkeypatch):
    """Swap the PNG writer for one that keeps the matplotlib figure, so a test can read what was drawn."""
    from edgenets.report import plots

    figures = []
    monkeypatch.setattr(plots, "save_png", lambda fig, path: figures.append(fig) or path)
    return plots, figures


def _same_within_and_distinct_between(keys, colors):
    by_key: dict = {}
    for key, color in zip(keys, colors):
        by_key.setdefault(key, set()).add(tuple(round(c, 6) for c in color))
    assert all(len(v) == 1 for v in by_key.values()), by_key  # float and int8 twins share one colour
    assert len({next(iter(v)) for v in by_key.values()}) == len(by_key)  # and no two models share one


@pytest.mark.parametrize("n_models", [7, 12])
def test_accuracy_vs_latency_colours_by_model_and_marks_precision(tmp_path, monkeypatch, n_models):
    # 7 models x 2 precisions is 14 points: matplotlib's 10-colour default cycle gave the 11th point the
    # 1st one's colour, so two different models looked like a float/int8 pair in the study's plot
    plots, figures = _captured_figure(monkeypatch)
    points = [{"model": f"model{i}", "precision": precision, "mean_us": 100.0 + 10 * i + (50 if precision == "int8" else 0),
               "accuracy": 0.95 + i / 1000} for i in range(n_models) for precision in ("float32", "int8")]
    plots.accuracy_vs_latency(points, tmp_path / "a.png")
    (ax,) = figures[0].axes
    assert len(ax.collections) == len(points)
    _same_within_and_distinct_between([p["model"] for p in points], [c.get_facecolor()[0] for c in ax.collections])
    # precision is the marker: a float32 point and an int8 point never have the same shape
    shapes = {p["precision"]: set() for p in points}
    for p, c in zip(points, ax.collections):
        shapes[p["precision"]].add(c.get_paths()[0].vertices.tobytes())
    assert len(shapes["float32"]) == 1 and len(shapes["int8"]) == 1 and shapes["float32"] != shapes["int8"]


def test_latency_cdf_colours_by_group_and_dashes_quantised(tmp_path, monkeypatch):
    plots, figures = _captured_figure(monkeypatch)
    series = [{"label": f"run{i} {precision} t1", "group": f"run{i} t1", "quantised": precision == "int8",
               "percentiles_us": [100.0 + i + k for k in range(101)]} for i in range(11) for precision in ("float32", "int8")]
    plots.latency_cdf(series, tmp_path / "l.png")
    (ax,) = figures[0].axes
    assert [line.get_label() for line in ax.lines] == [s["label"] for s in series]
    _same_within_and_distinct_between([s["group"] for s in series], [line.get_color() for line in ax.lines])
    assert [line.get_linestyle() for line in ax.lines] == ["--" if s["quantised"] else "-" for s in series]


def test_group_colors_stay_distinct_past_twenty():
    from edgenets.report.plots import group_colors

    for n in (1, 10, 11, 20, 21, 40):
        colors = group_colors([f"g{i}" for i in range(n)] + ["g0"])  # a repeat adds no colour
        assert list(colors) == [f"g{i}" for i in range(n)]
        assert len(set(colors.values())) == n


def test_accuracy_vs_latency_legend_says_the_input_size(tmp_path, monkeypatch):
    plots, figures = _captured_figure(monkeypatch)
    plots.accuracy_vs_latency([{"model": "colour", "precision": "int8", "input": "32x32x3", "mean_us": 90.0,
                                "accuracy": 0.5}], tmp_path / "a.png")
    (ax,) = figures[0].axes
    assert ax.get_legend_handles_labels()[1] == ["colour int8, 32x32x3"]


# --- a whole report, on a run whose images are not 28x28 grey -----------------------------------------------------

@pytest.fixture(scope="module")
def colour_study(tmp_path_factory):
    """A 3-class 32x32x3 run directory as `edgenets train` and `edgenets export` leave it (a small Keras CNN,
    untrained: the report reads numbers, it does not judge them), and a real bench of its float32 and int8 files."""
    import keras

    from edgenets.bench import run_bench
    from edgenets.bench.results import dumps
    from edgenets.export.convert import to_tflite

    root = tmp_path_factory.mktemp("study")
    rng = np.random.default_rng(0)
    x = rng.integers(0, 256, (60, 32, 32, 3), dtype=np.uint8)
    y = np.arange(60) % 3
    data = root / "colour.npz"
    np.savez(data, x_train=x, y_train=y, x_test=x[:30], y_test=y[:30])
    run = _run_dir(root, "colour", shape=(32, 32, 3), classes=3, dataset=data)
    keras.utils.set_random_seed(0)
    inp = keras.Input((32, 32, 3), name="image")
    h = keras.layers.Conv2D(8, 3, strides=2, padding="same", activation="relu", name="stem_conv")(inp)
    h = keras.layers.GlobalAveragePooling2D(name="head_pool")(h)
    model = keras.Model(inp, keras.layers.Dense(3, name="head_logits")(h), name="tiny")
    model.save(run / "model.keras")
    export = run / "export"
    export.mkdir()
    models = []
    for precision in ("float32", "int8"):
        blob = to_tflite(model, precision, representative=x[:16] if precision == "int8" else None, progress=False)
        (export / f"model_{precision}.tflite").write_bytes(blob)
        models.append({"precision": precision, "file": f"model_{precision}.tflite", "size_bytes": len(blob),
                       "sha256": hashlib.sha256(blob).hexdigest()})
    (export / "export.json").write_text(json.dumps({"model": "tiny", "models": models}))
    per_class = [{"label": str(i), "precision": 0.5, "recall": 0.4, "f1": 0.44, "support": 10} for i in range(3)]
    (run / "metrics.json").write_text(json.dumps({
        "test": {"accuracy": 0.4321, "precision": 0.41, "recall": 0.42, "f1": 0.415, "per_class": per_class},
        "training": {"epochs": 1, "train_seconds": 1.5, "images_per_second": 36.0, "train_images_per_epoch": 54,
                     "params": model.count_params()}}))
    (run / "history.csv").write_text("epoch,loss,accuracy,val_loss,val_accuracy,lr,seconds\n1,1.1,0.35,1.09,0.4,0.001,1.5\n")
    doc = run_bench([export / "model_float32.tflite", export / "model_int8.tflite"], dataset=str(data), runs=10,
                    warmup=1, min_seconds=0.01, rounds=2, isolate=False)
    bench = root / "bench.json"
    bench.write_text(dumps(doc))
    return run, bench, doc


@pytest.fixture(scope="module")
def colour_report(colour_study, tmp_path_factory):
    from edgenets.report import build_report

    run, bench, doc = colour_study
    paths = build_report([run], [bench], tmp_path_factory.mktemp("report") / "report")
    return open(paths["markdown"], encoding="utf-8").read(), open(paths["html"], encoding="utf-8").read(), doc


def _inside_details(page: str, at: int) -> bool:
    return page.rfind("<details>", 0, at) > page.rfind("</details>", 0, at)


def test_report_leads_with_the_answer_and_collapses_the_layer_tables(colour_report):
    md, page, doc = colour_report
    body = page[page.index("<body>"):]
    # the first table is float32 vs int8, and it and the accuracy-vs-latency plot come before every other section
    first_table = body.index("<table>")
    assert "<th>accuracy Δ pp</th>" in body[first_table:body.index("</table>", first_table)]
    plot = body.index('<img alt="accuracy vs latency"')
    assert first_table < plot < body.index("<h2>2. Evaluation on the untouched test set</h2>")
    # a summary paragraph before any table
    assert body.index("<p>") < first_table
    # every layer table (and only those) is collapsed, after every result
    layer_tables = [m.start() for m in re.finditer(r"<th>layer</th>", body)]
    assert layer_tables and all(_inside_details(body, at) for at in layer_tables)
    assert first_table < body.index("<details>")
    assert body.index("<details>") > body.index("<h2>4. Training convergence</h2>")
    other_tables = [m.start() for m in re.finditer(r"<table>", body) if not _inside_details(body, m.start())]
    assert len(other_tables) >= 6 and all(at < body.index("<details>") for at in other_tables)
    # the Markdown too: <details> around the layer table, the answer table first
    assert md.index("accuracy Δ pp") < md.index("## 2. Evaluation") < md.index("<details>") < md.index("| layer ")


def test_report_summary_names_the_fastest_and_the_cost_of_int8(colour_report):
    md, _, doc = colour_report
    rows = {r["precision"]: r for r in doc["results"]}
    assert all(r["status"] == "ok" for r in rows.values())
    fastest = min(rows.values(), key=lambda r: r["latency"]["mean_us"])
    summary = md.split("\n\n")[1]  # the first paragraph after the title
    assert f"On {doc['environment']['cpu']} (" in summary
    assert f"the fastest is `colour` {fastest['precision']} at {fastest['latency']['mean_us']:.0f} µs per image" in summary
    delta = 100 * (rows["int8"]["metrics"]["accuracy"] - rows["float32"]["metrics"]["accuracy"])
    assert f"`colour` int8 {delta:+.2f} pp accuracy" in summary
    assert "Inputs: `colour` takes 32x32x3 images, preprocessed as pixels/255." in summary


def test_report_says_the_real_input_size(colour_report):
    md, page, doc = colour_report
    assert "28x28" not in md and "28, 28" not in md  # nothing assumes MNIST's shape
    int8 = next(r for r in doc["results"] if r["precision"] == "int8")
    # the answer table's row: run, threads, precision, input, float32 accuracy, int8 accuracy -- as the bench measured
    assert re.search(rf"\| colour +\| 1 +\| int8 +\| 32x32x3, pixels/255 +\| [0-9.]+ +\| "
                     rf"{100 * int8['metrics']['accuracy']:.2f} +\|", md), md
    assert re.search(r"\| colour +\| Keras float +\| 43\.21 +\|[^\n]*\| 32x32x3, pixels/255 +\|", md)  # metrics.json's
    assert re.search(r"\| colour +\| tiny +\| 32x32x3 +\| pixels/255 +\|", md)  # the models table
    assert re.search(r"MACs per 32x32x3 image", md) and "(None, 16, 16, 8)" in md  # the layer table, at 32x32
    assert "32x32x3" in page and "<th>input</th>" in page
    # per class: the Keras figures from metrics.json beside the int8 F1 the bench measured, per class name
    f1 = {c["label"]: c["f1"] for c in int8["metrics"]["per_class"]}
    for label in ("0", "1", "2"):
        assert re.search(rf"\| {label} +\| 50\.00 +\| 40\.00 +\| 44\.00 +\| 10 +\| {100 * f1[label]:.2f} +\|", md), label


def test_report_without_bench_results_says_so_first(colour_study, tmp_path):
    from edgenets.report import build_report

    run, _, _ = colour_study
    md = open(build_report([run], [], tmp_path / "r")["markdown"], encoding="utf-8").read()
    summary = md.split("\n\n")[1]
    assert summary.startswith("No `edgenets bench` results were given") and "`colour` (43.21 %)" in summary
    assert "accuracy Δ pp" not in md and "## 1. Evaluation on the untouched test set" in md
    assert md.index("## 1. Evaluation") < md.index("<details>") and "MACs per 32x32x3 image" in md


def test_report_spells_out_a_mean_std_preprocessing(tmp_path):
    from edgenets.preprocessing import describe
    from edgenets.report import build_report

    spec = {"name": "mean-std", "mean": [0.49, 0.48, 0.45], "std": [0.25, 0.24, 0.26]}
    run = _run_dir(tmp_path, "cifar", shape=(32, 32, 3), preprocessing=spec)
    (run / "metrics.json").write_text(json.dumps({"test": dict.fromkeys(METRIC_KEYS, 0.5), "training": {"params": 99}}))
    md = open(build_report([run], [], tmp_path / "r")["markdown"], encoding="utf-8").read()
    assert f"Inputs: `cifar` takes 32x32x3 images, preprocessed as {describe(spec)}." in md.split("\n\n")[1]
    assert re.search(r"\| cifar +\| Keras float +\|[^\n]*\| 32x32x3, mean-std +\|", md)  # the evaluation table
    assert re.search(rf"\| cifar +\| tiny +\| 32x32x3 +\| {re.escape(describe(spec))} +\| 99 ", md)  # models: in full
