"""The message contract: routing keys, the envelope, and who listens to what.

Commands are imperatives (`inventory.reserve`), events past tense (`inventory.reserved`), as the
seed names them. The order service orchestrates: it sends every command and hears every reply.
"""

from __future__ import annotations

import json
import math
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from hashlib import sha1
from typing import Any, NamedTuple, TypeVar

T = TypeVar("T")

EXCHANGE = "saga_events"
DEAD_LETTER_EXCHANGE = "saga_events.dlx"
# AMQP header the outbox relay puts on every message: its outbox row's seq, an int that grows in
# the publisher's commit order (not the bus order: a failed publish goes out again after later rows).
OUTBOX_SEQ_HEADER = "x-outbox-seq"

# A choreography's one message from the order service (system/styles.py): a saga has begun.
ORDER_PLACED = "order.placed"
# A choreography's second message from the order service, only when a step's deadline passed
# (issue #16): every participant reacts by undoing its part (system/styles.py TIMED_OUT_REACTIONS).
ORDER_TIMED_OUT = "order.timed_out"

# Commands, sent by the order service.
INVENTORY_RESERVE = "inventory.reserve"
INVENTORY_RELEASE = "inventory.release"
PAYMENT_PROCESS = "payment.process"
PAYMENT_REFUND = "payment.refund"
DELIVERY_SCHEDULE = "delivery.schedule"
DELIVERY_CANCEL = "delivery.cancel"  # compensation after a timeout (issue #16)

# Replies, sent by the participants.
INVENTORY_RESERVED = "inventory.reserved"
INVENTORY_FAILED = "inventory.failed"  # the insufficient-inventory outcome of inventory.reserve
INVENTORY_RELEASED = "inventory.released"
PAYMENT_COMPLETED = "payment.completed"
PAYMENT_FAILED = "payment.failed"
PAYMENT_REFUNDED = "payment.refunded"
DELIVERY_SCHEDULED = "delivery.scheduled"
DELIVERY_FAILED = "delivery.failed"
DELIVERY_CANCELLED = "delivery.cancelled"

COMMANDS = (INVENTORY_RESERVE, INVENTORY_RELEASE, PAYMENT_PROCESS, PAYMENT_REFUND, DELIVERY_SCHEDULE,
            DELIVERY_CANCEL)
REPLIES = (
    INVENTORY_RESERVED,
    INVENTORY_FAILED,
    INVENTORY_RELEASED,
    PAYMENT_COMPLETED,
    PAYMENT_FAILED,
    PAYMENT_REFUNDED,
    DELIVERY_SCHEDULED,
    DELIVERY_FAILED,
    DELIVERY_CANCELLED,
)
ROUTING_KEYS = COMMANDS + REPLIES  # the orchestration's (system/styles.py has each style's)
ALL_ROUTING_KEYS = ROUTING_KEYS + (ORDER_PLACED, ORDER_TIMED_OUT)  # in either style
# Keys only a saga that timed out carries (issue #16): no forced outcome of the seed's does.
TIMEOUT_ONLY_KEYS = (DELIVERY_CANCEL, DELIVERY_CANCELLED, ORDER_TIMED_OUT)

SERVICES = ("order", "inventory", "payment", "delivery")
DEFAULT_PORTS = {"order": 8001, "inventory": 8002, "payment": 8003, "delivery": 8004}

# The routing keys each service's queue is bound to (orchestration; system/styles.py: per style).
BINDINGS: dict[str, tuple[str, ...]] = {
    "order": REPLIES,
    "inventory": (INVENTORY_RESERVE, INVENTORY_RELEASE),
    "payment": (PAYMENT_PROCESS, PAYMENT_REFUND),
    "delivery": (DELIVERY_SCHEDULE, DELIVERY_CANCEL),
}

# The routing keys each service publishes on EXCHANGE: the order service sends the commands, each
# participant its replies. The broker enforces it (system/access.py): a service's RabbitMQ user
# may publish these keys and no other.
PUBLISHES: dict[str, tuple[str, ...]] = {
    "order": COMMANDS,
    "inventory": (INVENTORY_RESERVED, INVENTORY_FAILED, INVENTORY_RELEASED),
    "payment": (PAYMENT_COMPLETED, PAYMENT_FAILED, PAYMENT_REFUNDED),
    "delivery": (DELIVERY_SCHEDULED, DELIVERY_FAILED, DELIVERY_CANCELLED),
}

# The seed's traces, exactly as it lists them.
TRACE_SUCCESS = (
    INVENTORY_RESERVE, INVENTORY_RESERVED,
    PAYMENT_PROCESS, PAYMENT_COMPLETED,
    DELIVERY_SCHEDULE, DELIVERY_SCHEDULED,
)
TRACE_PAYMENT_FAILED = (
    INVENTORY_RESERVE, INVENTORY_RESERVED,
    PAYMENT_PROCESS, PAYMENT_FAILED,
    INVENTORY_RELEASE, INVENTORY_RELEASED,
)
TRACE_DELIVERY_FAILED = (
    INVENTORY_RESERVE, INVENTORY_RESERVED,
    PAYMENT_PROCESS, PAYMENT_COMPLETED,
    DELIVERY_SCHEDULE, DELIVERY_FAILED,
    PAYMENT_REFUND, PAYMENT_REFUNDED,
    INVENTORY_RELEASE, INVENTORY_RELEASED,
)
TRACE_INSUFFICIENT_INVENTORY = (INVENTORY_RESERVE, INVENTORY_FAILED)
# A step that did not answer in time (issue #16): the order's history names the timeout, then the
# compensations it sent at once (every step begun so far is undone; the order is failed already).
TIMEOUT_TRACES = {
    "timeout:inventory": (INVENTORY_RESERVE, "timeout:inventory", INVENTORY_RELEASE),
    "timeout:payment": (
        INVENTORY_RESERVE, INVENTORY_RESERVED,
        PAYMENT_PROCESS, "timeout:payment",
        PAYMENT_REFUND, INVENTORY_RELEASE,
    ),
    "timeout:delivery": (
        INVENTORY_RESERVE, INVENTORY_RESERVED,
        PAYMENT_PROCESS, PAYMENT_COMPLETED,
        DELIVERY_SCHEDULE, "timeout:delivery",
        DELIVERY_CANCEL, PAYMENT_REFUND, INVENTORY_RELEASE,
    ),
}
LEGAL_TRACES = {
    "completed": TRACE_SUCCESS,
    "insufficient_inventory": TRACE_INSUFFICIENT_INVENTORY,
    "payment_failed": TRACE_PAYMENT_FAILED,
    "delivery_failed": TRACE_DELIVERY_FAILED,
}


def queue_name(service: str) -> str:
    return f"saga.{service}"


def dead_letter_queue_name(service: str) -> str:
    return f"saga.{service}.dlq"


# Outgoing message ids derive from what caused them, so re-running a handler (after a crash
# before commit) produces the very same ids and the receiver's inbox absorbs the repeat.
_MESSAGE_NS = uuid.UUID("6f1c7a52-3d0e-4c55-9a3e-0b8f6a2f1d11").bytes

_UUID5_KEEP = ~((0xF << 76) | (0x3 << 62)) & ((1 << 128) - 1)
_UUID5_BITS = (0x5 << 76) | (0x2 << 62)  # version 5, RFC 4122 variant


def uuid5_text(namespace: bytes, name: str) -> str:
    """str(uuid.uuid5(UUID(bytes=namespace), name)), without building UUID objects: ids are
    derived for every message, and this is the simulator's hot path."""
    digest = int.from_bytes(sha1(namespace + name.encode()).digest()[:16], "big")
    h = "%032x" % ((digest & _UUID5_KEEP) | _UUID5_BITS)
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"


def derived_message_id(causation_id: str, routing_key: str) -> str:
    return uuid5_text(_MESSAGE_NS, f"{causation_id}|{routing_key}")


@dataclass(frozen=True)
class Message:
    """The envelope every service sends: `{message_id, type, order_id, payload, occurred_at, causation_id}`."""

    message_id: str
    type: str
    order_id: str
    payload: dict[str, Any] = field(default_factory=dict)
    occurred_at: str = ""
    causation_id: str | None = None

    def to_json(self) -> bytes:
        return json.dumps(
            {
                "message_id": self.message_id,
                "type": self.type,
                "order_id": self.order_id,
                "payload": self.payload,
                "occurred_at": self.occurred_at,
                "causation_id": self.causation_id,
            },
            separators=(",", ":"),
            sort_keys=True,
        ).encode()


class MalformedMessage(ValueError):
    """A message that can never be handled: it goes to the dead-letter queue with this reason."""


class TransientFailure(Exception):
    """A participant's dependency failed for now (a payment gateway's transient error): the
    transaction rolls back and the consumer policy retries the delivery after `delay_s` (issue #16)."""

    def __init__(self, message: str, delay_s: float) -> None:
        super().__init__(message)
        self.delay_s = delay_s


class RefusedCommand(MalformedMessage):
    """A well-formed command whose fields its participant can verify as wrong (a forged or
    corrupted command): never executed, dead-lettered with this reason, no reply."""


def command_field(msg: Message, name: str, rule: Callable[[object], T], *, optional: bool = False) -> T:
    """`msg.payload[name]` checked by `rule` (system/validation.py); RefusedCommand naming the
    field and the problem if it is wrong, or missing unless `optional` (then the rule sees None)."""
    if name not in msg.payload and not optional:
        raise RefusedCommand(f"{msg.type}: payload.{name} is missing")
    try:
        return rule(msg.payload.get(name))
    except ValueError as exc:
        raise RefusedCommand(f"{msg.type}: payload.{name} {exc}") from None


def caused_by(cause: Message, routing_key: str, payload: dict[str, Any], now: str) -> Message:
    """The message `cause` leads to, with an id derived from the cause."""
    return Message(
        message_id=derived_message_id(cause.message_id, routing_key),
        type=routing_key,
        order_id=cause.order_id,
        payload=payload,
        occurred_at=now,
        causation_id=cause.message_id,
    )


def _finite_float(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise ValueError(f"number {text[:40]} is out of range")
    return value


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a number JSON allows")


def parse_message(body: bytes, routing_key: str) -> Message:
    """Decode and validate an envelope; raise MalformedMessage naming what is wrong.

    MalformedMessage is the ONLY exception that leaves: whatever else decoding raises (a
    RecursionError on deeply nested arrays, a MemoryError, a bug) is a reason to dead-letter
    the message, never a reason to leave the delivery unsettled and the consumer stuck.
    """
    try:
        return _parse_message(body, routing_key)
    except MalformedMessage:
        raise
    except Exception as exc:  # noqa: BLE001 - see above: anything else is malformed too
        raise MalformedMessage(f"body cannot be parsed: {type(exc).__name__}: {str(exc)[:200]}") from None


def _parse_message(body: bytes, routing_key: str) -> Message:
    try:
        # Numbers on the bus are finite: NaN, Infinity and 1e400 are refused here, not in a handler.
        data = json.loads(body, parse_float=_finite_float, parse_constant=_no_constant)
    except (ValueError, RecursionError) as exc:  # JSONDecodeError and UnicodeDecodeError are ValueErrors
        raise MalformedMessage(f"body is not valid JSON: {type(exc).__name__}: {str(exc)[:200]}") from None
    if not isinstance(data, dict):
        raise MalformedMessage("body is not a JSON object")
    missing = [k for k in ("message_id", "type", "order_id") if not data.get(k)]
    if missing:
        raise MalformedMessage(f"envelope is missing {', '.join(missing)}")
    for key in ("message_id", "type", "order_id"):
        if not isinstance(data[key], str):
            raise MalformedMessage(f"envelope field {key} must be a string")
    if data["type"] != routing_key:
        raise MalformedMessage(f"type {data['type']!r} does not match routing key {routing_key!r}")
    if data["type"] not in ALL_ROUTING_KEYS:
        raise MalformedMessage(f"unknown message type {data['type']!r}")
    payload = data.get("payload", {})
    if not isinstance(payload, dict):
        raise MalformedMessage("payload must be a JSON object")
    occurred_at, causation_id = data.get("occurred_at") or "", data.get("causation_id")
    if not isinstance(occurred_at, str):
        raise MalformedMessage("envelope field occurred_at must be a string")
    if causation_id is not None and not isinstance(causation_id, str):
        raise MalformedMessage("envelope field causation_id must be a string or null")
    return Message(
        message_id=data["message_id"],
        type=data["type"],
        order_id=data["order_id"],
        payload=payload,
        occurred_at=occurred_at,
        causation_id=causation_id,
    )


# HandlerContext and Outcome are NamedTuples: immutable like a frozen dataclass, and several
# times cheaper to make; one of each is made for every message handled (the simulator's hot path).
class HandlerContext(NamedTuple):
    """What a pure handler may know about the world: the time and the decision dice."""

    now: str
    decisions: Any  # system.decisions.DecisionConfig (kept loose to avoid an import cycle)
    # This delivery's attempt, from 1 (x-delivery-count + 1; the simulated envelope's failures + 1):
    # what a participant retrying a transient error counts (issue #16).
    attempt: int = 1


class Outcome(NamedTuple):
    """What a pure handler decided: the new state, the messages to send, and why (for logs)."""

    state: Any
    messages: tuple[Message, ...] = ()
    note: str = ""
