"""The self-contained HTML report of a chaos run: `render_report(run_dir) -> report.html`."""

from harness.report.html import render_report

__all__ = ["render_report"]
