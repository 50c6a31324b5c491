"""Per-order waterfalls over the spans of traces.jsonl: pure functions over plain data.

`summarize` tells each order's story in figures (its trace ids, services, duration, deliveries,
redeliveries, duplicates, retries, dead letters, publish failures); `rows` lays its spans out
as a waterfall (start order; a span whose parent is not among the order's spans is marked,
since a SIGKILLed process never exported it);
`render_text` draws that in a terminal, with the run's fault windows under it; `coverage` is
the issue's acceptance figure: orders with exactly one trace id that covers every service the
saga touched on the bus.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from harness.tracing.otlp import SpanRecord
from system.contracts import BINDINGS, PUBLISHES

# The service that publishes / consumes each routing key (one each in this saga).
PUBLISHER = {key: service for service, keys in PUBLISHES.items() for key in keys}
CONSUMER = {key: service for service, keys in BINDINGS.items() for key in keys}


@dataclass(frozen=True)
class OrderTrace:
    order_id: str
    trace_ids: tuple[str, ...]
    services: tuple[str, ...]
    start_ns: int
    end_ns: int
    spans: int
    deliveries: int
    redeliveries: int
    duplicates: int
    retries: int  # deliveries the consumer requeued (a handler failure)
    dead_letters: int
    publish_failures: int
    errors: int
    orphans: int  # spans whose parent is not among the order's spans
    status: str | None  # the terminal status the order service committed, if seen

    @property
    def duration_ms(self) -> float:
        return max(self.end_ns - self.start_ns, 0) / 1e6

    def flags(self) -> str:
        """What happened to this saga, in words (empty: nothing unusual)."""
        parts = []
        for count, word in ((self.redeliveries, "redelivered"), (self.duplicates, "duplicate"),
                            (self.retries, "retried"), (self.dead_letters, "dead-lettered"),
                            (self.publish_failures, "publish failed"), (self.orphans, "parent missing")):
            if count:
                parts.append(f"{count} {word}")
        if len(self.trace_ids) > 1:
            parts.append(f"{len(self.trace_ids)} traces")
        return ", ".join(parts)


def summarize(order_id: str, spans: Sequence[SpanRecord]) -> OrderTrace:
    ids = {s.span_id for s in spans}
    consumers = [s for s in spans if s.kind == "consumer"]
    statuses = [s.attributes.get("saga.status") for s in spans
                if s.name.startswith("commit ") and s.attributes.get("saga.terminal")]
    return OrderTrace(
        order_id=order_id,
        trace_ids=tuple(sorted({s.trace_id for s in spans})),
        services=tuple(sorted({s.service for s in spans})),
        start_ns=min((s.start_ns for s in spans), default=0),
        end_ns=max((s.end_ns for s in spans), default=0),
        spans=len(spans),
        deliveries=len(consumers),
        redeliveries=sum(1 for s in consumers if s.attributes.get("saga.redelivered")),
        duplicates=sum(1 for s in consumers if s.attributes.get("saga.duplicate")),
        retries=sum(1 for s in consumers if s.attributes.get("saga.outcome") == "requeue"),
        dead_letters=sum(1 for s in consumers if s.attributes.get("saga.outcome") == "deadletter"),
        publish_failures=sum(1 for s in spans if s.kind == "producer" and s.error),
        errors=sum(1 for s in spans if s.error),
        orphans=sum(1 for s in spans if s.parent_id and s.parent_id not in ids),
        status=str(statuses[-1]) if statuses else None,
    )


def touched_services(messages: Iterable[Any]) -> dict[str, set[str]]:
    """order_id -> the services its recorded bus messages went from and to."""
    out: dict[str, set[str]] = {}
    for m in messages:
        key = getattr(m, "routing_key", None) if not isinstance(m, Mapping) else m.get("routing_key")
        order = getattr(m, "order_id", None) if not isinstance(m, Mapping) else m.get("order_id")
        if not key or not order:
            continue
        services = out.setdefault(str(order), set())
        for table in (PUBLISHER, CONSUMER):
            if key in table:
                services.add(table[key])
    return out


def coverage(by_order: Mapping[str, Sequence[SpanRecord]], touched: Mapping[str, set[str]],
             scope: Iterable[str] | None = None) -> dict[str, Any]:
    """How many of the run's orders (scope; default: those the bus saw) have exactly one trace
    id across their spans, covering every service their saga touched."""
    orders = sorted(set(scope) if scope is not None else set(touched))
    one_trace = covering = traced = 0
    examples: list[dict[str, Any]] = []
    for order_id in orders:
        spans = by_order.get(order_id, ())
        if spans:
            traced += 1
        traces = {s.trace_id for s in spans}
        services = {s.service for s in spans}
        need = touched.get(order_id, set())
        if len(traces) == 1:
            one_trace += 1
            if need <= services:
                covering += 1
                continue
        if len(examples) < 10:
            examples.append({"order_id": order_id, "trace_ids": len(traces),
                             "missing_services": sorted(need - services)})
    return {
        "orders": len(orders), "traced": traced, "one_trace": one_trace, "one_trace_covering": covering,
        "fraction": round(covering / len(orders), 4) if orders else None, "not_covered": examples,
    }


# --- the waterfall ---------------------------------------------------------------------------------
@dataclass(frozen=True)
class Row:
    span: SpanRecord
    depth: int  # in the parent tree (a saga is a chain: one level per hop)
    orphan: bool  # its parent is not among the order's spans

    @property
    def indent(self) -> int:
        """Indentation by role, not by depth: a chain of 20 hops would walk off the screen.
        A publish at 0, its delivery at 1, that delivery's commit at 2."""
        return {"consumer": 1, "internal": 2 if self.span.name.startswith("commit ") else 1}.get(self.span.kind, 0)

    def marks(self) -> list[str]:
        a, out = self.span.attributes, []
        if self.orphan:
            out.append("parent missing")
        if a.get("saga.redelivered"):
            out.append("redelivered")
        if a.get("saga.injected_copy"):
            out.append("injected copy")
        if a.get("saga.duplicate"):
            out.append("duplicate")
        outcome = a.get("saga.outcome")
        if outcome in ("requeue", "deadletter"):
            out.append("retry" if outcome == "requeue" else "dead-lettered")
        attempt = a.get("saga.publish_attempt")
        if isinstance(attempt, int) and attempt > 1:
            out.append(f"publish attempt {attempt}")
        if a.get("saga.attempt", 1) not in (1, None):
            out.append(f"delivery attempt {a.get('saga.attempt')}")
        if a.get("saga.terminal"):
            out.append(f"-> {a.get('saga.status')}")
        if self.span.error:
            out.append(f"error: {self.span.error}")
        return out


def rows(spans: Sequence[SpanRecord]) -> list[Row]:
    """Every span once, in start order, with its depth in the parent tree and whether its parent
    is missing (a copy or a retry sits at its time, not after its sibling's whole subtree)."""
    ids = {s.span_id for s in spans}
    children: dict[str, list[SpanRecord]] = {}
    roots: list[SpanRecord] = []
    for s in sorted(spans, key=lambda s: (s.start_ns, s.end_ns)):
        if s.parent_id and s.parent_id in ids and s.parent_id != s.span_id:
            children.setdefault(s.parent_id, []).append(s)
        else:
            roots.append(s)
    out: list[Row] = []
    seen: set[int] = set()

    def walk(span: SpanRecord, depth: int) -> None:
        if id(span) in seen:
            return
        seen.add(id(span))
        out.append(Row(span, depth, bool(span.parent_id) and span.parent_id not in ids))
        for child in children.get(span.span_id, ()):
            walk(child, depth + 1)

    for root in roots:
        walk(root, 0)
    # Shown in time order (a waterfall); the walk gave each row its depth and orphan mark.
    out.sort(key=lambda r: (r.span.start_ns, r.span.end_ns))
    return out


@dataclass(frozen=True)
class Window:
    """A fault window in ns since the epoch (end None: never healed)."""

    kind: str
    target: str
    start_ns: int
    end_ns: int | None
    detail: dict[str, Any] = field(default_factory=dict)

    @property
    def label(self) -> str:
        latency, point = self.detail.get("latency"), self.detail.get("point")
        return (f"{self.kind} {self.target}" + (f" {latency}ms" if latency is not None else "")
                + (f" at {point}" if point else ""))


def fault_windows(faults: Iterable[Mapping[str, Any]] | None) -> list[Window]:
    out = []
    for f in faults or []:
        try:
            start = int(float(f["start"]) * 1e9)
        except (KeyError, TypeError, ValueError):
            continue
        end, detail = f.get("end"), f.get("detail")
        out.append(Window(str(f.get("kind")), str(f.get("target")), start,
                          int(float(end) * 1e9) if isinstance(end, int | float) else None,
                          dict(detail) if isinstance(detail, dict) else {}))
    return out


def overlapping(windows: Iterable[Window], start_ns: int, end_ns: int) -> list[Window]:
    return [w for w in windows if w.start_ns <= end_ns and (w.end_ns is None or w.end_ns >= start_ns)]


def _bar(start: int, end: int, t0: int, t1: int, width: int, fill: str) -> str:
    span = max(t1 - t0, 1)
    a = int((start - t0) / span * width)
    b = max(int((end - t0) / span * width), a + 1)
    a, b = max(0, min(a, width - 1)), max(1, min(b, width))
    return " " * a + fill * (b - a) + " " * (width - b)


def render_text(order_id: str, spans: Sequence[SpanRecord], windows: Sequence[Window] = (),
                width: int = 48) -> str:
    """The waterfall of one order as terminal text."""
    if not spans:
        return f"order {order_id}: no spans"
    summary = summarize(order_id, spans)
    t0, t1 = summary.start_ns, max(summary.end_ns, summary.start_ns + 1)
    head = (f"order {order_id}  trace {', '.join(summary.trace_ids)}\n"
            f"{summary.duration_ms:.1f} ms, {summary.spans} spans, services {', '.join(summary.services)}"
            + (f", status {summary.status}" if summary.status else "")
            + (f"; {summary.flags()}" if summary.flags() else ""))
    lines = [head, f"{'':>9} {'service':10} {'span':42} |{'':{width}}| {'ms':>8}"]
    for row in rows(spans):
        s = row.span
        label = ("  " * row.indent + s.name)[:42]
        bar = _bar(s.start_ns, s.end_ns, t0, t1, width, "!" if s.error else "#")
        marks = row.marks()
        lines.append(f"+{(s.start_ns - t0) / 1e6:7.1f}ms {s.service:10} {label:42} |{bar}| {s.duration_ms:8.1f}"
                     + (f"  [{'; '.join(marks)}]" if marks else ""))
    for w in overlapping(windows, t0, t1):
        bar = _bar(max(w.start_ns, t0), min(w.end_ns or t1, t1), t0, t1, width, "~")
        lines.append(f"{'fault':>9} {'':10} {w.label[:42]:42} |{bar}|")
    return "\n".join(lines)
