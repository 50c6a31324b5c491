"""What a timed-out saga (issue #16) may look like on the bus, and the deadline invariants.

A saga whose step did not answer in time ends `failed` with `timeout:<step>`; its history is one
of TIMEOUT_TRACES (system/contracts.py); its compensations are caused by the timer's message
(never on the bus: its id derives from (order, step), system/deadlines.py), and after them the bus
may still carry late answers of the timed-out step and of what they set off, all undone.

- `no_effect_after_timeout`: once quiescent, a timed-out saga leaves no net charge, no held
  stock and no live (scheduled) delivery.
- `retries_bounded`: transient gateway errors retried at most SAGA_MAX_RETRIES times, spacing
  non-decreasing and capped, never into a dead letter.
- `bounded_termination`: every order placed while deadlines were on ended within the sum of the
  steps' deadlines plus a margin (judged on the order's own timestamps, so a participant that
  stayed away longer than that shows), whatever the faults.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from harness.invariants.common import (
    DEFAULT_OPTIONS,
    CheckOptions,
    Findings,
    bus_index,
    group_by_order,
    net_charge,
    order_scope,
    orders_by_id,
    same_money,
)
from harness.model import History, SystemState, Verdict
from system.contracts import (
    COMMANDS,
    DELIVERY_CANCEL,
    DELIVERY_CANCELLED,
    INVENTORY_RELEASED,
    INVENTORY_RESERVE,
    ORDER_PLACED,
    ORDER_TIMED_OUT,
    PAYMENT_REFUNDED,
    TIMEOUT_TRACES,
)
from system.deadlines import (
    SAGA_DEADLINE,
    STEPS,
    TIMEOUT_PREFIX,
    is_timeout,
    seconds_between,
    timer_message_id,
)
from system.decisions import RETRY_CAP_S
from system.order.deadlines import COMPENSATIONS
from system.styles import CHOREOGRAPHY, ORCHESTRATION

PAYMENT_REPLIES = ("payment.completed", "payment.failed")

# (cause, effect) pairs a timed-out saga adds to the legal ones; "timeout:<step>" is the timer.
TIMEOUT_LEADS_TO: dict[str, frozenset[tuple[str, str]]] = {
    ORCHESTRATION: frozenset(
        {(TIMEOUT_PREFIX + step, c) for step, commands in COMPENSATIONS.items() for c in commands}
        | {(DELIVERY_CANCEL, DELIVERY_CANCELLED), (INVENTORY_RESERVE, INVENTORY_RELEASED)}
    ),
    CHOREOGRAPHY: frozenset(
        {(TIMEOUT_PREFIX + step, ORDER_TIMED_OUT) for step in STEPS}
        | {(ORDER_TIMED_OUT, r) for r in (INVENTORY_RELEASED, PAYMENT_REFUNDED, DELIVERY_CANCELLED)}
        | {(ORDER_PLACED, INVENTORY_RELEASED)}
    ),
}


def timer_cause(order_id: str, reason: object) -> tuple[str, str] | None:
    """(the timer message's id, "timeout:<step>") of an order that timed out, else None."""
    if not is_timeout(reason):
        return None
    step = str(reason)[len(TIMEOUT_PREFIX):]
    return timer_message_id(order_id, SAGA_DEADLINE, step), str(reason)


def timeout_history(reason: object) -> tuple[str, ...] | None:
    return TIMEOUT_TRACES.get(str(reason)) if is_timeout(reason) else None


def timeout_bus_keys(reason: object, style_name: str) -> frozenset[str]:
    """What the bus may carry for a saga that timed out with `reason`: its history's messages,
    the compensations' answers, and late answers of any step (each undone)."""
    trace = TIMEOUT_TRACES.get(str(reason), ())
    keys = {k for k in trace if not k.startswith(TIMEOUT_PREFIX)}
    if style_name == CHOREOGRAPHY:
        keys = {k for k in keys if k not in COMMANDS} | {"order.placed", ORDER_TIMED_OUT}
    keys |= {INVENTORY_RELEASED, PAYMENT_REFUNDED, DELIVERY_CANCELLED}
    # Late answers, and in a choreography what they still set off before the tombstones stop it.
    keys |= {"inventory.reserved", "inventory.failed", "payment.completed", "payment.failed",
             "delivery.scheduled", "delivery.failed"}
    if style_name == ORCHESTRATION:
        keys -= {"order.placed", ORDER_TIMED_OUT}
    return frozenset(keys)


def no_effect_after_timeout(history: History, state: SystemState, options: CheckOptions = DEFAULT_OPTIONS) -> Verdict:
    found = Findings("no_effect_after_timeout")
    scope = order_scope(history, state, options)
    payments = group_by_order(state.payments, scope)
    deliveries = group_by_order(state.deliveries, scope)
    reservations = group_by_order(state.reservations, scope)
    checked = 0
    for order_id, order in orders_by_id(state).items():
        if (scope is not None and order_id not in scope) or not is_timeout(order.get("failure_reason")):
            continue
        checked += 1
        reason = order.get("failure_reason")
        nets = [net_charge(p) for p in payments.get(order_id, [])]
        if any(not same_money(n, 0.0) for n in nets):
            found.violation(order_id=order_id, failure_reason=reason, problem="timed-out saga left a net charge",
                            net_charges=nets)
        held = [r for r in reservations.get(order_id, []) if r.get("status") == "reserved"]
        if held:
            found.violation(order_id=order_id, failure_reason=reason, problem="timed-out saga left stock reserved",
                            quantity=sum(int(r.get("quantity") or 0) for r in held))
        live = [d for d in deliveries.get(order_id, []) if d.get("status") == "scheduled"]
        if live:
            found.violation(order_id=order_id, failure_reason=reason, problem="timed-out saga left a live delivery",
                            delivery_ids=[d.get("delivery_id") for d in live])
    if checked and any(state.queues.values()):
        found.note("queues were not empty at the read: a compensation may still be on its way")
    return found.verdict(checked=checked)


TERMINATION_MARGIN_S = 5.0  # scheduling, the timer loop's period, a slow commit
COMPENSATING = ("refunding_payment", "releasing_inventory")  # no deadline by design


def bounded_termination(history: History, state: SystemState, options: CheckOptions = DEFAULT_OPTIONS) -> Verdict:
    """Orders placed with deadlines on end within the deadlines' sum plus a margin."""
    found = Findings("bounded_termination")
    timeouts = getattr(options.decisions, "timeouts", None)
    if timeouts is None or not timeouts.enabled or len([s for s in STEPS if timeouts.for_step(s)]) < len(STEPS):
        found.note("not every step has a deadline in this run (SAGA_STEP_TIMEOUT): nothing bounds an order")
        return found.verdict(checked=0)
    bound_s = round(timeouts.total() + TERMINATION_MARGIN_S, 3)
    scope = order_scope(history, state, options)
    checked = 0
    for order_id, order in orders_by_id(state).items():
        if scope is not None and order_id not in scope:
            continue
        created = order.get("created_at")
        if not isinstance(created, str) or not created:
            continue
        checked += 1
        if order.get("status") in ("completed", "failed"):
            ended = _ended_at(order)
            took = seconds_between(created, ended) if ended else None
            if took is not None and took > bound_s:
                found.violation(order_id=order_id, status=order.get("status"), problem="ended after the bound",
                                took_s=round(took, 3), bound_s=bound_s)
            continue
        if order.get("status") in COMPENSATING:
            found.doubt(order_id=order_id, status=order.get("status"),
                        problem="compensating (no deadline by design): orders_terminal judges it")
        elif state.read_at and _age(created, state.read_at) > bound_s:
            found.violation(order_id=order_id, status=order.get("status"), problem="not terminal within the bound",
                            age_s=round(_age(created, state.read_at), 3), bound_s=bound_s)
        else:
            found.doubt(order_id=order_id, status=order.get("status"), problem="not terminal yet, bound not reached")
    return found.verdict(checked=checked)


DECIDING = ("inventory.failed", "payment.failed", "delivery.failed")  # a failure's verdict, before compensating


def _ended_at(order: dict[str, Any]) -> str | None:
    """When the saga's outcome was decided: for a failure, the entry that decided it (the
    compensations after it have no deadline, by design), else the last history entry (a timeout's
    compensations share its moment), else updated_at."""
    history = [e for e in order.get("history") or [] if isinstance(e, dict) and isinstance(e.get("at"), str)]
    if order.get("status") == "failed":
        for entry in history:
            if entry.get("event") in DECIDING or is_timeout(entry.get("event")):
                return str(entry["at"])
    if history:
        return str(history[-1]["at"])
    updated = order.get("updated_at")
    return updated if isinstance(updated, str) else None


def _age(created: str, read_at: float) -> float:
    start = datetime.fromisoformat(created.replace("Z", "+00:00")).timestamp()
    return read_at - start


def retries_bounded(history: History, state: SystemState, options: CheckOptions = DEFAULT_OPTIONS) -> Verdict:
    """A transient gateway error is retried at most SAGA_MAX_RETRIES times (what each payment
    reply says it took), with spacing that never shrinks and never exceeds the cap; it never ends
    in a dead letter (the consumer's attempts outlasted by retries that had no bound)."""
    found = Findings("retries_bounded")
    scope = order_scope(history, state, options)
    limit = getattr(options.decisions, "max_retries", None)
    if limit is None:
        found.note("the system's SAGA_MAX_RETRIES is unknown: only spacing and dead letters are judged")
    checked = 0
    for m in bus_index(history).first.values():
        if m.routing_key not in PAYMENT_REPLIES or "retries" not in m.payload:
            continue
        if scope is not None and m.order_id not in scope:
            continue
        checked += 1
        retries, delays = m.payload.get("retries"), m.payload.get("retry_delays_s") or []
        if limit is not None and isinstance(retries, int) and retries > limit:
            found.violation(order_id=m.order_id, message_id=m.message_id, problem="more retries than allowed",
                            retries=retries, max_retries=limit)
        numbers = [d for d in delays if isinstance(d, int | float)]
        if any(b < a for a, b in zip(numbers, numbers[1:], strict=False)) or any(d > RETRY_CAP_S for d in numbers):
            found.violation(order_id=m.order_id, message_id=m.message_id,
                            problem="retry spacing shrinks or exceeds the cap", retry_delays_s=numbers, cap_s=RETRY_CAP_S)
    for letter in state.dead_letters:
        if "TransientFailure" in (letter.reason or ""):
            checked += 1
            found.violation(order_id=letter.order_id, message_id=letter.message_id, routing_key=letter.routing_key,
                            problem="a transient error was retried until the consumer dead-lettered it",
                            reason=letter.reason[:200])
    return found.verdict(checked=checked)
