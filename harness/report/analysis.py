"""Pure figures behind the plots: order spans, quantiles, time buckets and rates.

Times in and out are epoch seconds unless a name says `rel` (seconds since the run's start,
which is what the plots' x axes show).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

# The bus events that end a saga, for when the final state was not recorded.
_FAILURE_KEYS = (
    ("inventory.failed", "insufficient_inventory", False),  # (key, reason, needs release)
    ("delivery.failed", "delivery_failed", True),
    ("payment.failed", "payment_failed", True),
)

Bucket = tuple[float, float, float]  # (start_rel, end_rel, value)


@dataclass(frozen=True)
class OrderSpan:
    """One order on the timeline: from its place_order invoke to its last event on the bus."""

    order_id: str
    start: float
    end: float
    outcome: str  # "completed", "failed: <reason>", "not terminal (<status>)", "unknown"
    terminal: bool

    @property
    def latency(self) -> float:
        return self.end - self.start


def to_epoch(value: Any) -> float | None:
    """Epoch seconds from a number or an ISO-8601 string (the order service's history `at`)."""
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, int | float):
        return float(value) if math.isfinite(value) else None
    if isinstance(value, str):
        try:
            return float(value)
        except ValueError:
            pass
        try:
            return datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp()
        except ValueError:
            return None
    return None


def invoke_times(operations: Iterable[dict[str, Any]]) -> dict[str, float]:
    """Earliest place_order invoke per order_id.

    An invoke does not know its order_id yet (the server assigns it), so each completion is
    paired with its process's pending invoke, as in a Jepsen history.
    """
    pending: dict[Any, float] = {}
    starts: dict[str, float] = {}
    for op in operations:
        if op.get("f") != "place_order":
            continue
        time = to_epoch(op.get("time"))
        if time is None:
            continue
        raw = op.get("value")
        value: dict[str, Any] = raw if isinstance(raw, dict) else {}
        order_id = value.get("order_id")
        started: float | None = time
        if op.get("type") == "invoke":
            pending[op.get("process")] = time
        else:
            started = pending.pop(op.get("process"), None)
        if order_id and started is not None:
            starts[str(order_id)] = min(started, starts.get(str(order_id), started))
    return starts


def bus_activity(messages: Iterable[dict[str, Any]]) -> dict[str, tuple[float, float, set[str]]]:
    """Per order: first and last message time and the routing keys seen."""
    seen: dict[str, tuple[float, float, set[str]]] = {}
    for msg in messages:
        order_id, time = msg.get("order_id"), to_epoch(msg.get("time"))
        if not order_id or time is None:
            continue
        first, last, keys = seen.get(order_id, (time, time, set()))
        keys.add(str(msg.get("routing_key")))
        seen[order_id] = (min(first, time), max(last, time), keys)
    return seen


def outcome_of(order: dict[str, Any] | None, keys: set[str]) -> tuple[str, bool]:
    """(label, terminal) from the final state, else guessed from the bus events."""
    if order is not None:
        status = order.get("status")
        if status == "completed":
            return "completed", True
        if status == "failed":
            return f"failed: {order.get('failure_reason') or 'unknown'}", True
        return f"not terminal ({status})", False
    for key, reason, needs_release in _FAILURE_KEYS:
        if key in keys:
            return f"failed: {reason}", not needs_release or "inventory.released" in keys
    if "delivery.scheduled" in keys:
        return "completed", True
    return ("not terminal (bus)", False) if keys else ("unknown", False)


def order_spans(
    operations: Sequence[dict[str, Any]],
    messages: Sequence[dict[str, Any]],
    orders: Sequence[dict[str, Any]] | None,
    end_of_run: float | None,
) -> list[OrderSpan]:
    """The run's orders (named by its operations or its bus traffic), sorted by start."""
    starts = invoke_times(operations)
    bus = bus_activity(messages)
    by_id = {str(o.get("order_id")): o for o in orders or () if isinstance(o, dict)}
    ids = set(starts) | set(bus) or set(by_id)
    spans = []
    for order_id in ids:
        order = by_id.get(order_id)
        first, last, keys = bus.get(order_id, (None, None, set()))
        if first is None:  # no bus traffic: fall back on the order's own history, if read
            read = (to_epoch(e.get("at")) for e in (order or {}).get("history") or [])
            at = [t for t in read if t is not None]
            first, last = min(at, default=None), max(at, default=None)
        start = starts.get(order_id, first)
        if start is None:
            continue
        last = last if last is not None else start
        outcome, terminal = outcome_of(order, keys)
        end = last if terminal or end_of_run is None else max(last, end_of_run)
        spans.append(OrderSpan(order_id, start, max(end, start), outcome, terminal))
    return sorted(spans, key=lambda s: (s.start, s.order_id))


def pick_for_timeline(spans: Sequence[OrderSpan], cap: int) -> list[OrderSpan]:
    """At most `cap` spans, the unfinished and failed ones first: they are what a reader hunts."""
    if len(spans) <= cap:
        return list(spans)

    def rank(s: OrderSpan) -> int:
        return 0 if not s.terminal else 1 if s.outcome != "completed" else 2

    chosen = sorted(spans, key=lambda s: (rank(s), s.start))[:cap]
    return sorted(chosen, key=lambda s: (s.start, s.order_id))


def quantile(values: Sequence[float], q: float) -> float | None:
    """Linear-interpolated quantile (numpy's default); None for no values."""
    if not values:
        return None
    ordered = sorted(values)
    pos = (len(ordered) - 1) * min(max(q, 0.0), 1.0)
    low = math.floor(pos)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (pos - low)


def nice_ceil(x: float) -> float:
    """Smallest 1, 2 or 5 times a power of ten that is >= x (axis steps, bucket widths)."""
    if x <= 0 or not math.isfinite(x):
        return 1.0
    power = 10 ** math.floor(math.log10(x))
    for m in (1, 2, 5, 10):
        if m * power >= x * (1 - 1e-9):
            return m * power
    return 10 * power


def bucket_width(span_s: float, max_buckets: int = 60) -> float:
    """A round bucket width giving at most `max_buckets` buckets, never under 0.1 s."""
    return max(nice_ceil(span_s / max_buckets), 0.1)


def bucket_starts(span_s: float, width: float) -> list[float]:
    count = max(1, math.ceil(span_s / width - 1e-9))
    return [i * width for i in range(count)]


def rate_series(times: Iterable[float], t0: float, t1: float, width: float) -> list[Bucket]:
    """Events per second in each bucket of [t0, t1]; the last, partial bucket by its real width."""
    span = max(t1 - t0, 0.0)
    starts = bucket_starts(span, width)
    counts = [0] * len(starts)
    for t in times:
        rel = t - t0
        if 0 <= rel <= span:
            counts[min(int(rel // width), len(counts) - 1)] += 1
    out = []
    for start, count in zip(starts, counts, strict=True):
        covered = min(width, span - start) if span > start else width
        out.append((start, start + width, count / covered if covered > 0 else 0.0))
    return out


def latency_series(
    spans: Iterable[OrderSpan],
    t0: float,
    t1: float,
    width: float,
    qs: Sequence[float] = (0.5, 0.95, 0.99),
) -> dict[float, list[tuple[float, float | None]]]:
    """Quantiles of invoke->terminal latency per bucket of invoke time (None: no finished order)."""
    span = max(t1 - t0, 0.0)
    starts = bucket_starts(span, width)
    groups: list[list[float]] = [[] for _ in starts]
    for s in spans:
        rel = s.start - t0
        if s.terminal and 0 <= rel <= span:
            groups[min(int(rel // width), len(groups) - 1)].append(s.latency)
    return {
        q: [(start + width / 2, quantile(g, q)) for start, g in zip(starts, groups, strict=True)]
        for q in qs
    }


def time_range(results: dict[str, Any] | None, *times: Iterable[float]) -> tuple[float, float]:
    """The run's window: results' started..finished, stretched to cover every recorded time."""
    results = results or {}
    candidates = [t for group in times for t in group]
    for key in ("started", "finished"):
        t = to_epoch(results.get(key))
        if t is not None:
            candidates.append(t)
    if not candidates:
        return 0.0, 1.0
    t0, t1 = min(candidates), max(candidates)
    return t0, t1 if t1 > t0 else t0 + 1.0
