"""Effects are published once per cause: the outbox's promise, seen from the bus.

Every outgoing message's id derives from the message that caused it, so a re-published effect
(relay crash before marking sent, handler re-run after a crash before commit) carries the same
message_id and the receiver's inbox absorbs it. Two different ids for one (cause, routing key)
mean a service produced the same effect twice as two distinct messages: published before its
state committed, or re-generated ids on a retry.
"""

from __future__ import annotations

from collections import defaultdict

from harness.invariants.common import (
    DEFAULT_OPTIONS,
    CheckOptions,
    Findings,
    bus_index,
    order_scope,
)
from harness.model import History, SystemState, Verdict


def one_effect_per_cause(history: History, state: SystemState, options: CheckOptions = DEFAULT_OPTIONS) -> Verdict:
    found = Findings("one_effect_per_cause")
    scope = order_scope(history, state, options)
    injected = history.injected  # copies a nemesis sent under new ids: the fault, not an effect
    checked = 0
    # Per order, each message once (redeliveries share the id); one (cause, routing key) per id.
    for order_id, messages in bus_index(history).by_order.items():
        if scope is not None and order_id not in scope:
            continue
        first: dict[tuple[str, str], str] = {}
        others: dict[tuple[str, str], list[str]] = defaultdict(list)
        for m in messages:
            if m.message_id in injected:
                continue
            # A saga's first command has no cause: the order itself is its cause.
            effect = (m.causation_id or order_id, m.routing_key)
            if first.setdefault(effect, m.message_id) != m.message_id:
                others[effect].append(m.message_id)
        checked += len(first)
        for (cause, key), extra in others.items():
            found.violation(order_id=order_id, causation_id=cause, routing_key=key,
                            message_ids=sorted([first[(cause, key)], *extra]),
                            problem="one cause, several distinct effects")
    if not history.messages:
        found.note("no bus messages recorded: nothing to compare")
    return found.verdict(checked=checked)
