"""Justified outcomes: every failure (and every success) at a step is the one the rules give.

- insufficient_inventory: the stock of the product, replayed from the recorded inventory replies
  (inventory.reserved takes an order's quantity, inventory.released gives it back, each once per
  order) in inventory's commit order, was below the order's quantity when inventory refused it.
  Commit order is the `outbox_seq` each reply carries (the relay's `x-outbox-seq` header, its
  outbox row's seq); bus order is not it, since the relay publishes again, after rows committed
  later, a row whose publish was not confirmed. A recording in which some reply lacks the figure
  (made before the relay stamped it) is replayed in bus order, which can misjudge a refusal when a
  publish failed. The replay starts from the catalog's opening stock when the history is complete, else
  from the final stock minus what the recording shows was taken (the stock when recording
  began). The refusal's own evidence, the `available` figure inventory put in its
  inventory.failed, must agree with the replayed stock: a service whose evidence is wrong is a
  violation even when the refusal was right.
  Without a recording the service's evidence is all there is: the rejected reservation records
  the units available when inventory decided (`available_seen`), and an order asking no more
  than that was refused while inventory itself saw enough stock. A rejected row without the
  figure (an older service) proves only a refusal of more than the opening stock; any other
  refusal is unknown.
- payment and delivery: the outcome the order's trace shows agrees with the deterministic dice
  (system.decisions, with CheckOptions.decisions) or with the order's `force` field.
- the participant that decided a failure recorded that decision, and no later step acted: an
  order whose history was rewritten to a shorter, legal-looking failure is contradicted here.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from typing import Any

from harness.invariants.common import (
    DEFAULT_OPTIONS,
    TERMINAL,
    CheckOptions,
    Findings,
    bus_index,
    group_by_order,
    order_scope,
    orders_by_id,
    placements,
    style_of,
)
from harness.model import History, RecordedMessage, SystemState, Verdict
from system.catalog import INITIAL_STOCK
from system.contracts import (
    DELIVERY_FAILED,
    DELIVERY_SCHEDULED,
    INVENTORY_RELEASED,
    INVENTORY_RESERVED,
    PAYMENT_COMPLETED,
    PAYMENT_FAILED,
)
from system.decisions import DecisionConfig, delivery_fails, payment_fails
from system.styles import SAGA_CONTEXT

INSUFFICIENT = "insufficient_inventory"
# Reply in a trace -> (step, whether the step failed).
STEP_RESULTS = {
    PAYMENT_COMPLETED: ("payment", False),
    PAYMENT_FAILED: ("payment", True),
    DELIVERY_SCHEDULED: ("delivery", False),
    DELIVERY_FAILED: ("delivery", True),
}
# (status, failure_reason) of a terminal order -> the decisions its legal trace shows.
OUTCOME_STEPS: dict[tuple[Any, Any], tuple[tuple[str, bool], ...]] = {
    ("completed", None): (("payment", False), ("delivery", False)),
    ("failed", "payment_failed"): (("payment", True),),
    ("failed", "delivery_failed"): (("payment", False), ("delivery", True)),
    ("failed", "insufficient_inventory"): (),
}
DICE = {"payment": payment_fails, "delivery": delivery_fails}
# A failure reason -> (the participant's rows, the status that records its decision, rows that must not exist).
DECIDED_BY: dict[str, tuple[str, str, tuple[str, ...]]] = {
    INSUFFICIENT: ("reservations", "rejected", ("payments", "deliveries")),
    "payment_failed": ("payments", "failed", ("deliveries",)),
    "delivery_failed": ("deliveries", "failed", ()),
}

Unknown = object()  # a step's force that nothing recorded
NO_FORCE: dict[str, Any] = {step: None for step in DICE}  # a request without a force field: the dice decide


def stock_replay(
    messages: Iterable[RecordedMessage], orders: dict[str, dict[str, Any]], skip: frozenset[str] | dict[str, str],
    products: set[str],
) -> tuple[dict[str, int], dict[str, tuple[str, int, Any]]]:
    """(net stock taken per product, {refused order: (product, stock taken before the refusal,
    the `available` its first inventory.failed carried, None if none)}).

    `messages`: inventory's replies, each once (its first recording), in bus order; only those for
    `products` count. They are replayed in inventory's commit order (`commit_order`). Figures are
    relative to the stock when recording began; each order takes stock once and gives it back
    once, however often its replies were redelivered or copied.
    """
    taken: dict[str, int] = defaultdict(int)
    held: dict[str, tuple[str, int]] = {}
    reserved_once: set[str] = set()
    refused: dict[str, tuple[str, int, Any]] = {}
    for m in commit_order([m for m in messages if m.message_id not in skip]):
        order_id = m.order_id
        order = orders.get(order_id) or m.payload
        product = str(order.get("product_id"))
        if product not in products:
            continue
        if m.routing_key == INVENTORY_RESERVED:
            if order_id not in reserved_once:
                reserved_once.add(order_id)
                quantity = int(order.get("quantity") or 0)
                held[order_id] = (product, quantity)
                taken[product] += quantity
        elif m.routing_key == INVENTORY_RELEASED:
            if order_id in held:
                product, quantity = held.pop(order_id)
                taken[product] -= quantity
        else:
            refused.setdefault(order_id, (product, taken[product], m.payload.get("available")))
    return taken, refused


def commit_order(replies: list[RecordedMessage]) -> list[RecordedMessage]:
    """The replies in their publisher's commit order: by `outbox_seq` when every one carries it,
    else (a recording made before the relay stamped its messages) in bus order as given, which
    is commit order only while no publish failed.

    All of them come from the one inventory service, so its outbox seq orders them; with several
    inventory replicas (each its own outbox) the key would have to be (replica, seq), and
    replicas' rows would interleave by something else again.
    """
    if all(m.outbox_seq is not None for m in replies):
        return sorted(replies, key=lambda m: m.outbox_seq or 0)  # stable: ties keep bus order
    return replies


def _opening(state: SystemState, options: CheckOptions, taken: dict[str, int]) -> dict[str, int]:
    if options.complete_history:
        return dict(INITIAL_STOCK)
    return {str(row.get("product_id")): int(row["available"]) + taken.get(str(row.get("product_id")), 0)
            for row in state.inventory if row.get("available") is not None}


def _judge_refusals(found: Findings, history: History, state: SystemState, options: CheckOptions,
                    refusals: dict[str, dict[str, Any]], reservations: dict[str, list[dict[str, Any]]]) -> None:
    if not refusals:
        return
    if not history.messages:
        _judge_refusals_by_evidence(found, refusals, reservations)
        return
    orders = orders_by_id(state)
    products = {str(order.get("product_id")) for order in refusals.values()}
    taken, refused = stock_replay(bus_index(history).stock_replies, orders, history.injected, products)
    opening = _opening(state, options, taken)
    for order_id, order in refusals.items():
        if order_id not in refused:
            found.violation(order_id=order_id, problem="refused for insufficient inventory, but inventory never said so",
                            product_id=order.get("product_id"))
            continue
        product, taken_before, evidence = refused[order_id]
        if product not in opening:
            if product not in INITIAL_STOCK:
                continue  # an unknown product: nothing to reserve from
            found.doubt(order_id=order_id, problem="stock of the product not known", product_id=product)
            continue
        available = opening[product] - taken_before
        quantity = int(order.get("quantity") or 0)
        if quantity <= available:
            found.violation(order_id=order_id, problem="refused for insufficient inventory while the stock sufficed",
                            product_id=product, quantity=quantity, available=available)
        if evidence is not None and evidence != available:
            found.violation(order_id=order_id, problem="inventory's evidence of the refusal disagrees with the replayed stock",
                            product_id=product, quantity=quantity, available=available, available_reported=evidence)


def _judge_refusals_by_evidence(found: Findings, refusals: dict[str, dict[str, Any]],
                                reservations: dict[str, list[dict[str, Any]]]) -> None:
    """No recording: each refusal by the figure its rejected reservation holds (available_seen)."""
    for order_id, order in refusals.items():
        product = order.get("product_id")
        catalog = INITIAL_STOCK.get(str(product))
        if catalog is None:
            continue  # no such product: refused for a reason
        quantity = int(order.get("quantity") or 0)
        seen = next((r.get("available_seen") for r in reservations.get(order_id, ())
                     if r.get("status") == "rejected"), None)
        if isinstance(seen, int) and not isinstance(seen, bool):
            if quantity <= seen:
                found.violation(order_id=order_id, problem="refused while the service itself saw enough stock",
                                product_id=product, quantity=quantity, available_seen=seen)
            continue
        if quantity > catalog:
            continue  # more than there ever was: refused for a reason
        found.doubt(order_id=order_id, problem="refusal not provable without a recording of the stock",
                    product_id=product, quantity=quantity, opening_stock=catalog)


def forces(history: History, orders: Iterable[str]) -> dict[str, dict[str, Any]]:
    """{order: {step: force}} from the client's requests, else from the commands the order
    service sent (read only for orders the client's log does not name)."""
    wanted = set(orders)
    known: dict[str, dict[str, Any]] = {}
    for p in placements(history):
        if p.type != "fail" and p.order_id in wanted and p.order_id not in known:
            force = p.request.get("force")
            known[p.order_id] = {step: force.get(step) for step in DICE} if force else NO_FORCE
    if missing := wanted - known.keys():
        decided_by = style_of(history).decided_by
        for m in bus_index(history).commands:
            step = decided_by.get(m.routing_key)
            # A command carries its force; a choreography's event carries the saga's context.
            context = m.payload.get(SAGA_CONTEXT)
            carrier, field = (context, f"force_{step}") if isinstance(context, dict) else (m.payload, "force")
            if step is not None and field in carrier and m.order_id in missing:
                known.setdefault(m.order_id, {}).setdefault(step, carrier[field])
    return known


def step_results(order: dict[str, Any]) -> Iterable[tuple[str, bool]]:
    """(step, failed) for each payment or delivery decision the order shows."""
    known = OUTCOME_STEPS.get((order.get("status"), order.get("failure_reason")))
    if known is not None:
        return known  # trace_legal holds a terminal order's history to exactly these steps
    events = (STEP_RESULTS.get(str(e.get("event"))) for e in order.get("history") or ())
    return [r for r in events if r is not None]


def _judge_dice(found: Findings, order_id: str, order: dict[str, Any], force_of: dict[str, Any],
                decisions: DecisionConfig | None) -> None:
    stored = order.get("force")  # the order's own `force` field, when the order service shows it
    for step, failed in step_results(order):
        if isinstance(stored, dict):
            force = stored.get(step)
        else:
            force = order.get(f"force_{step}", force_of.get(step, Unknown))
        if force in ("fail", "succeed"):
            expected = force == "fail"
        elif decisions is None:
            found.doubt(order_id=order_id, step=step, problem="no dice configuration to judge the outcome by")
            continue
        else:
            expected = DICE[step](decisions, order_id, None)
            if expected != failed and force is Unknown:
                found.doubt(order_id=order_id, step=step, failed=failed,
                            problem="outcome disagrees with the dice, and the force field is not known")
                continue
        if expected != failed:
            found.violation(order_id=order_id, step=step, failed=failed, force=force,
                            problem="step outcome disagrees with the dice and the force field")


def _judge_decider(found: Findings, order_id: str, reason: str, rows: dict[str, dict[str, list[dict[str, Any]]]]) -> None:
    decider, status, none_of = DECIDED_BY[reason]
    statuses = [r.get("status") for r in rows[decider].get(order_id, ())]
    if status not in statuses:
        found.violation(order_id=order_id, failure_reason=reason, problem=f"{decider} did not record the failure",
                        statuses=statuses)
    for later in none_of:
        if rows[later].get(order_id):
            found.violation(order_id=order_id, failure_reason=reason, problem=f"{later} acted after the failure",
                            statuses=[r.get("status") for r in rows[later][order_id]])


def outcome_justified(history: History, state: SystemState, options: CheckOptions = DEFAULT_OPTIONS) -> Verdict:
    found = Findings("outcome_justified")
    scope = order_scope(history, state, options)
    rows = {name: group_by_order(getattr(state, name), scope) for name in ("reservations", "payments", "deliveries")}
    orders = orders_by_id(state)
    if scope is not None:
        orders = {oid: o for oid, o in orders.items() if oid in scope}
    force_of = forces(history, orders)
    refusals: dict[str, dict[str, Any]] = {}
    checked = 0
    for order_id, order in orders.items():
        checked += 1
        _judge_dice(found, order_id, order, force_of.get(order_id, {}), options.decisions)
        reason = order.get("failure_reason")
        if order.get("status") not in TERMINAL or reason not in DECIDED_BY:
            continue
        _judge_decider(found, order_id, str(reason), rows)
        if reason == INSUFFICIENT:
            refusals[order_id] = order
    _judge_refusals(found, history, state, options, refusals, rows["reservations"])
    return found.verdict(checked=checked)
