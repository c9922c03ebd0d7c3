"""The study report: Markdown + self-contained HTML + PNG plots from run directories and bench results."""

from edgenets.report.study import build_report, load_run

__all__ = ["build_report", "load_run"]
