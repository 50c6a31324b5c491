"""The order service's tables in memory (system/order/store.py's rows and upserts)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from system.contracts import Message
from system.messaging.ports import UniqueViolation
from system.order.domain import Order
from system.order.view import order_view
from system.stores.memory import MemoryStore


class OrderTables:
    def __init__(self) -> None:
        self.orders: dict[str, Order] = {}
        self.by_key: dict[str, str] = {}  # Idempotency-Key -> order_id (UNIQUE)

    def load(self, msg: Message) -> Order | None:
        return self.orders.get(msg.order_id)

    def save(self, order: Order | None) -> None:
        if order is not None and order.order_id in self.orders:  # UPDATE ... WHERE order_id
            self.orders[order.order_id] = order

    def insert(self, order: Order) -> None:
        key = order.idempotency_key
        if order.order_id in self.orders or (key and key in self.by_key):
            raise UniqueViolation(f"order {order.order_id} or Idempotency-Key {key!r} exists")
        self.orders[order.order_id] = order
        if key:
            self.by_key[key] = order.order_id

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
