"""The client's record as ground truth: what was acknowledged exists, exactly as it was asked.

The operation log is what the outside world knows (Jepsen's view), so the system's own rows are
judged against it, never the other way round. An `ok` POST names its order, which must exist
with exactly the requested user, product, quantity and amount. An unanswered one (`info`, or an
invocation that never completed) may or may not have created its order, but one it created must
match too. With a complete history (the client placed every order on the system), an order that
no operation accounts for is a saga nobody started.
"""

from __future__ import annotations

from typing import Any

from harness.invariants.common import (
    DEFAULT_OPTIONS,
    CheckOptions,
    Findings,
    Placement,
    orders_by_id,
    placements,
    same_money,
)
from harness.model import History, SystemState, Verdict


def differences(request: dict[str, Any], order: dict[str, Any]) -> dict[str, Any]:
    """{field: {"requested": ..., "stored": ...}} for every requested field the order does not carry."""
    diffs: dict[str, Any] = {}
    for name in ("user_id", "product_id", "quantity"):
        if name in request and order.get(name) != request[name]:
            diffs[name] = {"requested": request[name], "stored": order.get(name)}
    if "amount" in request:
        stored, requested = order.get("amount"), request["amount"]
        if stored != requested and (stored is None or not same_money(float(stored), float(requested))):
            diffs["amount"] = {"requested": request["amount"], "stored": stored}
    return diffs


def client_ground_truth(history: History, state: SystemState, options: CheckOptions = DEFAULT_OPTIONS) -> Verdict:
    found = Findings("client_ground_truth")
    orders = orders_by_id(state)
    by_key = {str(o["idempotency_key"]): oid for oid, o in orders.items() if o.get("idempotency_key")}
    placed = placements(history)
    accounted: set[str] = set()
    # Unanswered requests that name neither an order nor a key: any order matching one may be its.
    anonymous: list[Placement] = []
    for p in placed:
        if p.type == "fail":
            continue  # a known refusal created nothing (a 409 names the key's earlier order, not a new one)
        order_id = p.order_id or (by_key.get(p.key) if p.key else None)
        if order_id is None or order_id not in orders:
            if p.type == "ok":
                found.violation(order_id=order_id, problem="acknowledged order does not exist",
                                request=_request(p.request))
            elif order_id is None and p.key is None:
                anonymous.append(p)
            continue
        accounted.add(order_id)
        diffs = differences(p.request, orders[order_id])
        if diffs:
            what = "acknowledged" if p.type == "ok" else "unanswered"
            found.violation(order_id=order_id, problem=f"order differs from what the {what} request asked",
                            differences=diffs)
    checked = sum(1 for p in placed if p.type != "fail")
    if options.complete_history:
        for order_id, order in orders.items():
            if order_id in accounted:
                continue
            checked += 1
            match = next((p for p in anonymous if not differences(p.request, order)), None)
            if match is not None:
                anonymous.remove(match)
                continue
            found.violation(order_id=order_id, problem="an order nobody placed",
                            request=_request(order), idempotency_key=order.get("idempotency_key"))
    if not placed:
        found.note("no place_order operations recorded")
    return found.verdict(checked=checked)


def _request(fields: dict[str, Any]) -> dict[str, Any]:
    return {k: fields.get(k) for k in ("user_id", "product_id", "quantity", "amount")}
