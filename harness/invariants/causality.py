"""Causality on the bus: every message but a saga's first was caused by a recorded message of
its own order, one step before it in some legal trace.

Message ids derive from their cause (system.contracts.caused_by), so a message naming no cause,
an unrecorded cause, another order's message or a step that does not lead to it was invented,
misrouted or re-generated. A message for an order the order service does not know is judged in
every run, scoped or not: the order service knows every order on a shared system. Causes are
judged only for the run's own orders, whose sagas began while the recorder ran.
"""

from __future__ import annotations

from harness.invariants.common import (
    DEFAULT_OPTIONS,
    CheckOptions,
    Findings,
    bus_index,
    order_scope,
    orders_by_id,
    style_of,
)
from harness.invariants.timeouts import TIMEOUT_LEADS_TO, timer_cause
from harness.model import History, SystemState, Verdict
from system.styles import BY_NAME, Style


def leads_to(style: Style) -> frozenset[tuple[str, str]]:
    """(cause, effect): a step and the step after it in some legal bus trace of `style`."""
    return frozenset(
        pair for trace in style.bus_traces.values() for pair in zip(trace, trace[1:], strict=False)
    )


LEADS_TO_BY_STYLE = {name: leads_to(style) | TIMEOUT_LEADS_TO[name] for name, style in BY_NAME.items()}


def bus_causality(history: History, state: SystemState, options: CheckOptions = DEFAULT_OPTIONS) -> Verdict:
    found = Findings("bus_causality")
    style = style_of(history)
    LEADS_TO, FIRST_STEP = LEADS_TO_BY_STYLE[style.name], style.first_step  # noqa: N806
    scope = order_scope(history, state, options)
    orders = orders_by_id(state)
    index = bus_index(history)
    by_id = index.first
    skip = options.expected_dead_letters
    unknown: dict[str, set[str]] = {}
    checked = 0
    for order_id, messages in index.by_order.items():
        if not order_id:
            continue  # poison naming no order: dead_letters_accounted answers for it
        if order_id not in orders:
            if keys := {m.routing_key for m in messages if m.message_id not in skip}:
                unknown[order_id] = keys
            continue
        if scope is not None and order_id not in scope:
            continue
        for m in messages:
            if m.message_id in skip:
                continue
            checked += 1
            cause_id = m.causation_id
            if cause_id is None:
                if m.routing_key != FIRST_STEP:
                    found.violation(order_id=order_id, message_id=m.message_id, routing_key=m.routing_key,
                                    problem="names no cause, but only a saga's first command may")
                continue
            cause = by_id.get(cause_id)
            timer = timer_cause(order_id, orders[order_id].get("failure_reason"))
            if cause is None and timer is not None and timer[0] == cause_id:  # the deadline's timer
                if (timer[1], m.routing_key) not in LEADS_TO:
                    found.violation(order_id=order_id, message_id=m.message_id, routing_key=m.routing_key,
                                    cause_routing_key=timer[1], problem="caused by a step that does not lead to it")
                continue
            if cause is None or cause_id in skip:
                found.violation(order_id=order_id, message_id=m.message_id, routing_key=m.routing_key,
                                causation_id=cause_id, problem="its cause was never recorded on the bus")
            elif cause.order_id != order_id:
                found.violation(order_id=order_id, message_id=m.message_id, routing_key=m.routing_key,
                                causation_id=cause_id, cause_order_id=cause.order_id,
                                problem="its cause belongs to another order")
            elif (cause.routing_key, m.routing_key) not in LEADS_TO:
                found.violation(order_id=order_id, message_id=m.message_id, routing_key=m.routing_key,
                                cause_routing_key=cause.routing_key, problem="caused by a step that does not lead to it")
    for order_id in sorted(unknown):
        found.violation(order_id=order_id, problem="bus carried messages for an order the order service does not know",
                        routing_keys=sorted(unknown[order_id]))
    if not history.messages:
        found.note("no bus messages recorded")
    return found.verdict(checked=checked + len(unknown))
