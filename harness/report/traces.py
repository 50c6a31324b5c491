"""The report's drill-down (issue #18): the slowest, failed and violating orders, each with its
waterfall (inline SVG, no script: a link jumps to it) with the run's fault windows overlaid.

Which orders: the slowest by trace duration, those that ended failed, and every order an
invariant's counterexample names (the invariants section links each counterexample to its
order's waterfall: `trace_anchor`). Figures come from traces.jsonl (harness/tracing); a run
without it says so, and the section tells how to get one (`--trace`).
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass
from html import escape
from typing import Any

from harness.report.charts import FAULT_COLOURS
from harness.report.load import RunData
from harness.tracing.otlp import TRACES, SpanRecord, by_order, read_traces
from harness.tracing.waterfall import (
    OrderTrace,
    Window,
    fault_windows,
    overlapping,
    rows,
    summarize,
)

SLOWEST = 10
FAILED = 10
VIOLATING = 40  # waterfalls drawn for violating orders at most (each is a few KB)

SERVICE_COLOURS = {"order": "#1565c0", "inventory": "#2e7d32", "payment": "#6a1b9a", "delivery": "#ef6c00"}
CSS = """
svg.waterfall{max-width:100%;height:auto;display:block;margin:4px 0 10px}
section.trace{border-left:3px solid #90caf9;padding-left:12px;margin:18px 0}
section.trace:target{border-left-color:#ef6c00;background:#fffaf3}
"""


def trace_anchor(order_id: str) -> str:
    return f"trace-{order_id}"


@dataclass
class Drilldown:
    """What the report knows of the run's traces."""

    spans: dict[str, list[SpanRecord]]  # order_id -> its spans
    summaries: dict[str, OrderTrace]
    windows: list[Window]
    bad_lines: int = 0
    recorded: bool = True

    def drawn(self, violating: Iterable[str]) -> list[str]:
        """The orders whose waterfalls the report draws, in the order they are drawn."""
        chosen: dict[str, None] = {}
        for order_id in _violating_first(violating, self.summaries):
            chosen[order_id] = None
        for order_id in self.slowest():
            chosen[order_id] = None
        for order_id in self.failed():
            chosen[order_id] = None
        return list(chosen)

    def slowest(self) -> list[str]:
        ranked = sorted(self.summaries.values(), key=lambda s: (-s.duration_ms, s.order_id))
        return [s.order_id for s in ranked[:SLOWEST]]

    def failed(self) -> list[str]:
        failed = [s for s in self.summaries.values() if s.status == "failed"]
        return [s.order_id for s in sorted(failed, key=lambda s: -s.duration_ms)[:FAILED]]


def _violating_first(violating: Iterable[str], summaries: Mapping[str, OrderTrace]) -> list[str]:
    return [o for o in dict.fromkeys(violating) if o in summaries][:VIOLATING]


def load_drilldown(run: RunData) -> Drilldown:
    traces = read_traces(run.run_dir / TRACES)
    windows = fault_windows(run.faults)
    if traces is None:
        return Drilldown({}, {}, windows, recorded=False)
    grouped = by_order(traces.spans)
    return Drilldown(grouped, {o: summarize(o, s) for o, s in grouped.items()}, windows, traces.bad_lines)


def violating_orders(results: Mapping[str, Any] | None) -> list[str]:
    """Every order id an invalid invariant's counterexample names, in the order they appear."""
    found: list[str] = []
    for verdict in (results or {}).get("verdicts") or []:
        if not isinstance(verdict, dict):
            continue
        for example in verdict.get("counterexamples") or []:
            if isinstance(example, dict) and isinstance(example.get("order_id"), str):
                found.append(example["order_id"])
    return list(dict.fromkeys(found))


def _link(order_id: str, known: Collection[str]) -> str:
    if order_id in known:
        return f'<a href="#{escape(trace_anchor(order_id))}">{escape(order_id)}</a>'
    return escape(order_id)


def _listing(title: str, order_ids: Sequence[str], drill: Drilldown, drawn: set[str], empty: str) -> str:
    if not order_ids:
        return f"<h3>{escape(title)}</h3><p class=\"muted\">{escape(empty)}</p>"
    body = []
    for order_id in order_ids:
        s = drill.summaries.get(order_id)
        if s is None:
            body.append(f"<tr><td>{escape(order_id)}</td><td colspan=\"5\" class=\"missing\">no spans</td></tr>")
            continue
        body.append(
            f"<tr><td>{_link(order_id, drawn)}</td><td>{s.duration_ms:.1f}</td><td>{escape(s.status or '—')}</td>"
            f"<td>{s.spans}</td><td>{escape(', '.join(s.services))}</td><td>{escape(s.flags() or '—')}</td></tr>"
        )
    return (f"<h3>{escape(title)}</h3><table><thead><tr><th>order</th><th>ms</th><th>status</th><th>spans</th>"
            f"<th>services</th><th>what happened</th></tr></thead><tbody>{''.join(body)}</tbody></table>")


def section(run: RunData, drill: Drilldown) -> str:
    head = "<h2>Traces: drill-down</h2>"
    if not drill.recorded:
        return head + (
            '<p class="missing">not recorded: traces.jsonl. Run the experiment with <code>--trace</code> '
            "(or SAGA_TRACING=1) to keep every saga's spans and draw its waterfall here.</p>"
        )
    violating = violating_orders(run.results)
    drawn = drill.drawn(violating)
    drawn_set = set(drawn)
    traced = len(drill.summaries)
    one = sum(1 for s in drill.summaries.values() if len(s.trace_ids) == 1)
    parts = [
        head,
        f'<p>{traced} orders traced, {one} of them in exactly one trace; spans from <code>{TRACES}</code> '
        "(OTLP/JSON). Each waterfall shows the spans by service (a publish, its delivery, that delivery's "
        "commit), retries, redeliveries and duplicates, with the run's fault windows shaded.</p>",
    ]
    if drill.bad_lines:
        parts.append(f'<p class="missing">{drill.bad_lines} unreadable line(s) of {TRACES} skipped</p>')
    coverage = ((run.results or {}).get("phases") or {}).get("traces", {}).get("coverage")
    if isinstance(coverage, dict) and coverage.get("orders"):
        parts.append(
            f"<p>Acceptance figure: {escape(str(coverage.get('one_trace_covering')))} of "
            f"{escape(str(coverage.get('orders')))} orders have exactly one trace id covering every service "
            "their saga touched on the bus.</p>"
        )
    missing_violating = [o for o in violating if o not in drill.summaries]
    parts.append(_listing("Violating orders (named by a counterexample)", [o for o in violating][:VIOLATING],
                          drill, drawn_set, "No invariant names an order."))
    if missing_violating:
        parts.append(f'<p class="missing">{len(missing_violating)} violating order(s) have no spans.</p>')
    parts.append(_listing(f"Slowest {SLOWEST}", drill.slowest(), drill, drawn_set, "No traced order."))
    parts.append(_listing("Failed orders", drill.failed(), drill, drawn_set, "No traced order ended failed."))
    for order_id in drawn:
        parts.append(waterfall_block(order_id, drill))
    return "".join(parts)


def waterfall_block(order_id: str, drill: Drilldown) -> str:
    s = drill.summaries[order_id]
    flags = s.flags()
    return (
        f'<section class="trace" id="{escape(trace_anchor(order_id))}"><h3>order {escape(order_id)}</h3>'
        f'<p class="muted">trace {escape(", ".join(s.trace_ids))}; {s.duration_ms:.1f} ms; '
        f"status {escape(s.status or 'not seen')}; {s.spans} spans; services {escape(', '.join(s.services))}"
        f"{'; ' + escape(flags) if flags else ''}. <code>saga-harness trace {escape(order_id)}</code></p>"
        f"{waterfall_svg(order_id, drill.spans[order_id], drill.windows)}</section>"
    )


def _ticks(total_ms: float) -> float:
    for step in (1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 2000, 5000, 10000, 20000, 60000):
        if total_ms / step <= 8:
            return float(step)
    return 120000.0


def waterfall_svg(order_id: str, spans: Sequence[SpanRecord], windows: Sequence[Window] = (),
                  width: int = 960) -> str:
    """One row per span (tree order), bars on a shared ms axis, fault windows shaded under them."""
    laid = rows(spans)
    label_w, right_w, top, row_h = 300, 150, 34, 16
    x0, x1 = label_w, width - right_w
    t0 = min(s.start_ns for s in spans)
    t1 = max(max(s.end_ns for s in spans), t0 + 1)
    total_ms = (t1 - t0) / 1e6
    height = top + row_h * len(laid) + 8

    def x(ns: int) -> float:
        return x0 + (min(max(ns, t0), t1) - t0) / (t1 - t0) * (x1 - x0)

    out = [f'<svg class="waterfall" viewBox="0 0 {width} {height}" width="{width}" height="{height}" '
           f'role="img" aria-label="waterfall of order {escape(order_id)}" font-family="sans-serif" '
           f'font-size="11"><title>waterfall of order {escape(order_id)}</title>']
    for i, w in enumerate(overlapping(windows, t0, t1)):
        a, b = x(max(w.start_ns, t0)), x(min(w.end_ns or t1, t1))
        colour = FAULT_COLOURS.get(w.kind, "#e0e0e0")
        out.append(f'<rect x="{a:.1f}" y="{top - 6}" width="{max(b - a, 2):.1f}" height="{height - top}" '
                   f'fill="{colour}" fill-opacity="0.5"><title>{escape(w.label)}</title></rect>'
                   f'<text x="{a + 2:.1f}" y="{10 + 9 * (i % 2)}" font-size="9" fill="#555">{escape(w.label)}</text>')
    step = _ticks(total_ms)
    tick = 0.0
    while tick <= total_ms + 1e-9:
        tx = x0 + tick / max(total_ms, 1e-9) * (x1 - x0)
        out.append(f'<line x1="{tx:.1f}" y1="{top - 6}" x2="{tx:.1f}" y2="{height}" stroke="#eee"/>'
                   f'<text x="{tx:.1f}" y="{top - 8}" text-anchor="middle" fill="#777" font-size="9">'
                   f"{tick:g} ms</text>")
        tick += step
    for i, row in enumerate(laid):
        s = row.span
        y = top + i * row_h
        colour = "#c62828" if s.error else SERVICE_COLOURS.get(s.service, "#616161")
        faint = ' fill-opacity="0.35"' if s.attributes.get("saga.duplicate") else ""
        a, b = x(s.start_ns), x(s.end_ns)
        marks = row.marks()
        tip = (f"{s.service}: {s.name}, +{(s.start_ns - t0) / 1e6:.1f} ms, {s.duration_ms:.1f} ms"
               + (f" [{'; '.join(marks)}]" if marks else ""))
        out.append(
            f'<text x="4" y="{y + 11}" fill="{SERVICE_COLOURS.get(s.service, "#616161")}">{escape(s.service)}</text>'
            f'<text x="{78 + 12 * row.indent}" y="{y + 11}" fill="#222">{escape(s.name[:36])}</text>'
            f'<rect x="{a:.1f}" y="{y + 2}" width="{max(b - a, 1.5):.1f}" height="{row_h - 4}" fill="{colour}"{faint}>'
            f"<title>{escape(tip)}</title></rect>"
            f'<text x="{x1 + 6}" y="{y + 11}" fill="#555">{s.duration_ms:.1f} ms'
            f"{escape(' ' + ', '.join(marks)) if marks else ''}</text>"
        )
    return "".join(out) + "</svg>"
