"""Inventory invariants: stock is conserved and never negative; reservations die with their orders.

Product-level checks are global (stock is shared by every run on the system); the reservation
check is order-level and follows the caller's scope.
"""

from __future__ import annotations

from collections import defaultdict

from harness.invariants.common import (
    DEFAULT_OPTIONS,
    CheckOptions,
    Findings,
    group_by_order,
    order_scope,
    orders_by_id,
)
from harness.model import History, SystemState, Verdict


def stock_conserved(history: History, state: SystemState, options: CheckOptions = DEFAULT_OPTIONS) -> Verdict:
    found = Findings("stock_conserved")
    held: dict[str, int] = defaultdict(int)
    for r in state.reservations:
        if r.get("status") == "reserved":
            held[str(r.get("product_id"))] += int(r.get("quantity") or 0)
    products = set()
    for row in state.inventory:
        product_id = str(row.get("product_id"))
        products.add(product_id)
        available, reserved, initial = row.get("available"), row.get("reserved"), row.get("initial")
        if available is None or reserved is None or initial is None:
            found.doubt(product_id=product_id, problem="inventory row lacks available/reserved/initial")
            continue
        if available + reserved != initial:
            found.violation(
                product_id=product_id,
                problem="available + reserved != initial",
                available=available,
                reserved=reserved,
                initial=initial,
                difference=available + reserved - initial,
            )
        if reserved != held[product_id]:
            found.violation(
                product_id=product_id,
                problem="reserved != sum of held reservations",
                reserved=reserved,
                held_by_reservations=held[product_id],
            )
    for product_id in sorted(held.keys() - products):
        if held[product_id]:
            found.violation(
                product_id=product_id,
                problem="reservations hold stock of a product inventory does not list",
                held_by_reservations=held[product_id],
            )
    if not state.inventory:
        found.doubt(problem="no inventory was read")
    return found.verdict(checked=len(products))


def availability_non_negative(
    history: History, state: SystemState, options: CheckOptions = DEFAULT_OPTIONS
) -> Verdict:
    found = Findings("availability_non_negative")
    for row in state.inventory:
        for column in ("available", "reserved"):
            value = row.get(column)
            if value is not None and value < 0:
                found.violation(product_id=row.get("product_id"), column=column, value=value)
    for r in state.reservations:
        if int(r.get("quantity") or 0) < 0:
            found.violation(order_id=r.get("order_id"), product_id=r.get("product_id"),
                            column="reservation quantity", value=r.get("quantity"))
    if not state.inventory:
        found.doubt(problem="no inventory was read")
    # Only the final reads carry stock figures (replies do not), so "never" means "not at the end".
    found.note("checked on the final state")
    return found.verdict(checked=len(state.inventory))


def no_orphan_reservation(
    history: History, state: SystemState, options: CheckOptions = DEFAULT_OPTIONS
) -> Verdict:
    found = Findings("no_orphan_reservation")
    scope = order_scope(history, state, options)
    orders = orders_by_id(state)
    reservations = group_by_order(state.reservations, scope)
    for order_id, rows in reservations.items():
        held = [r for r in rows if r.get("status") == "reserved"]
        if not held:
            continue
        order = orders.get(order_id)
        status = order.get("status") if order else None
        if order is None:
            found.violation(order_id=order_id, problem="reservation held for an order the order service does not know",
                            product_id=held[0].get("product_id"), quantity=held[0].get("quantity"))
        elif status == "failed":
            found.violation(order_id=order_id, problem="reservation still held by a failed order",
                            failure_reason=order.get("failure_reason"),
                            product_id=held[0].get("product_id"), quantity=held[0].get("quantity"))
        elif len(held) > 1:
            found.violation(order_id=order_id, problem="more than one reservation held",
                            status=status, held=len(held))
    checked = 0
    for order_id, order in orders.items():
        if scope is not None and order_id not in scope:
            continue
        checked += 1
        if order.get("status") != "completed":
            continue
        held = [r for r in reservations.get(order_id, ()) if r.get("status") == "reserved"]
        if len(held) != 1:
            found.violation(order_id=order_id, problem="completed order does not hold exactly one reservation",
                            held=len(held))
            continue
        r = held[0]
        if r.get("product_id") != order.get("product_id") or r.get("quantity") != order.get("quantity"):
            found.violation(order_id=order_id, problem="completed order's reservation differs from the order",
                            reserved_product=r.get("product_id"), reserved_quantity=r.get("quantity"),
                            ordered_product=order.get("product_id"), ordered_quantity=order.get("quantity"))
    return found.verdict(checked=checked)
