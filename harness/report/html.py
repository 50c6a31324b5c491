"""`render_report(run_dir)`: one self-contained report.html for a stored chaos run.

The page must open offline, years later, from an attached file: inline CSS, inline SVG, no
scripts, no fonts or images from anywhere. Everything taken from the run is escaped.
"""

from __future__ import annotations

from html import escape
from pathlib import Path

from harness.report import charts, sections, traces
from harness.report.load import RunData, load_run

REPORT = "report.html"

CSS = """
body{font:14px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;color:#222;
  margin:0 auto;max-width:1000px;padding:16px 24px 48px}
h1{font-size:24px;margin:8px 0}h2{font-size:19px;margin:28px 0 8px;border-bottom:1px solid #ddd}
h3{font-size:15px;margin:16px 0 6px}h4{font-size:13px;margin:10px 0 4px}
table{border-collapse:collapse;margin:6px 0;font-size:12.5px;max-width:100%}
th,td{border:1px solid #ddd;padding:3px 7px;text-align:left;vertical-align:top}
thead th{background:#f4f4f4}td{word-break:break-word;max-width:520px}
table.meta th{background:#f8f8f8;width:130px}
code,pre{font:12px/1.4 ui-monospace,Menlo,Consolas,monospace}
pre{background:#f6f6f6;padding:10px;overflow:auto;max-height:480px;border:1px solid #e4e4e4}
.badge{display:inline-block;padding:1px 9px;border-radius:10px;font-size:13px;color:#fff;
  vertical-align:middle}
.badge.ok{background:#2e7d32}.badge.bad{background:#c62828}.badge.unsure{background:#757575}
.badge.na{background:#fff;color:#555;border:1px solid #999}
.missing{color:#a15c00;font-style:italic}.muted{color:#777}.note{color:#555}
.caption{color:#666;font-size:12px;margin-top:2px}
.legend .key{margin-right:14px;white-space:nowrap;font-size:12px}
.legend i{display:inline-block;width:11px;height:11px;margin-right:4px;vertical-align:-1px}
.cols{display:flex;gap:28px;flex-wrap:wrap}.cols>div{margin-right:16px}
svg.chart{max-width:100%;height:auto;display:block}
section.invariant{border-left:3px solid #ddd;padding-left:12px;margin:14px 0}
.problems{background:#fff4e5;border:1px solid #ffcc80;padding:6px 12px;margin:10px 0}
nav a{margin-right:12px}
""" + traces.CSS

NAV = (
    '<nav><a href="#orders">orders</a><a href="#latency">latency</a>'
    '<a href="#throughput">throughput</a><a href="#messages">messages</a>'
    '<a href="#invariants">invariants</a><a href="#traces">traces</a><a href="#faults">faults</a>'
    '<a href="#config">config</a></nav>'
)


def _anchor(name: str, body: str) -> str:
    return f'<div id="{name}">{body}</div>'


def page(run: RunData) -> str:
    """The whole document as a string (pure: RunData in, HTML out)."""
    figs = charts.figures(run)
    drill = traces.load_drilldown(run)
    drawn = drill.drawn(traces.violating_orders(run.results))
    body = [
        sections.header(run),
        sections.problems(run),
        NAV,
        sections.counts(run, figs),
        _anchor("orders", charts.timeline_section(run, figs)),
        _anchor("latency", charts.latency_section(figs)),
        _anchor("throughput", charts.throughput_section(figs)),
        _anchor("messages", charts.messages_section(run, figs)),
        _anchor("invariants", sections.invariants(run, drawn)),
        _anchor("traces", traces.section(run, drill)),
        _anchor("faults", sections.fault_log(run, figs)),
        _anchor("config", sections.config(run)),
    ]
    title = f"saga-harness: {sections.run_name(run)}"
    return (
        '<!DOCTYPE html><html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{escape(title)}</title><style>{CSS}</style></head><body>"
        + "\n".join(body)
        + "</body></html>\n"
    )


def render_report(run_dir: Path) -> Path:
    """Write run_dir/report.html from whatever the run directory holds; return its path."""
    run_dir = Path(run_dir)
    out = run_dir / REPORT
    tmp = out.with_suffix(".html.tmp")
    # Write then rename: a reader never sees half a report, even if rendering is interrupted.
    tmp.write_text(page(load_run(run_dir)), encoding="utf-8")
    tmp.replace(out)
    return out
