"""Every delivered command is answered: a reply caused by it, or a dead letter with a reason.

A command the consumer acked and dropped, or an outbox row marked sent that never reached the
broker's queue, leaves a command with no answer; one still unanswered is judged by the same
deadline as an order that has not ended (harness.invariants.deadline). Copies a nemesis
injected are the fault, not the system's commands: their answers are not owed.
"""

from __future__ import annotations

from harness.invariants.common import (
    DEFAULT_OPTIONS,
    CheckOptions,
    Findings,
    bus_index,
    fault_messages,
    order_scope,
    orders_by_id,
)
from harness.invariants.deadline import Deadline
from harness.model import History, SystemState, Verdict
from system.contracts import INVENTORY_RESERVE, ORDER_PLACED, ORDER_TIMED_OUT

FIRST_STEPS = (INVENTORY_RESERVE, ORDER_PLACED)  # what sets inventory's reserve off, per style


def command_answered(history: History, state: SystemState, options: CheckOptions = DEFAULT_OPTIONS) -> Verdict:
    found = Findings("command_answered")
    scope = order_scope(history, state, options)
    answered = {m.causation_id for m in bus_index(history).first.values() if m.causation_id}
    answered |= {dl.message_id for dl in state.dead_letters if dl.reason}
    deadline = Deadline.of(history, state, options)
    # The copies, and in a choreography what they set off: the fault, not the system's own steps.
    injected, skip = fault_messages(history) or history.injected, options.expected_dead_letters
    checked = 0
    first = bus_index(history).first
    orders = orders_by_id(state)
    for m in bus_index(history).commands:
        cause = first.get(m.causation_id) if m.causation_id else None
        if cause is not None and cause.routing_key == ORDER_TIMED_OUT:
            continue  # an answer to order.timed_out sets nothing off (system/styles.py): owed nothing
        if m.routing_key in FIRST_STEPS and orders.get(m.order_id, {}).get("failure_reason") == "timeout:inventory":
            continue  # a reserve that came after its saga's release is fenced silently (issue #16)
        if m.message_id in injected or m.message_id in skip or (scope is not None and m.order_id not in scope):
            continue
        checked += 1
        if m.message_id not in answered:
            deadline.judge(found, "not answered", m.time, order_id=m.order_id, message_id=m.message_id,
                           routing_key=m.routing_key)
    if not history.messages:
        found.note("no bus messages recorded")
    return found.verdict(checked=checked)
