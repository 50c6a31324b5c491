"""Put a service together from its logic, a store and the switched-on defects.

The one place where defects meet the code: each wraps a domain function, the store, the handling
or a policy from outside. With no defects, every piece is the correct one, unwrapped. The
service processes and the simulator both compose their services here.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass

from system.contracts import DELIVERY_FAILED
from system.deadlines import NO_TIMEOUTS, StepTimeouts, Timer
from system.defects import Defect
from system.inventory import defects as inventory_defects
from system.messaging import defects as shell_defects
from system.messaging.handling import Handler, Handling, transactional
from system.messaging.policy import ConsumerPolicy, RelayPolicy
from system.messaging.ports import MessageStore, TransactionHooks
from system.order import defects as order_defects
from system.order.deadlines import COMPENSATIONS, timing_out
from system.order.domain import TRANSITIONS, choreographer, orchestrator
from system.order.placement import PlaceOrder, placing
from system.payment import defects as payment_defects
from system.registry import SERVICE_LOGIC
from system.styles import CHOREOGRAPHY, ORCHESTRATION, reacting, reactions_of

# Domain defects: (service, defect) -> the wrapper of that service's handler. Applied in this
# order, so a later one sees a message first (unstable_payment_decision over no_inbox_dedup).
_HANDLER_WRAPPERS: tuple[tuple[str, Defect, Callable[[Handler], Handler]], ...] = (
    ("order", Defect.COMPENSATION_REPEATED_ON_COPY, order_defects.compensation_repeated_on_copy),
    ("inventory", Defect.NO_INBOX_DEDUP, inventory_defects.reserving_again),
    ("inventory", Defect.RELEASE_NOT_IDEMPOTENT, inventory_defects.releasing_again),
    ("inventory", Defect.RESERVE_OFF_BY_ONE, inventory_defects.refusing_exact_stock),
    ("payment", Defect.NO_INBOX_DEDUP, payment_defects.charging_again),
    ("payment", Defect.REFUND_NOT_IDEMPOTENT, payment_defects.refunding_again),
    ("payment", Defect.RELABELLED_OUTCOME, payment_defects.relabelled_dice),
    ("payment", Defect.UNSTABLE_PAYMENT_DECISION, payment_defects.rerolling_per_delivery),
    ("payment", Defect.UNBOUNDED_RETRIES, payment_defects.retrying_without_bound),
)


@dataclass(frozen=True)
class Service:
    """What a runtime (aio-pika or the simulator) executes for one service."""

    name: str
    store: MessageStore  # the undecorated store, which the outbox relay reads
    handling: Handling
    consumer: ConsumerPolicy
    relay: RelayPolicy
    # The order service's armed timers, earliest first (issue #16): what its timer loop reads.
    timers: Callable[[int], list[Timer]] | None = None


# Defects that make no sense in a style: there the code they break does not run, or means
# something else. In a choreography the order service sends no compensation to repeat.
NOT_IN_STYLE: dict[str, frozenset[Defect]] = {
    ORCHESTRATION: frozenset({Defect.ORDER_STILL_COMMANDS}),  # there, sending them is its job
    # A late charge in a choreography is undone without payment's own reaction to the timeout
    # too: delivery's cancelled tombstone refuses the schedule it sets off, and payment refunds
    # that delivery.failed; so the defect cannot leave money behind there.
    CHOREOGRAPHY: frozenset({Defect.COMPENSATION_REPEATED_ON_COPY, Defect.LATE_PAYMENT_NOT_REFUNDED}),
}


def decide_for(name: str, defects: Iterable[Defect] = (), style: str = ORCHESTRATION) -> Handler:
    """The service's domain handler, wrapped by its defects, in `style` (system/styles.py)."""
    defects = frozenset(defects) - NOT_IN_STYLE[style]
    decide = SERVICE_LOGIC[name].decide
    if name == "order":  # the order's defects change rows of its state machine
        transitions = TRANSITIONS
        if Defect.NO_DELIVERY_COMPENSATION in defects:
            transitions = order_defects.without_delivery_compensation(transitions)
        if Defect.COMPLETE_BEFORE_DELIVERY in defects:
            transitions = order_defects.completing_before_delivery(transitions)
        compensations = COMPENSATIONS
        if Defect.LATE_PAYMENT_NOT_REFUNDED in defects:
            compensations = order_defects.without_payment_refund(compensations)
        # Every order handler owns the saga's deadlines (system/order/deadlines.py, issue #16).
        if style == CHOREOGRAPHY and Defect.ORDER_STILL_COMMANDS in defects:
            # sends the commands nobody owns here any more
            decide = timing_out(orchestrator(transitions), ORCHESTRATION, compensations)
        elif style == CHOREOGRAPHY:
            decide = timing_out(choreographer(transitions), CHOREOGRAPHY, compensations)  # heard, never sent
        elif transitions is not TRANSITIONS or compensations is not COMPENSATIONS:
            decide = timing_out(orchestrator(transitions), ORCHESTRATION, compensations)
    for service, defect, wrap in _HANDLER_WRAPPERS:
        if service == name and defect in defects:
            decide = wrap(decide)
    if style == CHOREOGRAPHY and name != "order":
        reactions = reactions_of(name)
        if Defect.NO_DELIVERY_COMPENSATION in defects:  # nobody refunds after a delivery failure
            reactions.pop(DELIVERY_FAILED, None)
        decide = reacting(decide, reactions)
    return decide


def compose(
    name: str,
    store: MessageStore,
    hooks: TransactionHooks,
    *,
    defects: Iterable[Defect] = (),
    new_id: Callable[[], str],
    max_attempts: int = 5,
    style: str = ORCHESTRATION,
    timers: Callable[[int], list[Timer]] | None = None,
) -> Service:
    """`new_id` makes the fresh ids only publish_before_commit uses (uuid4; seeded in the simulator)."""
    defects = frozenset(defects)
    decide = decide_for(name, defects, style)
    handled_store = shell_defects.without_inbox_dedup(store) if Defect.NO_INBOX_DEDUP in defects else store
    if Defect.PUBLISH_BEFORE_COMMIT in defects:
        handling = shell_defects.publishing_before_commit(handled_store, decide, hooks, new_id)
    else:
        handling = transactional(handled_store, decide, hooks)
    consumer = ConsumerPolicy(max_attempts=max_attempts)
    if Defect.ACK_BEFORE_COMMIT in defects:
        consumer = shell_defects.acking_on_receipt(consumer)
    if Defect.ACK_AND_DROP_ON_HANDLER_ERROR in defects:
        consumer = shell_defects.acking_and_dropping_on_error(consumer)
    relay = RelayPolicy()
    if Defect.RELAY_MARKS_UNCONFIRMED_SENT in defects:
        relay = shell_defects.marking_unconfirmed_sent(relay)
    return Service(name, store, handling, consumer, relay, timers)


def placement(defects: Iterable[Defect] = (), style: str = ORCHESTRATION,
              timeouts: StepTimeouts = NO_TIMEOUTS) -> PlaceOrder:
    """POST /orders (system/order/placement.py) in `style`, wrapped by the API's defects; the
    first step's deadline armed with the order when `timeouts` has one."""
    placed = placing(style, timeouts)
    if Defect.API_STORES_OTHER_FIELD in frozenset(defects):
        return order_defects.storing_other_field(placed)
    return placed
