"""OTLP/JSON: what traces.jsonl holds, and the flat spans the waterfalls are drawn from.

traces.jsonl has the shape the OpenTelemetry Collector's file exporter writes: one
ExportTraceServiceRequest per line, as OTLP/JSON (lowerCamelCase keys, trace and span ids as
hex, enums as integers, 64-bit integers as strings). Any tool that reads the Collector's files
reads it; `read_spans` reads it back, skipping lines it cannot read (and counting them).
"""

from __future__ import annotations

import base64
import json
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

TRACES = "traces.jsonl"

KIND_NAMES = {0: "unspecified", 1: "internal", 2: "server", 3: "client", 4: "producer", 5: "consumer"}
STATUS_ERROR = 2


@dataclass(frozen=True)
class SpanRecord:
    """One span, flattened from OTLP/JSON; times in ns since the epoch."""

    trace_id: str
    span_id: str
    parent_id: str
    name: str
    kind: str
    service: str
    start_ns: int
    end_ns: int
    attributes: dict[str, Any] = field(default_factory=dict)
    error: str | None = None  # the status message of a span whose status is ERROR
    events: tuple[tuple[str, int], ...] = ()

    @property
    def order_id(self) -> str | None:
        value = self.attributes.get("saga.order_id")
        return value if isinstance(value, str) and value else None

    @property
    def duration_ms(self) -> float:
        return max(self.end_ns - self.start_ns, 0) / 1e6


def _hex_id(value: Any) -> str:
    """OTLP/JSON ids are hex; protobuf's JSON mapping writes bytes as base64: accept both."""
    if not isinstance(value, str) or not value:
        return ""
    text = value.strip()
    if len(text) in (16, 32) and all(c in "0123456789abcdefABCDEF" for c in text):
        return text.lower()
    try:
        return base64.b64decode(text, validate=True).hex()
    except (ValueError, TypeError):
        return text


def _value(any_value: Any) -> Any:
    if not isinstance(any_value, dict):
        return None
    for key in ("stringValue", "boolValue", "doubleValue"):
        if key in any_value:
            return any_value[key]
    if "intValue" in any_value:
        try:
            return int(any_value["intValue"])
        except (TypeError, ValueError):
            return any_value["intValue"]
    if "arrayValue" in any_value:
        return [_value(v) for v in (any_value["arrayValue"] or {}).get("values", [])]
    return None


def attributes_of(items: Any) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for item in items or []:
        if isinstance(item, dict) and isinstance(item.get("key"), str):
            out[item["key"]] = _value(item.get("value"))
    return out


def _int(value: Any) -> int:
    try:
        return int(value)
    except (TypeError, ValueError):
        return 0


def spans_of(request: dict[str, Any]) -> Iterator[SpanRecord]:
    """The spans of one ExportTraceServiceRequest (OTLP/JSON)."""
    for resource_spans in request.get("resourceSpans") or []:
        if not isinstance(resource_spans, dict):
            continue
        resource = attributes_of((resource_spans.get("resource") or {}).get("attributes"))
        service = str(resource.get("service.name") or "?")
        for scope_spans in resource_spans.get("scopeSpans") or []:
            for span in (scope_spans or {}).get("spans") or []:
                if not isinstance(span, dict):
                    continue
                status = span.get("status") or {}
                error = None
                if _int(status.get("code")) == STATUS_ERROR:
                    error = str(status.get("message") or "error")
                yield SpanRecord(
                    trace_id=_hex_id(span.get("traceId")),
                    span_id=_hex_id(span.get("spanId")),
                    parent_id=_hex_id(span.get("parentSpanId")),
                    name=str(span.get("name") or ""),
                    kind=KIND_NAMES.get(_int(span.get("kind")), "unspecified"),
                    service=service,
                    start_ns=_int(span.get("startTimeUnixNano")),
                    end_ns=_int(span.get("endTimeUnixNano")),
                    attributes=attributes_of(span.get("attributes")),
                    error=error,
                    events=tuple(
                        (str(e.get("name") or ""), _int(e.get("timeUnixNano")))
                        for e in span.get("events") or [] if isinstance(e, dict)
                    ),
                )


def count_spans(request: dict[str, Any]) -> int:
    return sum(
        len((scope or {}).get("spans") or [])
        for rs in request.get("resourceSpans") or [] if isinstance(rs, dict)
        for scope in rs.get("scopeSpans") or []
    )


@dataclass
class Traces:
    spans: list[SpanRecord]
    bad_lines: int = 0


def read_traces(path: Path) -> Traces | None:
    """The spans of a traces.jsonl, or None when there is no such file."""
    if not path.is_file():
        return None
    spans: list[SpanRecord] = []
    bad = 0
    with path.open(encoding="utf-8") as lines:
        for line in lines:
            if not line.strip():
                continue
            try:
                request = json.loads(line)
            except ValueError:
                bad += 1
                continue
            if not isinstance(request, dict):
                bad += 1
                continue
            spans.extend(spans_of(request))
    return Traces(spans, bad)


def by_order(spans: Iterable[SpanRecord]) -> dict[str, list[SpanRecord]]:
    """Every span that names a saga (`saga.order_id`), grouped by order, in start order."""
    out: dict[str, list[SpanRecord]] = {}
    for span in spans:
        if span.order_id:
            out.setdefault(span.order_id, []).append(span)
    for rows in out.values():
        rows.sort(key=lambda s: (s.start_ns, s.end_ns))
    return out
