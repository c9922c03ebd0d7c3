"""`edgenets report`: the study as Markdown + self-contained HTML + PNG plots.

Inputs are what the other commands wrote: run directories (config.json, history.csv,
metrics.json, curves.png, confusion.png, export/export.json) and bench results documents.
Nothing is re-measured here; every number in the report is read from those files.

:func:`build_report` runs four steps: collect the inputs (:mod:`edgenets.report.inputs`), compute
the tables (:mod:`edgenets.report.tables`), make the plots, assemble the document. The document
leads with the answer -- which model and precision is fastest on which CPU and what int8 costs in
accuracy, with the float-vs-int8 table and the accuracy-vs-latency plot -- then the other results,
and ends with the layer tables, collapsed.
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Optional, Sequence

from edgenets import _io
from edgenets.report import tables as report_tables
from edgenets.errors import InputError
from edgenets.report.document import Code, Details, Document, Heading, Image, Paragraph, Table, to_html, to_markdown
from edgenets.report.inputs import Inputs, Run, collect_inputs, load_run
from edgenets.report.tables import REFERENCE, Tables

__all__ = ["REFERENCE", "Run", "build_report", "load_run"]


@dataclass
class Figures:
    """The report's PNGs, in its folder (None: nothing to draw, e.g. no bench results)."""

    accuracy_vs_latency: Optional[Path] = None
    latency_cdf: Optional[Path] = None
    profile: Optional[Path] = None
    curves: dict[str, Path] = field(default_factory=dict)  # run name -> training curves (copied)
    confusion: dict[str, Path] = field(default_factory=dict)  # run name -> confusion matrix (copied)


def build_report(run_dirs: Sequence[str | Path], bench_files: Sequence[str | Path] = (), out: str | Path = "report",
                 command: str = "", sweep: Optional[str | Path] = None) -> dict:
    """Write ``out/index.md``, ``out/index.html`` and the PNGs; return their paths.

    ``sweep``: a sweep directory (or its sweep.json) from ``edgenets sweep``: its front, budget and
    recommendation come first; with no ``run_dirs`` its finished trials are the runs, and its bench.json
    is among the bench files."""
    sweep_doc = None
    if sweep is not None:
        from edgenets.sweep.render import load_results

        sweep_doc, sweep_dir = load_results(sweep)
        if not run_dirs:
            run_dirs = _sweep_runs(sweep_doc, sweep_dir)
        if (sweep_dir / "bench.json").is_file() and str(sweep_dir / "bench.json") not in map(str, bench_files):
            bench_files = [*bench_files, sweep_dir / "bench.json"]
    inputs = collect_inputs(run_dirs, bench_files)
    tables = compute_tables(inputs)
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    figures = make_plots(inputs, tables, out)
    doc = assemble_document(inputs, tables, figures, command, sweep=_sweep_section(sweep_doc, out))
    return write_report(doc, out)


def _sweep_runs(sweep_doc: dict, sweep_dir: Path) -> list[Path]:
    """The finished trials' run directories, found in the sweep's folder (wherever it now is)."""
    seen: dict[str, Path] = {}
    for t in sweep_doc.get("trials", []):
        if t.get("status") == "done" and t.get("name"):
            seen.setdefault(t["name"], sweep_dir / "trials" / t["name"])
    if not seen:
        raise InputError("the sweep has no finished trial to report on")
    return list(seen.values())


def _sweep_section(sweep_doc: Optional[dict], out: Path) -> list:
    """The sweep's blocks: the recommendation, the plot of its front, every candidate (None: no sweep)."""
    if sweep_doc is None:
        return []
    from edgenets.sweep.render import HEADERS, front_plot, table_rows, where_measured

    blocks: list = [Paragraph(f"{sweep_doc['decision']['summary']}. Measured on {where_measured(sweep_doc)}; every "
                              f"candidate timed in one interleaved bench run after all trainings had finished.")]
    plot = front_plot(sweep_doc, out / "sweep_front.png")
    if plot is not None:
        blocks.append(Image(plot, "sweep: accuracy vs latency, the Pareto front and the budget"))
    blocks.append(Table(HEADERS, table_rows(sweep_doc)))
    return blocks


def compute_tables(inputs: Inputs) -> Tables:
    """Every table and the summary sentences, from the inputs (loads each model.keras for its layer table)."""
    t = report_tables
    deltas = t.quantisation_deltas(inputs)
    stats = {r.name: t.architecture(r) for r in inputs.runs}
    return Tables(
        summary=t.summary(inputs, deltas),
        answer=t.answer_table(deltas, inputs.several_devices),
        environment=t.environment_table(inputs),
        evaluation=t.evaluation_table(inputs.runs),
        per_class=t.per_class_tables(inputs.runs),
        latency=t.latency_table(inputs),
        delegation_notes=t.delegation_notes(inputs),
        profile=t.profile_section(inputs),
        training_time=t.training_time_table(inputs.runs),
        history=t.history_tables(inputs.runs),
        reference=t.reference_table(inputs.runs),
        models=t.models_table(inputs.runs, stats),
        layers=t.layer_tables(inputs.runs, stats),
    )


def _copy(src: Path, dest: Path) -> Optional[Path]:
    if not src.is_file():
        return None
    with _io.atomic_path(dest) as tmp:
        shutil.copyfile(src, tmp)
    return dest


def make_plots(inputs: Inputs, tables: Tables, out: Path) -> Figures:
    """Draw the bench plots into ``out`` and copy each run's training curves and confusion matrix there."""
    from edgenets.report import plots

    figures = Figures()
    for r in inputs.runs:
        curves = _copy(r.path / "curves.png", out / f"{r.name}-curves.png")
        confusion = _copy(r.path / "confusion.png", out / f"{r.name}-confusion.png")
        if curves:
            figures.curves[r.name] = curves
        if confusion:
            figures.confusion[r.name] = confusion
    rows = inputs.rows
    if not rows:
        return figures
    where = (lambda x: f" ({x['device']})") if inputs.several_devices else (lambda x: "")
    threads = min(x["threads"] for x in rows)
    points = [{"model": x["run"], "precision": x["precision"], "device": x["device"] if inputs.several_devices else "",
               "input": x.get("input_size"), "mean_us": x["latency"]["mean_us"], "accuracy": x["metrics"]["accuracy"]}
              for x in rows if x["threads"] == threads]
    figures.accuracy_vs_latency = plots.accuracy_vs_latency(points, out / "accuracy_vs_latency.png")
    series = [{"label": f"{x['run']} {x['precision']} t{x['threads']}, {x.get('input_size')}{where(x)}",
               "group": f"{x['run']} t{x['threads']}{where(x)}", "percentiles_us": x["latency"]["percentiles_us"],
               "quantised": x["precision"] != "float32"} for x in rows if x["latency"].get("percentiles_us")]
    if series:
        figures.latency_cdf = plots.latency_cdf(series, out / "latency.png")
    if tables.profile:
        figures.profile = plots.profile_by_type(tables.profile.panels, out / "profile.png")
    return figures


def assemble_document(inputs: Inputs, tables: Tables, figures: Figures, command: str = "",
                      sweep: Sequence = ()) -> Document:
    """The answer first (a sweep's recommendation before it), then evaluation, efficiency, training, the
    reference study, and the models last."""
    doc = Document("edgenets study: " + ", ".join(inputs.names))
    numbers = iter(range(1, 12))

    def section(title: str) -> Heading:
        return Heading(f"{next(numbers)}. {title}")

    if sweep:
        doc.add(section("Which model to ship: the sweep"), *sweep)
    doc.add(Paragraph(" ".join(tables.summary)))  # the answer, in one paragraph, before anything else

    if tables.answer or figures.accuracy_vs_latency:
        doc.add(section("The answer: float32 vs int8, accuracy vs latency"))
        if tables.answer:
            doc.add(tables.answer)
        if figures.accuracy_vs_latency:
            doc.add(Image(figures.accuracy_vs_latency, "accuracy vs latency"))
    if tables.environment:
        doc.add(tables.environment)

    doc.add(section("Evaluation on the untouched test set"), tables.evaluation)
    for r in inputs.runs:
        if r.name in tables.per_class:
            doc.add(Heading(f"Per class: {r.name}", 3), tables.per_class[r.name])
        if r.name in figures.confusion:
            doc.add(Image(figures.confusion[r.name], f"{r.name} confusion matrix"))

    doc.add(section("Computational efficiency"))
    if tables.latency:
        doc.add(tables.latency)
    doc.add(*(Paragraph(line) for line in tables.delegation_notes))
    if tables.profile:
        doc.add(Heading("Where the time goes: per-node profile", 3))
        doc.add(Paragraph("Measured by `edgenets bench --profile`: each node's time is the difference between the "
                          "model cut after it and the model cut before it, checked against the node timed alone as a "
                          "one-node model on the same activations (docs/bench.md). Latencies are this CPU's, not the "
                          "network's."))
        if figures.profile:
            doc.add(Image(figures.profile, "time per op type, float32 beside quantised"))
        doc.add(tables.profile.by_type, tables.profile.top_nodes)
        doc.add(*(Paragraph(line) for line in tables.profile.checks))
    if figures.latency_cdf:
        doc.add(Image(figures.latency_cdf, "latency distribution"))
    doc.add(tables.training_time)

    doc.add(section("Training convergence"))
    for r in inputs.runs:
        doc.add(Heading(f"{r.name} ({r.model}, recipe {r.recipe}, {r.config.dataset}, {r.input_size} input)", 3))
        if r.name in tables.history:
            doc.add(tables.history[r.name])
        if r.name in figures.curves:
            doc.add(Image(figures.curves[r.name], f"{r.name} training curves"))

    if tables.reference:
        doc.add(section("Beside the reference study"))
        doc.add(Paragraph("The reference study's figures (its section 5, Result-1: 15 epochs, batch 32) were "
                          "measured on an augmented copy of the test set, and its precision / recall / F1 are not "
                          "macro averages over the ten classes (a macro precision of 1.0 with 56 % accuracy is "
                          "impossible). Ours are the standard metrics on the untouched MNIST test set; the "
                          "perturbed-test column is the closest to its setting."))
        doc.add(tables.reference)

    doc.add(section("Models and complexity"), tables.models)
    for title, layers in tables.layers:
        doc.add(Details(f"Architecture: {title}, {len(layers.rows)} layers", [layers]))

    doc.add(Heading("How this report was made"))
    doc.add(Paragraph("Every number above is read from the files that `edgenets train`, `edgenets export` and "
                      "`edgenets bench` wrote; test metrics are on the untouched test set, precision / recall / F1 "
                      "are macro averages over the classes."))
    if command:
        doc.add(Paragraph("Generated with:"), Code(command))
    return doc


def write_report(doc: Document, out: Path) -> dict:
    """``out/index.md`` and ``out/index.html`` (PNGs embedded); returns their paths and the PNGs'."""
    md = _io.write_text(out / "index.md", to_markdown(doc, out))
    page = _io.write_text(out / "index.html", to_html(doc))
    pngs = sorted(str(p) for p in out.glob("*.png"))
    return {"markdown": str(md), "html": str(page), "images": pngs}
