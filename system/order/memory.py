"""The order service's tables in memory (system/order/store.py's rows and upserts)."""

from __future__ import annotations

import heapq
from collections.abc import Sequence
from typing import Any

from system.contracts import Message
from system.deadlines import Timer
from system.messaging.ports import UniqueViolation
from system.order.deadlines import timer_of
from system.order.domain import Order
from system.order.view import order_view
from system.stores.memory import MemoryStore


class OrderTables:
    def __init__(self) -> None:
        self.orders: dict[str, Order] = {}
        self.by_key: dict[str, str] = {}  # Idempotency-Key -> order_id (UNIQUE)
        # The armed deadlines (the `deadline` column's index): (deadline, order_id), stale entries
        # (the order moved on) dropped when they reach the top.
        self.deadlines: list[tuple[str, str]] = []

    def load(self, msg: Message) -> Order | None:
        return self.orders.get(msg.order_id)

    def save(self, order: Order | None) -> None:
        if order is not None and order.order_id in self.orders:  # UPDATE ... WHERE order_id
            self.orders[order.order_id] = order
            if order.deadline is not None:
                heapq.heappush(self.deadlines, (order.deadline, order.order_id))

    def insert(self, order: Order) -> None:
        key = order.idempotency_key
        if order.order_id in self.orders or (key and key in self.by_key):
            raise UniqueViolation(f"order {order.order_id} or Idempotency-Key {key!r} exists")
        self.orders[order.order_id] = order
        if key:
            self.by_key[key] = order.order_id
        if order.deadline is not None:
            heapq.heappush(self.deadlines, (order.deadline, order.order_id))

    def next_deadline(self) -> str | None:
        """The earliest armed deadline (the simulator asks on every step it has timers)."""
        heap, orders = self.deadlines, self.orders
        while heap and orders[heap[0][1]].deadline != heap[0][0]:
            heapq.heappop(heap)
        return heap[0][0] if heap else None

    def armed_timers(self, limit: int) -> list[Timer]:
        """The `limit` earliest armed timers, as the SQL stores' armed_timers lists them."""
        self.next_deadline()
        timers = (timer_of(self.orders[order_id]) for _, order_id in heapq.nsmallest(limit, self.deadlines))
        return [t for t in dict.fromkeys(timers) if t is not None and self.orders[t.order_id].deadline == t.at]

    def by_idempotency_key(self, key: str) -> tuple[Order, str] | None:
        order_id = self.by_key.get(key)
        if order_id is None:
            return None
        order = self.orders[order_id]
        # The request is stored as placed, so its fingerprint is the stored request_hash.
        return order, order.request.fingerprint()

    def rows(self) -> list[dict[str, Any]]:
        """GET /orders: oldest first (a stable sort: ties keep insertion order, as rowid does)."""
        ordered = sorted(self.orders.values(), key=lambda o: o.created_at)
        return [order_view(o) for o in ordered]


class MemoryOrderBook:
    """The placement port (system/order/placement.py) over the in-memory order store."""

    def __init__(self, store: MemoryStore[OrderTables]) -> None:
        self.store = store

    def by_idempotency_key(self, key: str) -> tuple[Order, str] | None:
        return self.store.tables.by_idempotency_key(key)

    def insert_and_enqueue(self, order: Order, messages: Sequence[Message], now: str) -> None:
        self.store.insert_and_enqueue(order, messages, now)
