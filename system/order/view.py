"""What GET /orders answers for one order: plain data, shared by the API and the simulator."""

from __future__ import annotations

from typing import Any

from system.order.domain import Order


def order_view(order: Order) -> dict[str, Any]:
    r = order.request
    return {
        "order_id": order.order_id,
        "user_id": r.user_id,
        "product_id": r.product_id,
        "quantity": r.quantity,
        "amount": r.amount,
        "status": order.status,
        "failure_reason": order.failure_reason,
        "history": [{"event": h.event, "at": h.at} for h in order.history],
        "created_at": order.created_at,
        "updated_at": order.updated_at,
        "idempotency_key": order.idempotency_key,
        # The test hook as requested: the checker judges a step's outcome by it (outcome_justified).
        "force": {"payment": r.force_payment, "delivery": r.force_delivery},
    }
