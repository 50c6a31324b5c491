"""Order-level liveness and idempotency: every accepted order ends, one key makes one saga."""

from __future__ import annotations

from collections import defaultdict
from datetime import datetime
from typing import Any

from harness.invariants.common import (
    DEFAULT_OPTIONS,
    TERMINAL,
    CheckOptions,
    Findings,
    accepted_orders,
    in_scope,
    order_scope,
    orders_by_id,
    placements,
)
from harness.invariants.deadline import Deadline, heal_time
from harness.model import History, SystemState, Verdict

__all__ = ["heal_time", "idempotency_key_one_saga", "orders_terminal"]


def _started_at(order: dict[str, Any]) -> float | None:
    """When the order service says the order began (its first history entry)."""
    entries = order.get("history") or []
    try:
        return datetime.fromisoformat(str(entries[0]["at"])).timestamp()
    except (IndexError, KeyError, TypeError, ValueError):
        return None


def orders_terminal(history: History, state: SystemState, options: CheckOptions = DEFAULT_OPTIONS) -> Verdict:
    """Accepted orders: every order in state (it exists, so it was accepted) and every `ok` op's.

    A non-terminal order is invalid once the state was read more than terminal_deadline_s after
    both the heal and the order's acceptance (with no faults: after acceptance alone); before that
    it is unknown, as it is while a fault is still active or when no time is known.
    """
    found = Findings("orders_terminal")
    scope = order_scope(history, state, options)
    orders = orders_by_id(state)
    accepted = accepted_orders(history, state)
    for order_id, at in accepted.ok.items():
        if order_id not in orders and in_scope(order_id, scope):
            found.violation(order_id=order_id, problem="lost order: place_order was ok but the order does not exist",
                            acknowledged_at=at)
    deadline = Deadline.of(history, state, options)
    if not deadline.is_healed:
        found.note("faults still active at the final read")
    checked = 0
    for order_id, order in orders.items():
        if scope is not None and order_id not in scope:
            continue
        checked += 1
        status = order.get("status")
        if status in TERMINAL:
            continue
        accepted_at = accepted.ok.get(order_id, accepted.info.get(order_id))
        if accepted_at is None:
            accepted_at = _started_at(order)
        deadline.judge(found, "not terminal", accepted_at, order_id=order_id, status=status)
    return found.verdict(checked=checked + len(accepted.ok.keys() - orders.keys()))


def idempotency_key_one_saga(
    history: History, state: SystemState, options: CheckOptions = DEFAULT_OPTIONS
) -> Verdict:
    found = Findings("idempotency_key_one_saga")
    scope = order_scope(history, state, options)
    orders = orders_by_id(state)
    answered: dict[str, set[str]] = defaultdict(set)
    for p in placements(history):
        if p.type == "ok" and p.key and p.order_id:
            answered[p.key].add(p.order_id)
    in_state: dict[str, list[str]] = defaultdict(list)
    for order_id, order in orders.items():
        if key := order.get("idempotency_key"):
            in_state[key].append(order_id)
    # On a shared system, look only at keys this run used or its orders carry.
    keys = set(answered)
    keys |= {k for k, ids in in_state.items() if any(in_scope(i, scope) for i in ids)}
    for key in sorted(keys):
        if len(answered[key]) > 1:
            found.violation(idempotency_key=key, problem="one key answered with different order_ids",
                            order_ids=sorted(answered[key]))
        if len(in_state.get(key, [])) > 1:
            found.violation(idempotency_key=key, problem="more than one order carries the key",
                            order_ids=sorted(in_state[key]))
        for order_id in sorted(answered[key]):
            stored = orders.get(order_id, {}).get("idempotency_key")
            if order_id in orders and stored != key:
                found.violation(idempotency_key=key, order_id=order_id,
                                problem="order answered for the key does not carry it", stored_key=stored)
    if not keys:
        found.note("no Idempotency-Key was used")
    return found.verdict(checked=len(keys))
