"""Report: bad inputs fail cleanly; the document model renders the same content to Markdown and HTML.

The full report on real runs is exercised by tests/test_demo.py (it runs `make demo`)."""

from __future__ import annotations

import json

import pytest
from conftest import assert_one_line_error

from edgenets.report.document import Document, Heading, Paragraph, Table, to_html, to_markdown


def test_missing_run_directory(run_cli, tmp_path):
    assert_one_line_error(run_cli("report", tmp_path / "nope", "--out", tmp_path / "r"), "nope", "run directory not found")
    assert not (tmp_path / "r").exists()


def test_run_without_metrics(run_cli, tmp_path):
    run = tmp_path / "run"
    run.mkdir()
    (run / "config.json").write_text(json.dumps({"model": "mobilenet"}))
    assert_one_line_error(run_cli("report", run, "--out", tmp_path / "r"), str(run / "metrics.json"), "file not found")


@pytest.mark.parametrize("content, fragment", [("{not json", "not readable JSON"), ("[1, 2]", "expected a JSON object"),
                                               ('{"test": {}}', "training: missing"),
                                               ('{"test": {}, "training": {}}', "test.accuracy: missing")])
def test_malformed_metrics(run_cli, tmp_path, content, fragment):
    run = tmp_path / "run"
    run.mkdir()
    (run / "config.json").write_text("{}")
    (run / "metrics.json").write_text(content)
    assert_one_line_error(run_cli("report", run, "--out", tmp_path / "r"), "metrics.json", fragment)


def test_foreign_bench_file(run_cli, tmp_path):
    run = tmp_path / "run"
    run.mkdir()
    (run / "config.json").write_text("{}")
    (run / "metrics.json").write_text(json.dumps({"test": dict.fromkeys(["accuracy", "precision", "recall", "f1"], 0.5),
                                                  "training": {}}))
    bench = tmp_path / "other.json"
    bench.write_text(json.dumps({"schema": "someone-else/2"}))
    assert_one_line_error(run_cli("report", run, "--bench", bench, "--out", tmp_path / "r"), str(bench), "schema")


def test_markdown_and_html_render_the_same_cells(tmp_path):
    doc = Document("t").add(Heading("Section"), Paragraph("uses `code`"),
                            Table(["model", "accuracy %"], [["mobilenet", 99.3712], ["shufflenet", None]]))
    md, page = to_markdown(doc, tmp_path), to_html(doc)
    assert "## Section" in md and "<h2>Section</h2>" in page
    assert "<code>code</code>" in page and "`code`" in md
    assert "| mobilenet  | 99.37 " in md and '<td class="n">99.37</td>' in page
    assert "| –" in md and "<td>–</td>" in page  # a missing value is a dash, not "None"


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
