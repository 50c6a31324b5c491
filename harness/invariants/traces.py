"""Trace legality: the order's own history, and what the bus carried for it, tell one story.

The order service appends a reply and the command it causes in one transaction, so a saga that
has not ended always shows a history ending in a command, and its status follows from that command.
"""

from __future__ import annotations

from collections import defaultdict
from operator import attrgetter, itemgetter
from typing import Any

from harness.invariants.common import (
    DEFAULT_OPTIONS,
    TERMINAL,
    CheckOptions,
    Findings,
    bus_index,
    fault_messages,
    in_scope,
    order_scope,
    orders_by_id,
    style_of,
)
from harness.invariants.timeouts import timeout_bus_keys, timeout_history
from harness.model import History, RecordedMessage, SystemState, Verdict
from system.contracts import (
    COMMANDS,
    DELIVERY_SCHEDULE,
    INVENTORY_RELEASE,
    INVENTORY_RESERVE,
    LEGAL_TRACES,
    PAYMENT_PROCESS,
    PAYMENT_REFUND,
)
from system.deadlines import is_timeout
from system.styles import BY_NAME

# The status an in-flight order must be in, given the last command it sent.
_STATUS_AFTER_COMMAND = {
    INVENTORY_RESERVE: "pending",
    PAYMENT_PROCESS: "inventory_reserved",
    DELIVERY_SCHEDULE: "payment_completed",
    PAYMENT_REFUND: "refunding_payment",
    INVENTORY_RELEASE: "releasing_inventory",
}

# Every proper prefix of a legal trace that ends in a command -> the status it implies,
# and the routing keys that may already be on the bus for it (any legal continuation).
IN_FLIGHT_STATUS: dict[tuple[str, ...], str] = {}
MAY_BE_ON_BUS: dict[tuple[str, ...], frozenset[str]] = {}
for _trace in LEGAL_TRACES.values():
    for _n in range(1, len(_trace)):
        _prefix = _trace[:_n]
        if _prefix[-1] in COMMANDS:
            IN_FLIGHT_STATUS[_prefix] = _STATUS_AFTER_COMMAND[_prefix[-1]]
            MAY_BE_ON_BUS[_prefix] = MAY_BE_ON_BUS.get(_prefix, frozenset()) | frozenset(_trace)
# The same per saga style: the bus keys of any legal continuation (the history is the seed's
# trace in both styles; system/styles.py maps it to what each style's bus carries).
MAY_BE_ON_BUS_BY_STYLE = {
    name: {prefix: frozenset(style.bus_trace(tuple(keys))) for prefix, keys in MAY_BE_ON_BUS.items()}
    for name, style in BY_NAME.items()
}


ROUTING_KEY = attrgetter("routing_key")
EVENT = itemgetter("event")


def events(order: dict[str, Any]) -> tuple[Any, ...]:
    """The order's history as a tuple of events (an entry without one reads as None)."""
    entries = order.get("history") or ()
    try:
        return tuple(map(EVENT, entries))
    except (KeyError, TypeError):
        return tuple(e.get("event") if isinstance(e, dict) else None for e in entries)


def expected_trace(order: dict[str, Any]) -> tuple[str, ...] | None:
    """The one legal trace for a terminal order, or None if its outcome names none."""
    if order.get("status") == "completed":
        return LEGAL_TRACES["completed"] if not order.get("failure_reason") else None
    reason = order.get("failure_reason")
    if is_timeout(reason):
        return timeout_history(reason)
    return LEGAL_TRACES.get(str(reason)) if reason != "completed" else None


def bus_steps_by_order(
    history: History, scope: frozenset[str] | None, skip: frozenset[str], found: Findings,
    timed_out: frozenset[str] = frozenset(),
) -> dict[str, list[RecordedMessage]]:
    """Each order's messages on the bus in the order first seen, one per message_id (one pass).

    Redeliveries share a message_id. Messages a test dead-lettered on purpose (`skip`) and
    messages naming no order are poison, not saga steps: dead_letters_accounted answers for them.
    Copies a nemesis injected and the answers to them stay in (see `own_steps`).
    """
    steps_of: dict[str, list[RecordedMessage]] = defaultdict(list)
    index = bus_index(history)
    for m, first_key in index.conflicts:
        if m.order_id and in_scope(m.order_id, scope) and m.message_id not in skip:
            found.violation(order_id=m.order_id, message_id=m.message_id,
                            problem="one message_id carried two routing keys",
                            routing_keys=sorted({first_key, m.routing_key}))
    fault = fault_messages(history)
    if fault:
        copies_answered_alike(found, history, scope, fault, timed_out)
    if scope is None and not skip:  # the common case: the index has them already
        return {order_id: ms for order_id, ms in index.by_order.items() if order_id}
    for message_id, m in index.first.items():
        order_id = m.order_id
        if (scope is not None and order_id not in scope) or not order_id or message_id in skip:
            continue
        steps_of[order_id].append(m)
    return steps_of


def own_steps(messages: list[RecordedMessage], fault: dict[str, str]) -> list[RecordedMessage]:
    """The system's own messages: not the copies a nemesis injected, nor the answers to them."""
    return [m for m in messages if m.message_id not in fault] if fault else messages


def first_seen_steps(messages: list[RecordedMessage], own: list[RecordedMessage]) -> tuple[str, ...]:
    """The order's own steps by first sighting of any message for them: the saga may go on from
    a copy that arrived before its original, so the copy's sighting is when the step was seen."""
    keys = set(map(ROUTING_KEY, own))
    return tuple(k for k in dict.fromkeys(map(ROUTING_KEY, messages)) if k in keys)


def copies_answered_alike(found: Findings, history: History, scope: frozenset[str] | None,
                          fault: dict[str, str], timed_out: frozenset[str] = frozenset()) -> None:
    """The answer to a copied command repeats the answer to its original (decisions are stable),
    except in a saga that timed out: its compensation changes the answer a late copy gets (a
    cancelled delivery refuses a schedule its original got), which is the point of it."""
    injected, first = history.injected, bus_index(history).first
    answers: dict[str, set[str]] = defaultdict(set)  # command -> routing keys of its answers
    for m in first.values():
        if m.causation_id is not None and m.message_id not in injected:
            answers[m.causation_id].add(m.routing_key)
    for message_id, copy in fault.items():
        if message_id in injected or copy not in injected:  # a choreography's copies set off more
            continue
        if (scope is not None and first[message_id].order_id not in scope) or first[message_id].order_id in timed_out:
            continue
        original_answers = answers.get(injected[copy], set())
        answer = first[message_id]
        if original_answers and answer.routing_key not in original_answers:
            found.violation(order_id=answer.order_id, message_id=message_id, routing_key=answer.routing_key,
                            problem="a copied command was answered differently from its original",
                            original_answers=sorted(original_answers))


def repeated_steps(found: Findings, order_id: str, messages: list[RecordedMessage]) -> bool:
    """A legal trace takes each step once: a second distinct message for a step is the step repeated."""
    first: dict[str, str] = {}
    repeated = False
    for m in messages:
        if first.setdefault(m.routing_key, m.message_id) != m.message_id:
            found.violation(order_id=order_id, routing_key=m.routing_key, problem="step repeated on the bus",
                            message_ids=[first[m.routing_key], m.message_id])
            repeated = True
    return repeated


def timed_out_on_bus(found: Findings, order: dict[str, Any], own: list[RecordedMessage],
                     trace: tuple[str, ...], style_name: str) -> None:
    """A timed-out saga's bus: the history's messages (its compensations included), plus only
    what may still come after a timeout (late answers and what they set off, each undone); steps
    may repeat there (a late answer's chain meets a compensation already done)."""
    seen = set(map(ROUTING_KEY, own))
    stray = seen - timeout_bus_keys(order.get("failure_reason"), style_name)
    missing = {k for k in trace if not is_timeout(k)} - seen
    if stray or missing:
        found.violation(order_id=order["order_id"], status=order.get("status"), failure_reason=order.get("failure_reason"),
                        problem="bus and the timed-out order's history disagree",
                        only_on_bus=sorted(stray), only_in_history=sorted(missing))


def trace_legal(history: History, state: SystemState, options: CheckOptions = DEFAULT_OPTIONS) -> Verdict:
    found = Findings("trace_legal")
    style = style_of(history)
    may_be_on_bus = MAY_BE_ON_BUS_BY_STYLE[style.name]
    scope = order_scope(history, state, options)
    orders = orders_by_id(state)
    recorded = bool(history.messages)
    timed_out = frozenset(i for i, o in orders.items() if is_timeout(o.get("failure_reason")))
    bus = bus_steps_by_order(history, scope, options.expected_dead_letters, found, timed_out) if recorded else {}
    fault = fault_messages(history)
    checked = 0
    for order_id, order in orders.items():
        if scope is not None and order_id not in scope:
            continue
        checked += 1
        status = order.get("status")
        trace = events(order)
        if status in TERMINAL:
            legal = expected_trace(order)
            if trace != legal:
                found.violation(order_id=order_id, status=status, failure_reason=order.get("failure_reason"),
                                problem="trace is not the legal one for this outcome",
                                trace=list(trace), legal=list(legal) if legal else None)
                continue
            messages = bus.get(order_id, [])
            trace = style.bus_trace(trace)  # what the bus carries for this history, in this style
            if is_timeout(order.get("failure_reason")):
                if recorded:
                    timed_out_on_bus(found, order, own_steps(messages, fault), trace, style.name)
                continue
            # Compared as sequences, never sets: a repeated step or a step out of order shows.
            if not recorded or tuple(map(ROUTING_KEY, messages)) == trace:
                continue
            own = own_steps(messages, fault)
            if repeated_steps(found, order_id, own):
                continue
            on_bus = first_seen_steps(messages, own)
            if on_bus != trace:
                seen = set(on_bus)
                if seen != set(trace):
                    found.violation(order_id=order_id, status=status, problem="bus and order history disagree",
                                    only_on_bus=sorted(seen - set(trace)), only_in_history=sorted(set(trace) - seen))
                else:
                    # Each step is caused by the one before, so the bus sees them in trace order.
                    found.violation(order_id=order_id, status=status, problem="bus carried the steps in another order",
                                    bus=list(on_bus), trace=list(trace))
            continue
        implied = IN_FLIGHT_STATUS.get(trace)
        if implied is None or implied != status:
            found.violation(order_id=order_id, status=status,
                            problem="in-flight trace is not a legal prefix for its status",
                            trace=list(trace), status_for_trace=implied)
            continue
        # In flight: a command may still sit in the outbox and a reply may still sit in a queue,
        # so the bus may differ from the history, but only by steps a legal trace could take.
        own = own_steps(bus.get(order_id, []), fault)
        repeated_steps(found, order_id, own)
        stray = set(map(ROUTING_KEY, own)) - may_be_on_bus[trace]
        if stray:
            found.violation(order_id=order_id, status=status, problem="bus carried steps no legal continuation has",
                            trace=list(trace), stray=sorted(stray))
    for order_id in sorted(bus.keys() - orders.keys()):
        found.violation(order_id=order_id, problem="bus carried messages for an order the order service does not know",
                        routing_keys=sorted({m.routing_key for m in bus[order_id]}))
    if not recorded:
        found.note("no recorded messages: bus comparison skipped")
    return found.verdict(checked=checked)
