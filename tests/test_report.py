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
