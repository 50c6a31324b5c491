"""Causality on the bus: every message but a saga's first was caused by a recorded message of
its own order, one step before it in some legal trace.

Message ids derive from their cause (system.contracts.caused_by), so a message naming no cause,
an unrecorded cause, another order's message or a step that does not lead to it was invented,
misrouted or re-generated. A message for an order the order service does not know is judged in
every run, scoped or not: the order service knows every order on a shared system. Causes are
judged only for the run's own orders, whose sagas began while the recorder ran.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterator

from harness.invariants.common import (
    DEFAULT_OPTIONS,
    CheckOptions,
    Findings,
    bus_index,
    order_scope,
    orders_by_id,
)
from harness.model import History, RecordedMessage, SystemState, Verdict
from system.contracts import INVENTORY_RESERVE, LEGAL_TRACES

# A step -> the steps that may cause it (the step before it in a legal trace).
CAUSES: dict[str, frozenset[str]] = {}
for _trace in LEGAL_TRACES.values():
    for _before, _after in zip(_trace, _trace[1:], strict=False):
        CAUSES[_after] = CAUSES.get(_after, frozenset()) | {_before}
FIRST_STEP = INVENTORY_RESERVE


def distinct_messages(history: History, skip: frozenset[str]) -> Iterator[RecordedMessage]:
    """Each message's first recording (redeliveries share the id), without poison a test sent."""
    if not skip:
        return iter(bus_index(history).first.values())
    return (m for message_id, m in bus_index(history).first.items() if message_id not in skip)


def bus_causality(history: History, state: SystemState, options: CheckOptions = DEFAULT_OPTIONS) -> Verdict:
    found = Findings("bus_causality")
    scope = order_scope(history, state, options)
    orders = orders_by_id(state)
    by_id = bus_index(history).first
    skip = options.expected_dead_letters
    unknown: dict[str, list[str]] = defaultdict(list)
    checked = 0
    for m in distinct_messages(history, skip):
        if not m.order_id:
            continue  # poison naming no order: dead_letters_accounted answers for it
        if m.order_id not in orders:
            unknown[m.order_id].append(m.routing_key)
            continue
        if scope is not None and m.order_id not in scope:
            continue
        checked += 1
        if m.causation_id is None:
            if m.routing_key != FIRST_STEP:
                found.violation(order_id=m.order_id, message_id=m.message_id, routing_key=m.routing_key,
                                problem="names no cause, but only a saga's first command may")
            continue
        cause = by_id.get(m.causation_id)
        if cause is None or m.causation_id in skip:
            found.violation(order_id=m.order_id, message_id=m.message_id, routing_key=m.routing_key,
                            causation_id=m.causation_id, problem="its cause was never recorded on the bus")
        elif cause.order_id != m.order_id:
            found.violation(order_id=m.order_id, message_id=m.message_id, routing_key=m.routing_key,
                            causation_id=m.causation_id, cause_order_id=cause.order_id,
                            problem="its cause belongs to another order")
        elif cause.routing_key not in CAUSES.get(m.routing_key, ()):
            found.violation(order_id=m.order_id, message_id=m.message_id, routing_key=m.routing_key,
                            cause_routing_key=cause.routing_key, problem="caused by a step that does not lead to it")
    for order_id in sorted(unknown):
        found.violation(order_id=order_id, problem="bus carried messages for an order the order service does not know",
                        routing_keys=sorted(set(unknown[order_id])))
    if not history.messages:
        found.note("no bus messages recorded")
    return found.verdict(checked=checked + len(unknown))
