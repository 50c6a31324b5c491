"""The report's plots: order timeline, latency quantiles, throughput and bus message rate.

`figures(run)` computes everything once (pure, from RunData); each `*_section` turns it into an
HTML fragment with an inline SVG, or a "not recorded" line when the inputs are missing.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from html import escape

from harness.report import svg
from harness.report.analysis import (
    Bucket,
    OrderSpan,
    bucket_width,
    latency_series,
    order_spans,
    pick_for_timeline,
    rate_series,
    time_range,
    to_epoch,
)
from harness.report.load import RunData

TIMELINE_CAP = 300
OUTCOME_COLOURS = {
    "completed": "#2e7d32",
    "failed: insufficient_inventory": "#ef6c00",
    "failed: payment_failed": "#c62828",
    "failed: delivery_failed": "#6a1b9a",
}
FAILED_OTHER, NOT_TERMINAL, UNKNOWN = "#8d6e63", "#212121", "#9e9e9e"
FAULT_COLOURS = {
    "latency": "#ffe082",
    "partition": "#ef9a9a",
    "duplicate": "#b3e5fc",
    "crash": "#ce93d8",
    "kill": "#ce93d8",
    "broker_restart": "#a5d6a7",
    "broker_partition": "#80cbc4",
    "handler_error": "#ffab91",
}
QUANTILES: tuple[tuple[float, str, str, bool], ...] = (
    (0.5, "p50", "#1565c0", False), (0.95, "p95", "#ef6c00", False), (0.99, "p99", "#c62828", True),
)


@dataclass
class Figures:
    t0: float
    t1: float
    width: float  # bucket width, seconds
    spans: list[OrderSpan]
    bands: list[svg.Band]
    message_times: list[float]

    @property
    def x_range(self) -> tuple[float, float]:
        return 0.0, self.t1 - self.t0


def outcome_colour(outcome: str) -> str:
    if outcome in OUTCOME_COLOURS:
        return OUTCOME_COLOURS[outcome]
    if outcome.startswith("failed"):
        return FAILED_OTHER
    return NOT_TERMINAL if outcome.startswith("not terminal") else UNKNOWN


def fault_bands(faults: list[dict] | None, t0: float, t1: float) -> list[svg.Band]:
    bands = []
    for fault in faults or []:
        start = to_epoch(fault.get("start"))
        if start is None:
            continue
        end = to_epoch(fault.get("end"))
        kind, target = str(fault.get("kind", "?")), str(fault.get("target", "?"))
        label = f"{kind} {target}" + ("" if end is not None else " (not healed)")
        bands.append(
            svg.Band(
                start - t0,
                (end if end is not None else t1) - t0,
                label,
                FAULT_COLOURS.get(kind, "#e0e0e0"),
            )
        )
    return bands


def figures(run: RunData) -> Figures:
    ops, msgs = run.operations or [], run.messages or []
    message_times = [t for t in (to_epoch(m.get("time")) for m in msgs) if t is not None]
    op_times = [t for t in (to_epoch(o.get("time")) for o in ops) if t is not None]
    fault_times = [
        t
        for f in run.faults or []
        for t in (to_epoch(f.get("start")), to_epoch(f.get("end")))
        if t is not None
    ]
    t0, t1 = time_range(run.results, message_times, op_times, fault_times)
    orders = (run.state or {}).get("orders") if run.state is not None else None
    spans = order_spans(ops, msgs, orders if isinstance(orders, list) else None, t1)
    t1 = max([t1] + [s.end for s in spans])
    return Figures(
        t0, t1, bucket_width(t1 - t0), spans, fault_bands(run.faults, t0, t1), message_times
    )


def _legend(items: list[tuple[str, str]]) -> str:
    keys = "".join(
        f'<span class="key"><i style="background:{escape(c)}"></i>{escape(n)}</span>'
        for n, c in items
    )
    return f'<p class="legend">{keys}</p>'


def _missing(what: str) -> str:
    return f'<p class="missing">not recorded: {escape(what)}</p>'


def timeline_section(run: RunData, figs: Figures) -> str:
    head = "<h2>Orders over time</h2>"
    if not figs.spans:
        return head + _missing("no orders in operations.jsonl, history.jsonl or state.json")
    shown = pick_for_timeline(figs.spans, TIMELINE_CAP)
    note = (
        ""
        if len(shown) == len(figs.spans)
        else (
            f'<p class="note">Showing {len(shown)} of {len(figs.spans)} orders: unfinished and '
            "failed ones first, then completed ones by start time.</p>"
        )
    )
    rows = [
        svg.Span(
            s.start - figs.t0,
            s.end - figs.t0,
            outcome_colour(s.outcome),
            f"{s.order_id}: {s.outcome}, {s.latency:.2f} s",
            hollow=not s.terminal,
        )
        for s in shown
    ]
    outcomes = Counter(s.outcome for s in figs.spans)
    legend = _legend([(f"{o} ({n})", outcome_colour(o)) for o, n in sorted(outcomes.items())])
    source = (
        ""
        if run.state is not None
        else ('<p class="note">state.json not recorded: outcomes guessed from the bus events.</p>')
    )
    caption = (
        '<p class="caption">Each bar is one order, from its place_order invoke to its last '
        "event on the bus (unfinished orders run to the end, outlined). Shaded: fault windows.</p>"
    )
    chart = svg.timeline(rows, x_range=figs.x_range, bands=figs.bands, title="orders over time")
    return head + legend + note + source + chart + caption


def latency_section(figs: Figures) -> str:
    head = "<h2>Saga latency</h2>"
    finished = [s for s in figs.spans if s.terminal]
    if not finished:
        return head + _missing("no finished orders")
    by_q = latency_series(finished, figs.t0, figs.t1, figs.width, [q for q, *_ in QUANTILES])
    series = [svg.Series(name, colour, by_q[q], dashed) for q, name, colour, dashed in QUANTILES]
    chart = svg.line_chart(
        series,
        x_range=figs.x_range,
        bands=figs.bands,
        y_label="seconds",
        title="saga latency quantiles",
    )
    legend = _legend([(name, colour) for _, name, colour, _ in QUANTILES])
    caption = (
        f'<p class="caption">Invoke-to-terminal latency of finished orders, by invoke time in '
        f"{figs.width:g} s buckets. Gaps: no order started in that bucket finished.</p>"
    )
    return head + legend + chart + caption


def _steps(buckets: list[Bucket]) -> list[tuple[float, float | None]]:
    """A rate drawn flat across its bucket: a step line says 'this many per second, here'."""
    return [point for a, b, v in buckets for point in ((a, v), (b, v))]


def throughput_section(figs: Figures) -> str:
    head = "<h2>Throughput</h2>"
    if not figs.spans:
        return head + _missing("no orders")
    started = rate_series((s.start for s in figs.spans), figs.t0, figs.t1, figs.width)
    done = rate_series((s.end for s in figs.spans if s.terminal), figs.t0, figs.t1, figs.width)
    series = [
        svg.Series("started", "#1565c0", _steps(started)),
        svg.Series("finished", "#2e7d32", _steps(done), dashed=True),
    ]
    chart = svg.line_chart(
        series,
        x_range=figs.x_range,
        bands=figs.bands,
        y_label="orders / s",
        title="orders started and finished per second",
    )
    legend = _legend([("started", "#1565c0"), ("finished", "#2e7d32")])
    return head + legend + chart + f'<p class="caption">{figs.width:g} s buckets.</p>'


def messages_section(run: RunData, figs: Figures) -> str:
    head = "<h2>Bus messages</h2>"
    if run.messages is None:
        return head + _missing("history.jsonl")
    bars = rate_series(figs.message_times, figs.t0, figs.t1, figs.width)
    chart = svg.bar_chart(
        bars,
        x_range=figs.x_range,
        bands=figs.bands,
        y_label="messages / s",
        title="messages per second on saga_events",
    )
    return (
        head
        + chart
        + (
            f'<p class="caption">Every message the recorder saw on saga_events (duplicates and '
            f"redeliveries included), {figs.width:g} s buckets.</p>"
        )
    )
