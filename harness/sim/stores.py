"""In-memory stand-ins for the services' SQLite stores: same rows, same load/save semantics.

Each mirrors its system/<service>/store.py (an upsert that only updates the status stays one),
so the real domain functions see exactly the state they would see in the real service.
Writes happen only in `commit`: a transaction either applies whole or not at all.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, replace
from typing import Any

from system.catalog import INITIAL_STOCK
from system.contracts import Message
from system.delivery.domain import Delivery
from system.inventory.domain import InventoryState, Reservation, Stock
from system.order.domain import Order
from system.payment.domain import Payment


@dataclass(slots=True)
class OutboxRow:
    seq: int
    message: Message
    sent: bool = False


class ServiceStore:
    """The tables every service has: inbox (handled message ids) and outbox (rows to publish)."""

    def __init__(self) -> None:
        self.inbox: set[str] = set()
        self.outbox: list[OutboxRow] = []
        self._outbox_ids: set[str] = set()
        self._first_unsent = 0  # rows are marked sent oldest first, so unsent rows are a suffix

    def load(self, msg: Message) -> Any:
        raise NotImplementedError

    def save(self, state: Any) -> None:
        raise NotImplementedError

    def commit(self, msg: Message, state: Any, messages: Iterable[Message]) -> None:
        """One transaction: inbox row, state, outbox rows."""
        self.save(state)  # first: a refused write (a UNIQUE clash) raises before anything changed
        self.inbox.add(msg.message_id)
        self.enqueue(messages)

    def enqueue(self, messages: Iterable[Message]) -> None:
        for m in messages:
            # INSERT OR IGNORE: an id already in the outbox is the same message (ids derive from causes).
            if m.message_id not in self._outbox_ids:
                self._outbox_ids.add(m.message_id)
                self.outbox.append(OutboxRow(len(self.outbox) + 1, m))

    def unsent(self) -> list[OutboxRow]:
        return self.outbox[self._first_unsent:]

    def has_unsent(self) -> bool:
        return self._first_unsent < len(self.outbox)

    def mark_sent(self, rows: list[OutboxRow]) -> None:
        for row in rows:
            row.sent = True
        while self._first_unsent < len(self.outbox) and self.outbox[self._first_unsent].sent:
            self._first_unsent += 1


class OrderStore(ServiceStore):
    def __init__(self) -> None:
        super().__init__()
        self.orders: dict[str, Order] = {}
        self.by_key: dict[str, tuple[str, str]] = {}  # Idempotency-Key -> (order_id, request hash)

    def insert(self, order: Order, messages: Iterable[Message]) -> None:
        """POST /orders: the new order and its first command, one transaction."""
        self.orders[order.order_id] = order
        if order.idempotency_key:
            self.by_key[order.idempotency_key] = (order.order_id, order.request.fingerprint())
        self.enqueue(messages)

    def load(self, msg: Message) -> Order | None:
        return self.orders.get(msg.order_id)

    def save(self, order: Order | None) -> None:
        if order is not None and order.order_id in self.orders:  # UPDATE ... WHERE order_id
            self.orders[order.order_id] = order

    def rows(self) -> list[dict]:
        from system.order.api import order_view  # the real view (imports FastAPI: only when read)

        ordered = sorted(self.orders.values(), key=lambda o: o.created_at)  # stable: ties keep insertion
        return [order_view(o) for o in ordered]


class InventoryStore(ServiceStore):
    def __init__(self) -> None:
        super().__init__()
        self.stock = {p: Stock(p, n, 0) for p, n in INITIAL_STOCK.items()}
        self.initial = dict(INITIAL_STOCK)
        self.reservations: dict[str, Reservation] = {}

    def load(self, msg: Message) -> InventoryState:
        reservation = self.reservations.get(msg.order_id)
        product_id = reservation.product_id if reservation else msg.payload.get("product_id")
        return InventoryState(self.stock.get(product_id), reservation)  # type: ignore[arg-type]

    def save(self, state: InventoryState) -> None:
        if state.stock is not None and state.stock.product_id in self.stock:
            self.stock[state.stock.product_id] = state.stock
        r = state.reservation
        if r is not None:
            existing = self.reservations.get(r.order_id)
            # ON CONFLICT(order_id) DO UPDATE SET status: product and quantity stay as first written.
            self.reservations[r.order_id] = replace(existing, status=r.status) if existing else r

    def rows(self) -> list[dict]:
        return [
            {"product_id": p, "available": s.available, "reserved": s.reserved, "initial": self.initial[p]}
            for p, s in sorted(self.stock.items())
        ]

    def reservation_rows(self) -> list[dict]:
        return [
            {"order_id": r.order_id, "product_id": r.product_id, "quantity": r.quantity, "status": r.status}
            for r in self.reservations.values()
        ]


class PaymentStore(ServiceStore):
    def __init__(self) -> None:
        super().__init__()
        self.payments: dict[str, Payment] = {}  # by payment_id, in insertion (rowid) order
        self._latest: dict[str, str] = {}  # order_id -> payment_id of its latest row

    def load(self, msg: Message) -> Payment | None:
        payment_id = self._latest.get(msg.order_id)
        return self.payments[payment_id] if payment_id else None

    def save(self, payment: Payment | None) -> None:
        if payment is None:
            return
        existing = self.payments.get(payment.payment_id)
        if existing is None:
            self.payments[payment.payment_id] = payment
            self._latest[payment.order_id] = payment.payment_id
        else:  # ON CONFLICT(payment_id) DO UPDATE SET status, refunded_amount
            self.payments[payment.payment_id] = replace(
                existing, status=payment.status, refunded_amount=payment.refunded_amount
            )

    def rows(self) -> list[dict]:
        return [
            {
                "payment_id": p.payment_id,
                "order_id": p.order_id,
                "user_id": p.user_id,
                "amount": p.amount,
                "status": p.status,
                "refunded_amount": p.refunded_amount,
            }
            for p in self.payments.values()
        ]


class DeliveryStore(ServiceStore):
    def __init__(self) -> None:
        super().__init__()
        self.deliveries: dict[str, Delivery] = {}  # by order_id (UNIQUE), insertion order

    def load(self, msg: Message) -> Delivery | None:
        return self.deliveries.get(msg.order_id)

    def save(self, delivery: Delivery | None) -> None:
        if delivery is None:
            return
        existing = self.deliveries.get(delivery.order_id)
        if existing is not None and existing.delivery_id != delivery.delivery_id:
            # SQLite would refuse it (order_id is UNIQUE); the handler fails as it would there.
            raise ValueError("UNIQUE constraint failed: deliveries.order_id")
        self.deliveries[delivery.order_id] = replace(existing, status=delivery.status) if existing else delivery

    def rows(self) -> list[dict]:
        return [
            {"delivery_id": d.delivery_id, "order_id": d.order_id, "status": d.status}
            for d in self.deliveries.values()
        ]


STORES: dict[str, type[ServiceStore]] = {
    "order": OrderStore,
    "inventory": InventoryStore,
    "payment": PaymentStore,
    "delivery": DeliveryStore,
}
