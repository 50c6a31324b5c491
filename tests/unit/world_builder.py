"""Hand-made worlds for the invariant tests: one consistent system, then one-line mutations.

`good_world()` holds one order of each outcome (plus, on request, one in flight) with matching
stock, reservations, payments, deliveries, recorder messages (one redelivered duplicate included)
and client operations. Every row is a plain dict, as the HTTP reads return them, so a test breaks
the world by editing one field.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import Any

from harness.invariants import INVARIANTS, CheckOptions
from harness.model import History, Operation, RecordedMessage, SystemState, Verdict
from system.catalog import INITIAL_STOCK
from system.contracts import (
    INVENTORY_FAILED,
    LEGAL_TRACES,
    SERVICES,
    TRACE_SUCCESS,
    dead_letter_queue_name,
    queue_name,
)
from system.styles import ORCHESTRATED

# The deadline invariants (issue #16) judge nothing in a world without deadlines.
NO_DEADLINES = {"no_effect_after_timeout": "not_applicable", "bounded_termination": "not_applicable",
                "retries_bounded": "not_applicable"}
T0 = 1_700_000_000.0
STEP = 0.01
INITIAL = dict(INITIAL_STOCK)  # the catalog's: cross_service_agreement compares opening stock with it
OUTCOMES = ("completed", "payment_failed", "delivery_failed", "insufficient_inventory")
# The `force` field that makes each outcome's dice irrelevant (outcome_justified needs no seed).
FORCE = {
    "completed": {"payment": "succeed", "delivery": "succeed"},
    "payment_failed": {"payment": "fail"},
    "delivery_failed": {"payment": "succeed", "delivery": "fail"},
}


def iso(t: float) -> str:
    return datetime.fromtimestamp(t, UTC).isoformat(timespec="microseconds").replace("+00:00", "Z")


@dataclass
class World:
    history: History = field(default_factory=History)
    state: SystemState = field(default_factory=SystemState)
    ids: dict[str, str] = field(default_factory=dict)  # outcome -> order_id
    clock: float = T0

    # --- lookups a mutation needs -------------------------------------------------------
    def order(self, order_id: str) -> dict[str, Any]:
        return next(o for o in self.state.orders if o["order_id"] == order_id)

    def product(self, product_id: str) -> dict[str, Any]:
        return next(p for p in self.state.inventory if p["product_id"] == product_id)

    def payment(self, order_id: str) -> dict[str, Any]:
        return next(p for p in self.state.payments if p["order_id"] == order_id)

    def delivery(self, order_id: str) -> dict[str, Any]:
        return next(d for d in self.state.deliveries if d["order_id"] == order_id)

    def reservation(self, order_id: str) -> dict[str, Any]:
        return next(r for r in self.state.reservations if r["order_id"] == order_id)

    def drop_message(self, order_id: str, routing_key: str) -> None:
        self.history.messages = [
            m for m in self.history.messages if not (m.order_id == order_id and m.routing_key == routing_key)
        ]

    def check(self, name: str, **options: Any) -> Verdict:
        if "order_ids" in options and options["order_ids"] is not None:
            options["order_ids"] = frozenset(options["order_ids"])
        if "expected_dead_letters" in options:
            options["expected_dead_letters"] = frozenset(options["expected_dead_letters"])
        return INVARIANTS[name](self.history, self.state, CheckOptions(**options))

    # --- building -----------------------------------------------------------------------
    def tick(self) -> float:
        self.clock += STEP
        return self.clock

    def place(
        self,
        order_id: str,
        trace: tuple[str, ...],
        status: str,
        failure_reason: str | None,
        *,
        product_id: str = "product_1",
        quantity: int = 2,
        amount: float = 25.0,
        key: str | None = None,
        on_bus: int | None = None,
        force: dict[str, str] | None = None,
    ) -> dict[str, Any]:
        """Add an order whose history is `trace`, its client ops and its messages on the bus.

        Each message on the bus names the one before it as its cause, as the services do.
        """
        request: dict[str, Any] = {"user_id": "u-1", "product_id": product_id, "quantity": quantity, "amount": amount}
        if key:
            request["idempotency_key"] = key
        if force:
            request["force"] = force
        process = len(self.history.operations) // 2
        self.history.operations.append(Operation(process, "invoke", "place_order", self.tick(), dict(request)))
        self.history.operations.append(
            Operation(process, "ok", "place_order", self.tick(), {**request, "order_id": order_id})
        )
        events = []
        for i, event in enumerate(trace):
            t = self.tick()
            events.append({"event": event, "at": iso(t)})
            if on_bus is None or i < on_bus:
                cause = f"m-{order_id}-{i - 1}" if i else None
                self.history.messages.append(RecordedMessage(t, event, f"m-{order_id}-{i}", order_id, causation_id=cause,
                                                             app_id=ORCHESTRATED.owner(event)))
        order = {
            "order_id": order_id, "user_id": "u-1", "product_id": product_id, "quantity": quantity,
            "amount": amount, "status": status, "failure_reason": failure_reason,
            "history": events, "idempotency_key": key,
        }
        self.state.orders.append(order)
        return order

    def hold_stock(self, order_id: str, product_id: str, quantity: int, status: str,
                   available_seen: int | None = None) -> None:
        """A reservation row; a rejected one records the units available when inventory refused
        (`available_seen`, by default the product's available stock now), as the service does."""
        row: dict[str, Any] = {"order_id": order_id, "product_id": product_id, "quantity": quantity,
                               "status": status, "available_seen": None}
        if status == "rejected":
            row["available_seen"] = self.product(product_id)["available"] if available_seen is None else available_seen
        self.state.reservations.append(row)
        if status == "reserved":
            stock = self.product(product_id)
            stock["available"] -= quantity
            stock["reserved"] += quantity

    def add_outcome(
        self,
        outcome: str,
        order_id: str | None = None,
        *,
        product_id: str = "product_1",
        quantity: int = 2,
        amount: float = 25.0,
        key: str | None = None,
    ) -> str:
        """An order that ended in `outcome` (a key of contracts.LEGAL_TRACES), all services agreeing."""
        order_id = order_id or f"o-{outcome}"
        if outcome == "insufficient_inventory":
            product_id, quantity = "product_3", INITIAL["product_3"] + 4  # more than there is
        status = "completed" if outcome == "completed" else "failed"
        reason = None if status == "completed" else outcome
        self.place(order_id, LEGAL_TRACES[outcome], status, reason,
                   product_id=product_id, quantity=quantity, amount=amount, key=key, force=FORCE.get(outcome))
        if outcome == "insufficient_inventory":
            self.hold_stock(order_id, product_id, quantity, "rejected")
            available = self.product(product_id)["available"]  # inventory's evidence, in its reply too
            self.history.messages = [
                replace(m, payload={"product_id": product_id, "quantity": quantity, "available": available})
                if m.order_id == order_id and m.routing_key == INVENTORY_FAILED else m
                for m in self.history.messages
            ]
            return order_id
        self.hold_stock(order_id, product_id, quantity, "reserved" if status == "completed" else "released")
        payment = {"payment_id": f"p-{order_id}", "order_id": order_id, "user_id": "u-1",
                   "amount": amount, "status": "completed", "refunded_amount": 0.0}
        if outcome == "payment_failed":
            payment["status"] = "failed"
        if outcome == "delivery_failed":
            payment.update(status="refunded", refunded_amount=amount)
        self.state.payments.append(payment)
        if outcome in ("completed", "delivery_failed"):
            delivered = "scheduled" if outcome == "completed" else "failed"
            self.state.deliveries.append({"delivery_id": f"d-{order_id}", "order_id": order_id, "status": delivered})
        return order_id

    def add_in_flight(self, order_id: str = "o-in-flight", **kw: Any) -> str:
        """Reserved and waiting for payment: payment.process sent but not yet on the bus."""
        trace = TRACE_SUCCESS[:3]
        order = self.place(order_id, trace, "inventory_reserved", None, on_bus=2, **kw)
        self.hold_stock(order_id, order["product_id"], order["quantity"], "reserved")
        return order_id


def good_world(*, in_flight: bool = False) -> World:
    world = World()
    world.state.inventory = [
        {"product_id": p, "available": n, "reserved": 0, "initial": n} for p, n in INITIAL.items()
    ]
    for outcome in OUTCOMES:
        world.ids[outcome] = world.add_outcome(outcome, key=f"key-{outcome}")
    if in_flight:
        world.ids["in_flight"] = world.add_in_flight()
    # At-least-once delivery: the recorder sees a redelivered copy under the same message_id.
    first = world.history.messages[1]
    world.history.messages.append(
        RecordedMessage(world.tick(), first.routing_key, first.message_id, first.order_id, redelivered=True,
                        causation_id=first.causation_id, app_id=first.app_id)
    )
    world.state.queues = {queue_name(s): 0 for s in SERVICES} | {dead_letter_queue_name(s): 0 for s in SERVICES}
    world.state.read_at = world.tick() + 1.0
    return world
