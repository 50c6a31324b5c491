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
    order_id: str, request: OrderRequest, now: str, idempotency_key: str | None = None
) -> Outcome:
    """A new saga: the order in `pending`, and the first command, `inventory.reserve`."""
    reserve = Message(
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
    )
    return Outcome(order, (reserve,), "order placed")


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
    history = order.history + (HistoryEntry(msg.type, ctx.now),)
    messages: tuple[Message, ...] = ()
    if step.command is not None:
        messages = (command(msg, step.command, order, ctx),)
        history += (HistoryEntry(step.command, ctx.now),)
    new = Order(  # built directly, not with _replace: this is the simulator's hot path
        order.order_id,
        order.request,
        step.to,
        step.failure_reason or order.failure_reason,
        history,
        order.created_at,
        ctx.now,
        order.idempotency_key,
    )
    return Outcome(new, messages, f"{order.status} -> {step.to}")


def command(cause: Message, routing_key: str, order: Order, ctx: HandlerContext) -> Message:
    """The command `cause` leads to, carrying what the order asked for."""
    return caused_by(cause, routing_key, _command_payload(routing_key, order.request), ctx.now)


handle = orchestrator(TRANSITIONS)


def _command_payload(command: str, request: OrderRequest) -> dict[str, Any]:
    if command in (INVENTORY_RESERVE, INVENTORY_RELEASE):
        return {"product_id": request.product_id, "quantity": request.quantity}
    if command == PAYMENT_PROCESS:
        return {"user_id": request.user_id, "amount": request.amount, "force": request.force_payment}
    if command == PAYMENT_REFUND:
        return {"amount": request.amount}
    if command == DELIVERY_SCHEDULE:
        return {
            "user_id": request.user_id,
            "product_id": request.product_id,
            "quantity": request.quantity,
            "force": request.force_delivery,
        }
    raise ValueError(f"no payload for {command}")
