"""The inventory service's tables in memory (system/inventory/store.py's rows and upserts)."""

from __future__ import annotations

from typing import Any

from system.catalog import INITIAL_STOCK
from system.contracts import Message
from system.inventory.domain import InventoryState, Reservation, Stock


class InventoryTables:
    def __init__(self) -> None:
        self.stock = {p: Stock(p, n, 0) for p, n in INITIAL_STOCK.items()}  # seed_stock
        self.initial = dict(INITIAL_STOCK)
        self.reservations: dict[str, Reservation] = {}  # by order_id, insertion (rowid) order

    def load(self, msg: Message) -> InventoryState:
        reservation = self.reservations.get(msg.order_id)
        product_id = reservation.product_id if reservation else msg.payload.get("product_id")
        return InventoryState(self.stock.get(product_id) if isinstance(product_id, str) else None, reservation)

    def save(self, state: InventoryState) -> None:
        if state.stock is not None and state.stock.product_id in self.stock:
            self.stock[state.stock.product_id] = state.stock
        r = state.reservation
        if r is not None:
            existing = self.reservations.get(r.order_id)
            if existing is None:
                self.reservations[r.order_id] = r
            else:  # ON CONFLICT(order_id) DO UPDATE SET status: the rest stays as first written
                self.reservations[r.order_id] = existing._replace(status=r.status)

    def insert(self, state: Any) -> None:
        raise TypeError("inventory takes no inserts")

    def rows(self) -> list[dict[str, Any]]:
        """GET /inventory."""
        return [
            {"product_id": p, "available": s.available, "reserved": s.reserved, "initial": self.initial[p]}
            for p, s in sorted(self.stock.items())
        ]

    def reservation_rows(self) -> list[dict[str, Any]]:
        """GET /inventory/reservations."""
        return [
            {"order_id": r.order_id, "product_id": r.product_id, "quantity": r.quantity, "status": r.status,
             "available_seen": r.available_seen}
            for r in self.reservations.values()
        ]
