"""Plain data the whole harness shares: what happened (history) and what the system holds (state).

The recorder, the chaos runner, the BDD steps, the Locust check and the simulator all produce
these shapes, and the invariants (harness/invariants.py) are pure functions over them.
Times are seconds since the Unix epoch (floats), so client and broker events share one clock.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any, Literal

OpType = Literal["invoke", "ok", "fail", "info"]


@dataclass(frozen=True, slots=True)
class RecordedMessage:
    """One message seen on `saga_events` by the recorder's tap queue (bound to `#`).

    `outbox_seq`: the publisher's outbox row seq (the `x-outbox-seq` header), which grows in that
    service's commit order; None for a message that did not come from an outbox (a test's, a
    nemesis's own, a recording made before the relay stamped it). Copies and redeliveries of one
    message carry the same figure."""

    time: float
    routing_key: str
    message_id: str
    order_id: str
    redelivered: bool = False
    causation_id: str | None = None
    payload: dict[str, Any] = field(default_factory=dict)
    outbox_seq: int | None = None
    app_id: str | None = None  # the publisher the message names (AMQP app_id): a service, or "harness"


@dataclass(frozen=True, slots=True)
class Operation:
    """A client operation in Jepsen's sense.

    `invoke` starts it; `ok` or `fail` ends it with a known outcome; `info` ends it with an
    unknown one (a timeout: the order may or may not exist). `value` carries the request and,
    once known, the `order_id`.
    """

    process: int
    type: OpType
    f: str  # "place_order", "read_order", ...
    time: float
    value: dict[str, Any] = field(default_factory=dict)
    error: str | None = None


@dataclass(frozen=True, slots=True)
class FaultEvent:
    """A fault window: started at `start`, healed at `end` (None while still active)."""

    kind: str  # latency, partition, duplicate, crash, broker_restart, ...
    target: str
    start: float
    end: float | None = None
    detail: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class DeadLetter:
    queue: str
    routing_key: str
    message_id: str
    reason: str
    order_id: str | None = None


@dataclass
class History:
    messages: list[RecordedMessage] = field(default_factory=list)
    operations: list[Operation] = field(default_factory=list)
    faults: list[FaultEvent] = field(default_factory=list)
    healed_at: float | None = None  # when the last fault was healed (None: no faults)
    # Copies a nemesis published under a NEW message_id: copy's message_id -> the original's.
    # The checker discounts them (they are the fault, not the system's own effects).
    injected: dict[str, str] = field(default_factory=dict)
    style: str = "orchestration"  # the saga style the system ran (system/styles.py): what its bus may carry


@dataclass
class SystemState:
    """Final reads through the services' HTTP APIs (or the simulator's stores), same shapes.

    orders:       GET /orders        -> [{order_id, status, failure_reason, quantity, amount,
                                          product_id, user_id, history: [{event, at}], idempotency_key}]
    inventory:    GET /inventory     -> [{product_id, available, reserved, initial}]
    reservations: GET /inventory/reservations -> [{order_id, product_id, quantity, status,
                                                   available_seen (a rejection's evidence, else None)}]
    payments:     GET /payments      -> [{payment_id, order_id, amount, status, refunded_amount}]
    deliveries:   GET /deliveries    -> [{delivery_id, order_id, status}]
    queues:       {queue name: messages ready + unacked}, work queues and DLQs
    dead_letters: every message found in a DLQ
    """

    orders: list[dict[str, Any]] = field(default_factory=list)
    inventory: list[dict[str, Any]] = field(default_factory=list)
    reservations: list[dict[str, Any]] = field(default_factory=list)
    payments: list[dict[str, Any]] = field(default_factory=list)
    deliveries: list[dict[str, Any]] = field(default_factory=list)
    queues: dict[str, int] = field(default_factory=dict)
    dead_letters: list[DeadLetter] = field(default_factory=list)
    read_at: float = 0.0


# "not_applicable": the invariant had nothing to look at in this run (never reported as valid).
Validity = Literal[True, False, "unknown", "not_applicable"]


@dataclass
class Verdict:
    """One invariant's answer: valid, invalid (with counterexamples) or unknown (with why)."""

    name: str
    valid: Validity
    description: str = ""
    checked: int = 0  # how many things it looked at (orders, products, messages...)
    counterexamples: list[dict[str, Any]] = field(default_factory=list)
    note: str = ""

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def passed(verdict: Verdict) -> bool:
    """Nothing wrong and nothing undecided: valid, or nothing to check (not_applicable)."""
    return verdict.valid is True or verdict.valid == "not_applicable"


def overall(verdicts: list[Verdict]) -> Validity:
    """Jepsen's merge: any invalid makes the run invalid; else any unknown makes it unknown.

    Invariants that checked nothing (not_applicable) do not count, and a run in which nothing
    at all was checked is unknown, never valid (`overall_note` says why).
    """
    judged = [v for v in verdicts if v.valid != "not_applicable"]
    if any(v.valid is False for v in judged):
        return False
    if any(v.valid == "unknown" for v in judged):
        return "unknown"
    return True if judged else "unknown"


def overall_note(verdicts: list[Verdict]) -> str:
    """Why the overall verdict is unknown when no invariant says so itself: nothing was checked."""
    if not verdicts:
        return "no invariant was run"
    if all(v.valid == "not_applicable" for v in verdicts):
        return "nothing was checked: every invariant was not applicable"
    return ""
