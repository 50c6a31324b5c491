"""The delivery service's table in memory (system/delivery/store.py's rows and upserts)."""

from __future__ import annotations

from typing import Any

from system.contracts import Message
from system.delivery.domain import Delivery
from system.messaging.ports import UniqueViolation


class DeliveryTables:
    def __init__(self) -> None:
        self.deliveries: dict[str, Delivery] = {}  # by order_id (UNIQUE), insertion order

    def load(self, msg: Message) -> Delivery | None:
        return self.deliveries.get(msg.order_id)

    def save(self, delivery: Delivery | None) -> None:
        if delivery is None:
            return
        existing = self.deliveries.get(delivery.order_id)
        if existing is not None and existing.delivery_id != delivery.delivery_id:
            # SQLite refuses it (order_id is UNIQUE); the handler fails as it would there.
            raise UniqueViolation("UNIQUE constraint failed: deliveries.order_id")
        self.deliveries[delivery.order_id] = existing._replace(status=delivery.status) if existing else delivery

    def insert(self, state: Any) -> None:
        raise TypeError("delivery takes no inserts")

    def rows(self) -> list[dict[str, Any]]:
        """GET /deliveries."""
        return [
            {"delivery_id": d.delivery_id, "order_id": d.order_id, "status": d.status}
            for d in self.deliveries.values()
        ]
