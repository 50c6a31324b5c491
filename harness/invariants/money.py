"""Payment and delivery invariants: charge a completed order once, a failed order never.

Net charge of a payment row: amount - refunded_amount for completed/refunded, 0 for failed.
"""

from __future__ import annotations

from typing import Any

from harness.invariants.common import (
    CENT,
    DEFAULT_OPTIONS,
    CheckOptions,
    Findings,
    group_by_order,
    net_charge,
    order_scope,
    orders_by_id,
    same_money,
)
from harness.model import History, SystemState, Verdict


def _charges(payments: list[dict[str, Any]]) -> list[float]:
    return [net_charge(p) for p in payments]


def _scheduled(deliveries: list[dict[str, Any]]) -> int:
    return sum(1 for d in deliveries if d.get("status") == "scheduled")


def completed_order_charged_once(
    history: History, state: SystemState, options: CheckOptions = DEFAULT_OPTIONS
) -> Verdict:
    found = Findings("completed_order_charged_once")
    scope = order_scope(history, state, options)
    payments = group_by_order(state.payments, scope)
    deliveries = group_by_order(state.deliveries, scope)
    checked = 0
    for order_id, order in orders_by_id(state).items():
        if order.get("status") != "completed" or (scope is not None and order_id not in scope):
            continue
        checked += 1
        amount = float(order.get("amount") or 0.0)
        nets = _charges(payments.get(order_id, []))
        charged = [n for n in nets if not same_money(n, 0.0)]
        if len(charged) != 1 or not same_money(charged[0], amount):
            found.violation(order_id=order_id, problem="not exactly one net charge equal to the amount",
                            amount=amount, net_charges=nets)
        scheduled = _scheduled(deliveries.get(order_id, []))
        if scheduled != 1:
            found.violation(order_id=order_id, problem="not exactly one scheduled delivery",
                            scheduled_deliveries=scheduled)
    return found.verdict(checked=checked)


def failed_order_not_charged(
    history: History, state: SystemState, options: CheckOptions = DEFAULT_OPTIONS
) -> Verdict:
    """Failed orders, and payments or deliveries for orders the order service does not know."""
    found = Findings("failed_order_not_charged")
    scope = order_scope(history, state, options)
    orders = orders_by_id(state)
    payments = group_by_order(state.payments, scope)
    deliveries = group_by_order(state.deliveries, scope)
    suspects = {oid for oid, o in orders.items() if o.get("status") == "failed"}
    if scope is not None:
        suspects &= scope
    # A charge or a delivery for an order that does not exist is as wrong as one for a failed order.
    unknown = (payments.keys() | deliveries.keys()) - orders.keys()
    for order_id in sorted(suspects | unknown):
        known = order_id in orders
        what = "failed order" if known else "order the order service does not know"
        nets = _charges(payments.get(order_id, []))
        if any(not same_money(n, 0.0) for n in nets):
            found.violation(order_id=order_id, problem=f"{what} has a net charge",
                            failure_reason=orders[order_id].get("failure_reason") if known else None,
                            net_charges=nets)
        scheduled = _scheduled(deliveries.get(order_id, []))
        if scheduled:
            found.violation(order_id=order_id, problem=f"{what} has a scheduled delivery",
                            scheduled_deliveries=scheduled)
    return found.verdict(checked=len(suspects | unknown))


def nobody_charged_twice(
    history: History, state: SystemState, options: CheckOptions = DEFAULT_OPTIONS
) -> Verdict:
    found = Findings("nobody_charged_twice")
    scope = order_scope(history, state, options)
    orders = orders_by_id(state)
    payments = group_by_order(state.payments, scope)
    for order_id, rows in payments.items():
        completed = [p.get("payment_id") for p in rows if p.get("status") == "completed"]
        if len(completed) > 1:
            found.violation(order_id=order_id, problem="more than one completed payment",
                            payment_ids=completed)
        order = orders.get(order_id)
        # Without the order, the largest payment is the most it could legitimately cost.
        amount = float(order.get("amount") or 0.0) if order else max(float(p.get("amount") or 0.0) for p in rows)
        nets = _charges(rows)
        total = round(sum(nets), 2)
        if total > amount + CENT:
            found.violation(order_id=order_id, problem="net charge above the amount",
                            amount=amount, net_charge=total, net_charges=nets)
        elif total < -CENT or any(n < -CENT for n in nets):
            found.violation(order_id=order_id, problem="negative net charge (refunded more than charged)",
                            amount=amount, net_charge=total, net_charges=nets)
    return found.verdict(checked=len(payments))
