"""POST /orders as one function over a small port: the API and the simulated client both call it.

The rule (system/order/domain.py idempotency_decision) is pure; this is its shell: look the key
up, place the order and its first command in ONE store operation, and when a concurrent request
with the same key wins the race (a unique-key clash), answer as for a retry.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Protocol

from system.contracts import Message
from system.deadlines import NO_TIMEOUTS, StepTimeouts
from system.messaging.ports import UniqueViolation
from system.order.deadlines import deadline_for
from system.order.domain import (
    PENDING,
    Conflict,
    Order,
    OrderRequest,
    Place,
    Replay,
    idempotency_decision,
    place_order,
)
from system.styles import ORCHESTRATION


class OrderBook(Protocol):
    """What placing an order needs from the order service's store."""

    def by_idempotency_key(self, key: str) -> tuple[Order, str] | None:
        """The order holding `key` and the fingerprint of the request that placed it."""
        ...

    def insert_and_enqueue(self, order: Order, messages: Sequence[Message], now: str) -> None:
        """The order and its first messages, one transaction; UniqueViolation if the key is taken."""
        ...


@dataclass(frozen=True)
class Placed:
    """A new order (201)."""

    order: Order


PlaceResult = Placed | Replay | Conflict
PlaceOrder = Callable[[OrderBook, str, OrderRequest, str | None, str], PlaceResult]


def placing(style: str, timeouts: StepTimeouts = NO_TIMEOUTS) -> PlaceOrder:
    """POST /orders in `style` (what the saga's first message is), arming the first step's
    deadline (issue #16) when `timeouts` has one."""
    if style == ORCHESTRATION and not timeouts.enabled:
        return place

    def place_in_style(book: OrderBook, order_id: str, request: OrderRequest, key: str | None, now: str) -> PlaceResult:
        return place(book, order_id, request, key, now, style, timeouts)

    return place_in_style


def place(book: OrderBook, order_id: str, request: OrderRequest, key: str | None, now: str,
          style: str = ORCHESTRATION, timeouts: StepTimeouts = NO_TIMEOUTS) -> PlaceResult:
    if key:
        decision = idempotency_decision(book.by_idempotency_key(key), request)
        if not isinstance(decision, Place):
            return decision
    outcome = place_order(order_id, request, now, key, style, deadline_for(PENDING, now, timeouts))
    try:
        book.insert_and_enqueue(outcome.state, outcome.messages, now)
    except UniqueViolation:
        # A concurrent request with the same key won the race: answer as for a retry.
        existing = book.by_idempotency_key(key) if key else None
        if existing is None:
            raise
        decision = idempotency_decision(existing, request)
        assert not isinstance(decision, Place)  # existing is not None
        return decision
    return Placed(outcome.state)
