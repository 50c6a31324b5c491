"""The payment service's table in memory (system/payment/store.py's rows and upserts)."""

from __future__ import annotations

from typing import Any

from system.contracts import Message
from system.payment.domain import Payment


class PaymentTables:
    def __init__(self) -> None:
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
            self.payments[payment.payment_id] = existing._replace(
                status=payment.status, refunded_amount=payment.refunded_amount
            )

    def insert(self, state: Any) -> None:
        raise TypeError("payment takes no inserts")

    def rows(self) -> list[dict[str, Any]]:
        """GET /payments."""
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
