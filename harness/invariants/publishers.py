"""Who published each message: every one names its publisher (AMQP `app_id`, issue #15), and that
publisher owns the routing key in the run's saga style (system/styles.py, `publishes`).

The broker already refuses a service's publish of a key it does not own when each service logs in
as its own user (system/access.py); this check sees what got through anyway: a run without
per-service users (SAGA_AMQP_USERS=0, compose without its definitions), a service stamping
another's name, a style mix-up. The harness's own account may publish anything (nemeses, tests:
`app_id` "harness"), and a nemesis's copies keep the app_id of the message they copy. A recording
in which no message names a publisher (a system from before app_id) is not judged.
"""

from __future__ import annotations

from harness.invariants.common import DEFAULT_OPTIONS, CheckOptions, Findings, style_of
from harness.model import History, SystemState, Verdict
from system.access import HARNESS
from system.contracts import SERVICES


def publisher_owns_key(history: History, state: SystemState, options: CheckOptions = DEFAULT_OPTIONS) -> Verdict:
    found = Findings("publisher_owns_key")
    style = style_of(history)
    named = any(m.app_id for m in history.messages)
    checked = 0
    seen: set[tuple[str, str | None]] = set()
    for m in history.messages:
        if (m.message_id, m.app_id) in seen:
            continue  # a redelivery of the same message, same publisher
        seen.add((m.message_id, m.app_id))
        if not named or m.app_id == HARNESS:
            continue
        checked += 1
        owner = style.owner(m.routing_key)
        if not m.app_id:
            found.violation(order_id=m.order_id, message_id=m.message_id, routing_key=m.routing_key,
                            owner=owner, problem="names no publisher (no app_id) while others do")
        elif m.app_id not in SERVICES:
            found.violation(order_id=m.order_id, message_id=m.message_id, routing_key=m.routing_key,
                            app_id=m.app_id, problem="names a publisher that is no service of the saga")
        elif m.app_id != owner:
            found.violation(order_id=m.order_id, message_id=m.message_id, routing_key=m.routing_key,
                            app_id=m.app_id, owner=owner, style=style.name,
                            problem="published a routing key it does not own in this style")
    if history.messages and not named:
        found.note("no recorded message names its publisher (app_id): not judged")
    return found.verdict(checked=checked)
