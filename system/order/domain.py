"""The order saga's orchestrator as a pure state machine.

The order service sends every command and hears every reply; its history is the seed's trace.
A reply that does not fit the current state (late, duplicated under a new id, out of order) is
ignored rather than allowed to corrupt the saga.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, replace
from typing import Any

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

# Opt-in defects (see system/defects.py).
DEFECT_NO_DELIVERY_COMPENSATION = "no_delivery_compensation"
DEFECT_COMPLETE_BEFORE_DELIVERY = "complete_before_delivery"


@dataclass(frozen=True)
class HistoryEntry:
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


@dataclass(frozen=True)
class Order:
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
class _Step:
    """One row of the state machine: in `status`, on `event`, go to `to` and send `command`."""

    to: str
    command: str | None = None
    failure_reason: str | None = None


TRANSITIONS: dict[tuple[str, str], _Step] = {
    (PENDING, INVENTORY_RESERVED): _Step(INVENTORY_RESERVED_STATUS, PAYMENT_PROCESS),
    (PENDING, INVENTORY_FAILED): _Step(FAILED, None, INSUFFICIENT_INVENTORY),
    (INVENTORY_RESERVED_STATUS, PAYMENT_COMPLETED): _Step(PAYMENT_COMPLETED_STATUS, DELIVERY_SCHEDULE),
    (INVENTORY_RESERVED_STATUS, PAYMENT_FAILED): _Step(
        RELEASING_INVENTORY, INVENTORY_RELEASE, PAYMENT_FAILED_REASON
    ),
    (PAYMENT_COMPLETED_STATUS, DELIVERY_SCHEDULED): _Step(COMPLETED),
    (PAYMENT_COMPLETED_STATUS, DELIVERY_FAILED): _Step(
        REFUNDING_PAYMENT, PAYMENT_REFUND, DELIVERY_FAILED_REASON
    ),
    (REFUNDING_PAYMENT, PAYMENT_REFUNDED): _Step(RELEASING_INVENTORY, INVENTORY_RELEASE),
    (RELEASING_INVENTORY, INVENTORY_RELEASED): _Step(FAILED),
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


def handle(order: Order | None, msg: Message, ctx: HandlerContext) -> Outcome:
    """Advance the saga on a reply; ignore what does not fit."""
    if order is None:
        return Outcome(None, (), f"{msg.type} for unknown order ignored")
    step = TRANSITIONS.get((order.status, msg.type))
    step = _apply_defects(order, msg, step, ctx)
    if step is None:
        return Outcome(order, (), f"{msg.type} ignored in status {order.status}")
    history = order.history + (HistoryEntry(msg.type, ctx.now),)
    messages: tuple[Message, ...] = ()
    if step.command is not None:
        payload = _command_payload(step.command, order.request)
        messages = (caused_by(msg, step.command, payload, ctx.now),)
        history += (HistoryEntry(step.command, ctx.now),)
    new = replace(
        order,
        status=step.to,
        failure_reason=step.failure_reason or order.failure_reason,
        history=history,
        updated_at=ctx.now,
    )
    return Outcome(new, messages, f"{order.status} -> {step.to}")


def _apply_defects(
    order: Order, msg: Message, step: _Step | None, ctx: HandlerContext
) -> _Step | None:
    if not ctx.defects:
        return step
    if DEFECT_NO_DELIVERY_COMPENSATION in ctx.defects and msg.type == DELIVERY_FAILED and step:
        return _Step(FAILED, None, DELIVERY_FAILED_REASON)
    if DEFECT_COMPLETE_BEFORE_DELIVERY in ctx.defects and step and step.to == PAYMENT_COMPLETED_STATUS:
        return _Step(COMPLETED, DELIVERY_SCHEDULE)
    return step


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
