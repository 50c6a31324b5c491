"""Trace context DERIVED from the message envelope (issue #18): pure, no OpenTelemetry import.

The outbox stores only the envelope, so nothing about a trace is stored. Every id a saga's spans
need is a stable hash of what the envelope already carries:

- the saga's trace id from its order_id: every span of one saga, in every service, in every
  process life (a crash re-run, a redelivery), lands in the same trace;
- a message's publish span from its message_id (and the relay's attempt number);
- the span of the transaction that committed a message from its message_id, so the publish
  span of each message it caused (causation_id) knows its parent without asking anybody;
- the POST's `place` span from the order_id: the parent of the saga's first command, which
  has no causation_id.

A real W3C `traceparent` header still goes on every AMQP publish, for interoperability; a
consumer prefers it and falls back to the derived parent when it is missing or foreign.
`python -m system.trace_ids ORDER_ID` prints an order's trace id (for Jaeger's search box).
"""

from __future__ import annotations

import sys
from hashlib import sha256

TRACEPARENT = "traceparent"


def _digest(*parts: str) -> bytes:
    return sha256("\x1f".join(parts).encode()).digest()


def trace_id_of(order_id: str) -> int:
    """The saga's 128-bit trace id (never 0, the invalid id)."""
    value = int.from_bytes(_digest("saga-trace", order_id)[:16], "big")
    return value or 1


def span_id_of(*parts: str) -> int:
    """A 64-bit span id derived from `parts` (never 0)."""
    value = int.from_bytes(_digest("saga-span", *parts)[:8], "big")
    return value or 1


def place_span_id(order_id: str) -> int:
    """The POST's `place` span: the order and its first command committed."""
    return span_id_of("place", order_id)


def commit_span_id(message_id: str) -> int:
    """The span of the one transaction that handled `message_id` (the inbox lets one commit)."""
    return span_id_of("commit", message_id)


def publish_span_id(message_id: str, attempt: int = 1) -> int:
    """The relay's `attempt`-th publish of `message_id` in one process life."""
    return span_id_of("publish", message_id, str(attempt))


def cause_span_id(order_id: str, causation_id: str | None) -> int:
    """The parent of a message's publish span: the commit of its cause, or the POST's place."""
    return commit_span_id(causation_id) if causation_id else place_span_id(order_id)


def trace_hex(trace_id: int) -> str:
    return f"{trace_id:032x}"


def span_hex(span_id: int) -> str:
    return f"{span_id:016x}"


def traceparent(trace_id: int, span_id: int, sampled: bool = True) -> str:
    return f"00-{trace_hex(trace_id)}-{span_hex(span_id)}-{'01' if sampled else '00'}"


def parse_traceparent(value: object) -> tuple[int, int, bool] | None:
    """(trace id, span id, sampled) of a W3C traceparent, or None if it is not a valid one."""
    if isinstance(value, bytes):
        value = value.decode("ascii", "replace")
    if not isinstance(value, str):
        return None
    parts = value.strip().split("-")
    if len(parts) < 4 or len(parts[0]) != 2 or parts[0] == "ff" or len(parts[1]) != 32 or len(parts[2]) != 16:
        return None
    try:
        trace_id, span_id, flags = int(parts[1], 16), int(parts[2], 16), int(parts[3][:2], 16)
    except ValueError:
        return None
    if trace_id == 0 or span_id == 0:
        return None
    return trace_id, span_id, bool(flags & 1)


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if not args:
        print("usage: python -m system.trace_ids ORDER_ID...", file=sys.stderr)
        return 254
    for order_id in args:
        print(f"{order_id} {trace_hex(trace_id_of(order_id))}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
