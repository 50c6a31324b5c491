"""Cross-service agreement: every service's rows tell the same story as the order's.

Needs no recording, so `saga-harness check` alone catches a payment charged to another user or
for another amount, a reservation of another product or quantity, a refund that returned
something other than the amount, a participant row whose order vanished, and opening stock that
is not the catalog's. Rows follow the scope, as the money checks do: a run that read only its
own orders (the Locust check does) must not call the others' rows orphans.
"""

from __future__ import annotations

from typing import Any

from harness.invariants.common import (
    DEFAULT_OPTIONS,
    CheckOptions,
    Findings,
    order_scope,
    orders_by_id,
    same_money,
)
from harness.model import History, SystemState, Verdict
from system.catalog import INITIAL_STOCK

REFUNDED = "refunded"
RELEASED = "released"


def _payment(found: Findings, row: dict[str, Any], order: dict[str, Any]) -> None:
    order_id = order["order_id"]
    # A refund that came before any charge leaves a cancelled tombstone naming no user (issue #16).
    if "user_id" in row and row["user_id"] != order.get("user_id") and row.get("status") != "cancelled":
        found.violation(order_id=order_id, payment_id=row.get("payment_id"), problem="payment's user differs from its order's",
                        payment_user=row["user_id"], order_user=order.get("user_id"))
    amount = float(row.get("amount") or 0.0)
    if not same_money(amount, float(order.get("amount") or 0.0)):
        found.violation(order_id=order_id, payment_id=row.get("payment_id"), problem="payment's amount differs from its order's",
                        payment_amount=amount, order_amount=order.get("amount"))
    refunded = float(row.get("refunded_amount") or 0.0)
    if row.get("status") == REFUNDED and not same_money(refunded, amount):
        found.violation(order_id=order_id, payment_id=row.get("payment_id"),
                        problem="refunded payment did not return exactly its amount", amount=amount, refunded_amount=refunded)
    elif row.get("status") != REFUNDED and not same_money(refunded, 0.0):
        found.violation(order_id=order_id, payment_id=row.get("payment_id"), status=row.get("status"),
                        problem="payment that is not refunded has a refunded amount", refunded_amount=refunded)


def _reservation(found: Findings, row: dict[str, Any], order: dict[str, Any]) -> None:
    order_id = order["order_id"]
    if row.get("product_id") != order.get("product_id"):
        found.violation(order_id=order_id, problem="reservation's product differs from its order's",
                        reserved_product=row.get("product_id"), ordered_product=order.get("product_id"))
    # A release that found nothing to release leaves a zero-quantity tombstone (inventory's domain).
    tombstone = row.get("status") == RELEASED and row.get("quantity") == 0
    if not tombstone and row.get("quantity") != order.get("quantity"):
        found.violation(order_id=order_id, problem="reservation's quantity differs from its order's",
                        status=row.get("status"), reserved_quantity=row.get("quantity"),
                        ordered_quantity=order.get("quantity"))


def _opening_stock(found: Findings, inventory: list[dict[str, Any]]) -> None:
    listed = set()
    for row in inventory:
        product_id = str(row.get("product_id"))
        listed.add(product_id)
        if product_id not in INITIAL_STOCK:
            found.violation(product_id=product_id, problem="inventory lists a product the catalog does not")
        elif row.get("initial") != INITIAL_STOCK[product_id]:
            found.violation(product_id=product_id, problem="opening stock differs from the catalog's",
                            initial=row.get("initial"), catalog=INITIAL_STOCK[product_id])
    for product_id in sorted(INITIAL_STOCK.keys() - listed):
        found.violation(product_id=product_id, problem="a catalog product is missing from inventory")


def cross_service_agreement(
    history: History, state: SystemState, options: CheckOptions = DEFAULT_OPTIONS
) -> Verdict:
    found = Findings("cross_service_agreement")
    scope = order_scope(history, state, options)
    orders = orders_by_id(state)
    checked = 0
    for kind, rows, judge in (
        ("payment", state.payments, _payment),
        ("reservation", state.reservations, _reservation),
        ("delivery", state.deliveries, None),
    ):
        for row in rows:
            order_id = row.get("order_id")
            if scope is not None and order_id not in scope:
                continue
            checked += 1
            order = orders.get(order_id)  # type: ignore[arg-type]
            if order is None:
                found.violation(order_id=order_id, problem=f"{kind} for an order the order service does not know",
                                status=row.get("status"))
            elif judge is not None:
                judge(found, row, order)
    if state.inventory:
        _opening_stock(found, state.inventory)
        checked += len(state.inventory)
    else:
        found.note("no inventory was read: opening stock not compared")
    return found.verdict(checked=checked)
