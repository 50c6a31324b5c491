"""Broker invariants: nothing left in the work queues, nothing dead-lettered unexpectedly.

Queues are shared by every run on a system, so these checks are global, like stock.
"""

from __future__ import annotations

from collections import Counter

from harness.invariants.common import DEFAULT_OPTIONS, CheckOptions, Findings
from harness.model import History, SystemState, Verdict
from system.contracts import SERVICES, dead_letter_queue_name, queue_name

WORK_QUEUES = tuple(queue_name(s) for s in SERVICES)
DEAD_LETTER_QUEUES = tuple(dead_letter_queue_name(s) for s in SERVICES)


def queues_drained(history: History, state: SystemState, options: CheckOptions = DEFAULT_OPTIONS) -> Verdict:
    found = Findings("queues_drained")
    for name in WORK_QUEUES:
        depth = state.queues.get(name)
        if depth is None:
            found.doubt(queue=name, problem="depth not read")
        elif depth > 0:
            found.violation(queue=name, messages=depth)
    return found.verdict(checked=len(WORK_QUEUES))


def dead_letters_accounted(
    history: History, state: SystemState, options: CheckOptions = DEFAULT_OPTIONS
) -> Verdict:
    found = Findings("dead_letters_accounted")
    for dl in state.dead_letters:
        if not dl.reason:
            found.violation(queue=dl.queue, message_id=dl.message_id, routing_key=dl.routing_key,
                            order_id=dl.order_id, problem="dead letter without a reason")
        elif dl.message_id not in options.expected_dead_letters:
            found.violation(queue=dl.queue, message_id=dl.message_id, routing_key=dl.routing_key,
                            order_id=dl.order_id, reason=dl.reason, problem="unexpected dead letter")
    # A DLQ deeper than what was read from it holds letters nobody looked at.
    read = Counter(dl.queue for dl in state.dead_letters)
    for name, depth in state.queues.items():
        if (name in DEAD_LETTER_QUEUES or name.endswith(".dlq")) and depth > read[name]:
            found.violation(queue=name, problem="dead letters in the queue that were not read",
                            depth=depth, read=read[name])
    missing = [q for q in DEAD_LETTER_QUEUES if q not in state.queues]
    if missing and not state.dead_letters:
        found.doubt(queues=missing, problem="dead-letter queue depth not read")
    # The dead-letter queues' depths were looked at too, even when they held nothing.
    return found.verdict(checked=len(state.dead_letters) + sum(1 for q in DEAD_LETTER_QUEUES if q in state.queues))
