"""The order saga's orchestrator as a pure state machine.

The order service sends every command and hears every reply; its history is the seed's trace.
A reply that does not fit the current state (late, duplicated under a new id, out of order) is
ignored rather than allowed to corrupt the saga.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, NamedTuple

from system.contracts import (
    DELIVERY_FAILED,
    DELIVERY_SCHEDULE,
    DELIVERY_SCHEDULED,
    INVENTORY_FAILED,
    INVENTORY_RELEASE,
    INVENTORY_RELEASED,
    INVENTORY_RESERVE,
    INVENTORY_RESERVED,
    ORDER_PLACED,
    PAYMENT_COMPLETED,
    PAYMENT_FAILED,
    PAYMENT_PROCESS,
    PAYMENT_REFUND,
    PAYMENT_REFUNDED,
    HandlerContext,
    Message,
    Outcome,
    caused_by,
    derived_message_id,
)
from system.styles import CHOREOGRAPHY, ORCHESTRATION, command_payload

PENDING = "pending"
INVENTORY_RESERVED_STATUS = "inventory_reserved"
PAYMENT_COMPLETED_STATUS = "payment_completed"
REFUNDING_PAYMENT = "refunding_payment"
RELEASING_INVENTORY = "releasing_inventory"
COMPLETED = "completed"
FAILED = "failed"
TERMINAL_STATUSES = (COMPLETED, FAILED)
STATUSES = (
    PENDING,
    INVENTORY_RESERVED_STATUS,
    PAYMENT_COMPLETED_STATUS,
    REFUNDING_PAYMENT,
    RELEASING_INVENTORY,
    COMPLETED,
    FAILED,
)

INSUFFICIENT_INVENTORY = "insufficient_inventory"
PAYMENT_FAILED_REASON = "payment_failed"
DELIVERY_FAILED_REASON = "delivery_failed"


class HistoryEntry(NamedTuple):  # a tuple: two are made on every step of every saga
    event: str
    at: str


@dataclass(frozen=True)
class OrderRequest:
    user_id: str
    product_id: str
    quantity: int
    amount: float
    force_payment: str | None = None  # "fail" | "succeed" | None (dice)
    force_delivery: str | None = None

    def fingerprint(self) -> str:
        """What makes two requests 'the same' for an Idempotency-Key."""
        canonical = json.dumps(self.__dict__, sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(canonical.encode()).hexdigest()


class Order(NamedTuple):
    order_id: str
    request: OrderRequest
    status: str
    failure_reason: str | None
    history: tuple[HistoryEntry, ...]
    created_at: str
    updated_at: str
    idempotency_key: str | None = None
    # When the step the order waits for times out (issue #16; None: no deadline armed). Saved in
    # the order's row with the step that arms it: the durable timer (system/deadlines.py).
    deadline: str | None = None

    @property
    def terminal(self) -> bool:
        return self.status in TERMINAL_STATUSES


@dataclass(frozen=True)
class Step:
    """One row of the state machine: in `status`, on `event`, go to `to` and send `command`."""

    to: str
    command: str | None = None
    failure_reason: str | None = None


TRANSITIONS: dict[tuple[str, str], Step] = {
    (PENDING, INVENTORY_RESERVED): Step(INVENTORY_RESERVED_STATUS, PAYMENT_PROCESS),
    (PENDING, INVENTORY_FAILED): Step(FAILED, None, INSUFFICIENT_INVENTORY),
    (INVENTORY_RESERVED_STATUS, PAYMENT_COMPLETED): Step(PAYMENT_COMPLETED_STATUS, DELIVERY_SCHEDULE),
    (INVENTORY_RESERVED_STATUS, PAYMENT_FAILED): Step(
        RELEASING_INVENTORY, INVENTORY_RELEASE, PAYMENT_FAILED_REASON
    ),
    (PAYMENT_COMPLETED_STATUS, DELIVERY_SCHEDULED): Step(COMPLETED),
    (PAYMENT_COMPLETED_STATUS, DELIVERY_FAILED): Step(
        REFUNDING_PAYMENT, PAYMENT_REFUND, DELIVERY_FAILED_REASON
    ),
    (REFUNDING_PAYMENT, PAYMENT_REFUNDED): Step(RELEASING_INVENTORY, INVENTORY_RELEASE),
    (RELEASING_INVENTORY, INVENTORY_RELEASED): Step(FAILED),
}


def place_order(
    order_id: str, request: OrderRequest, now: str, idempotency_key: str | None = None,
    style: str = ORCHESTRATION, deadline: str | None = None,
) -> Outcome:
    """A new saga: the order in `pending`, and its first message: the command `inventory.reserve`
    (orchestration), or `order.placed` with the order's fields (choreography: inventory reacts to it
    with that reserve, which is what the history's first entry names in both styles)."""
    if style == CHOREOGRAPHY:
        first = Message(
            message_id=derived_message_id(order_id, ORDER_PLACED),
            type=ORDER_PLACED,
            order_id=order_id,
            payload=dict(request.__dict__),  # the order itself: the saga's context
            occurred_at=now,
            causation_id=None,
        )
    else:
        first = Message(
            message_id=derived_message_id(order_id, INVENTORY_RESERVE),
            type=INVENTORY_RESERVE,
            order_id=order_id,
            payload=_command_payload(INVENTORY_RESERVE, request),
            occurred_at=now,
            causation_id=None,
        )
    order = Order(
        order_id=order_id,
        request=request,
        status=PENDING,
        failure_reason=None,
        history=(HistoryEntry(INVENTORY_RESERVE, now),),
        created_at=now,
        updated_at=now,
        idempotency_key=idempotency_key,
        deadline=deadline,
    )
    return Outcome(order, (first,), "order placed")


# -- the Idempotency-Key rule of POST /orders ------------------------------------------------
@dataclass(frozen=True)
class Place:
    """No order has this key (or there is no key): place a new one."""


@dataclass(frozen=True)
class Replay:
    """A retry of the request that placed `order`: answer with it, start no second saga."""

    order: Order


@dataclass(frozen=True)
class Conflict:
    """The key was used for `order` with a different body: refuse (409)."""

    order: Order


PLACE = Place()
IdempotencyDecision = Place | Replay | Conflict


def idempotency_decision(existing: tuple[Order, str] | None, request: OrderRequest) -> IdempotencyDecision:
    """`existing`: the order already holding the key, with the fingerprint of its request."""
    if existing is None:
        return PLACE
    order, fingerprint = existing
    return Replay(order) if fingerprint == request.fingerprint() else Conflict(order)


# -- the saga ---------------------------------------------------------------------------------
def orchestrator(transitions: dict[tuple[str, str], Step]) -> Callable[[Order | None, Message, HandlerContext], Outcome]:
    """The order service's handler for a transition table (the correct one is TRANSITIONS)."""

    def handle(order: Order | None, msg: Message, ctx: HandlerContext) -> Outcome:
        """Advance the saga on a reply; ignore what does not fit."""
        if order is None:
            return Outcome(None, (), f"{msg.type} for unknown order ignored")
        step = transitions.get((order.status, msg.type))
        if step is None:
            return Outcome(order, (), f"{msg.type} ignored in status {order.status}")
        return advance(order, msg, step, ctx)

    return handle


def advance(order: Order, msg: Message, step: Step, ctx: HandlerContext) -> Outcome:
    """Take `step` on `msg`: the new status, its history, and the command it sends (if any)."""
    messages: tuple[Message, ...] = ()
    if step.command is not None:
        messages = (command(msg, step.command, order, ctx),)
    return Outcome(moved(order, msg.type, step, ctx.now), messages, f"{order.status} -> {step.to}")


def moved(order: Order, event: str, step: Step, now: str) -> Order:
    """The order after `step` on `event`: the event, and the command it leads to, in its history
    (in a choreography that command is the reaction a participant performs to the event)."""
    history = order.history + (HistoryEntry(event, now),)
    if step.command is not None:
        history += (HistoryEntry(step.command, now),)
    return Order(  # built directly, not with _replace: this is the simulator's hot path
        order.order_id,
        order.request,
        step.to,
        step.failure_reason or order.failure_reason,
        history,
        order.created_at,
        now,
        order.idempotency_key,
    )


def command(cause: Message, routing_key: str, order: Order, ctx: HandlerContext) -> Message:
    """The command `cause` leads to, carrying what the order asked for."""
    return caused_by(cause, routing_key, _command_payload(routing_key, order.request), ctx.now)


def _command_payload(command: str, request: OrderRequest) -> dict[str, Any]:
    return command_payload(command, request.__dict__)


# -- the choreography: the order service listens ---------------------------------------------
def choreographer(transitions: dict[tuple[str, str], Step]) -> Callable[[Order | None, Message, HandlerContext], Outcome]:
    """The order service's handler in a choreography: the same state machine, heard, never sent.

    Events come from different services, so one can overtake another on the way to the order
    service (a retried delivery, a slow link): an event that does not fit the status yet, but that
    the legal path from it leads to, brings the order along that path, the steps it implies
    included (each event names the one it reacted to, `payload["after"]`, which makes the path
    unique). One that fits nothing (late, repeated) is ignored, as in the orchestration.
    """

    def handle(order: Order | None, msg: Message, ctx: HandlerContext) -> Outcome:
        if order is None:
            return Outcome(None, (), f"{msg.type} for unknown order ignored")
        after = msg.payload.get("after")
        path = path_to(transitions, order.status, msg.type, after if isinstance(after, str) else None)
        if path is None:
            return Outcome(order, (), f"{msg.type} ignored in status {order.status}")
        was = order.status
        for event in path:
            order = moved(order, event, transitions[(order.status, event)], ctx.now)
        implied = f" (implied {', '.join(path[:-1])})" if len(path) > 1 else ""
        return Outcome(order, (), f"{was} -> {order.status}{implied}")

    return handle


def path_to(transitions: dict[tuple[str, str], Step], status: str, event: str,
            after: str | None) -> tuple[str, ...] | None:
    """The one sequence of events from `status` that ends with `event` (preceded by `after`, when
    known), or None if there is none or more than one."""
    found: list[tuple[str, ...]] = []

    def walk(at: str, path: tuple[str, ...]) -> None:
        for (source, heard), step in transitions.items():
            if source != at or heard in path:
                continue
            if heard == event:
                if len(path) == 0 or after is None or path[-1] == after:
                    found.append(path + (heard,))
            elif step.to != at:
                walk(step.to, path + (heard,))

    if (status, event) in transitions:
        return (event,)
    walk(status, ())
    return found[0] if len(found) == 1 else None


handle = orchestrator(TRANSITIONS)
choreography_handle = choreographer(TRANSITIONS)
