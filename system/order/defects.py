"""Opt-in defects of the order service, as wrappers around its correct parts (see system/defects.py)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace

from system.contracts import (
    DELIVERY_FAILED,
    DELIVERY_SCHEDULE,
    INVENTORY_RELEASE,
    PAYMENT_COMPLETED,
    PAYMENT_FAILED,
    PAYMENT_REFUND,
    HandlerContext,
    Message,
    Outcome,
)
from system.deadlines import StepTimeouts, Timer, add_seconds
from system.messaging.handling import Handler
from system.order.domain import (
    COMPLETED,
    DELIVERY_FAILED_REASON,
    FAILED,
    INVENTORY_RESERVED_STATUS,
    PAYMENT_COMPLETED_STATUS,
    REFUNDING_PAYMENT,
    RELEASING_INVENTORY,
    Order,
    OrderRequest,
    Step,
    command,
)
from system.order.placement import OrderBook, PlaceOrder, PlaceResult

Transitions = dict[tuple[str, str], Step]


def without_delivery_compensation(transitions: Transitions) -> Transitions:
    """A delivery failure fails the order at once: no refund, no release."""
    return {**transitions, (PAYMENT_COMPLETED_STATUS, DELIVERY_FAILED): Step(FAILED, None, DELIVERY_FAILED_REASON)}


def completing_before_delivery(transitions: Transitions) -> Transitions:
    """A completed payment completes the order, before the delivery is even scheduled."""
    return {**transitions, (INVENTORY_RESERVED_STATUS, PAYMENT_COMPLETED): Step(COMPLETED, DELIVERY_SCHEDULE)}


# While compensating, the failure reply that started it, and the compensation it started.
_COMPENSATING_ON = {
    (RELEASING_INVENTORY, PAYMENT_FAILED): INVENTORY_RELEASE,
    (REFUNDING_PAYMENT, DELIVERY_FAILED): PAYMENT_REFUND,
}


def compensation_repeated_on_copy(handle: Handler) -> Handler:
    """A copy (new message_id) of the failure reply, arriving while compensating, sends the
    compensation command again instead of being ignored."""

    def wrapped(order: Order | None, msg: Message, ctx: HandlerContext) -> Outcome:
        again = _COMPENSATING_ON.get((order.status, msg.type)) if order is not None else None
        if order is None or again is None:
            return handle(order, msg, ctx)
        return Outcome(order, (command(msg, again, order, ctx),), f"{again} sent again")

    return wrapped


def storing_other_field(place: PlaceOrder) -> PlaceOrder:
    """The API stores one unit more than the client asked for (and answers as if it had not)."""

    def wrapped(book: OrderBook, order_id: str, request: OrderRequest, key: str | None, now: str) -> PlaceResult:
        return place(book, order_id, replace(request, quantity=request.quantity + 1), key, now)

    return wrapped


# -- deadlines (issue #16) ----------------------------------------------------------------------
def without_payment_refund(compensations: dict[str, tuple[str, ...]]) -> dict[str, tuple[str, ...]]:
    """late_payment_not_refunded: a payment timeout undoes the reservation only, as if a payment
    that never answered could not have charged."""
    return {step: tuple(c for c in commands if c != PAYMENT_REFUND) if step == "payment" else commands
            for step, commands in compensations.items()}


class ForgetfulTimers:
    """deadline_lost_on_restart: timers kept in the process's memory. Modelled over the durable
    ones: a timer armed before this process started (its deadline minus its step's timeout) is
    forgotten; `restarted` is called when the process starts again."""

    def __init__(self, armed: Callable[[int], list[Timer]], timeouts: Callable[[], StepTimeouts],
                 now: Callable[[], str]) -> None:
        self.armed, self.timeouts, self.now = armed, timeouts, now
        self.started = now()

    def restarted(self) -> None:
        self.started = self.now()

    def __call__(self, limit: int) -> list[Timer]:
        timeouts = self.timeouts()
        kept = []
        for timer in self.armed(limit):
            seconds = timeouts.for_step(timer.step)
            if seconds is None or add_seconds(timer.at, -seconds) >= self.started:
                kept.append(timer)
        return kept
