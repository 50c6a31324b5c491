"""The simulated client: plans a mix of orders from the seed and places them through the REAL
POST /orders logic (system/order/placement.py, Idempotency-Key rule included).

Order ids come from the seed's random bits, so a replay places the very same orders. Each kind
of order aims at one of the seed's outcomes, either by forcing it (as a test's `force` field does)
or through the real decision dice and the scarce product.
"""

from __future__ import annotations

import random
from collections import deque
from dataclasses import dataclass
from itertools import accumulate
from typing import Any

from harness.model import Operation
from harness.sim.clock import EventLog, VirtualClock
from harness.sim.faults import FaultInjector
from harness.sim.ids import uuid4_text
from system.catalog import INITIAL_STOCK
from system.decisions import FORCE_FAIL, FORCE_SUCCEED
from system.order.domain import Conflict, OrderRequest
from system.order.placement import OrderBook, PlaceOrder

SCARCE = "product_3"
# kind -> what it is for
ORDER_KINDS: dict[str, str] = {
    "dice": "product_1/2, outcome from the real decision dice (20% payment, 10% delivery failures)",
    "scarce": "product_3 (50 units), 5-20 units, dice: succeeds until the stock runs out",
    "success": "forced payment and delivery success",
    "payment_failed": "forced payment failure: inventory released",
    "delivery_failed": "forced delivery failure: payment refunded, inventory released",
    "insufficient": "more product_3 than exists: insufficient_inventory",
    "last_units": "product_3, forced success, sized to race for the last units (often exactly what is left)",
}
_DEFAULT_WEIGHTS = {
    "dice": 44, "scarce": 16, "last_units": 10, "success": 10, "payment_failed": 8, "delivery_failed": 8,
    "insufficient": 4,
}


@dataclass(frozen=True)
class PlannedOrder:
    index: int
    kind: str
    order_id: str
    request: OrderRequest
    idempotency_key: str


def plan_orders(count: int, mix: tuple[str, ...], rng: random.Random) -> list[PlannedOrder]:
    """`mix` cycles over the orders; empty: kinds drawn from the seed with the default weights."""
    kinds, cum_weights = list(_DEFAULT_WEIGHTS), list(accumulate(_DEFAULT_WEIGHTS.values()))
    plans = []
    # What the client believes is left of the scarce product if every earlier order of it took
    # its units: last_units orders ask for exactly that (or a share, or one more), while other
    # orders race for the same units, so the stock boundary is reached and crossed.
    left = INITIAL_STOCK[SCARCE]
    for i in range(count):
        kind = mix[i % len(mix)] if mix else rng.choices(kinds, cum_weights=cum_weights)[0]
        order_id = uuid4_text(rng)
        request = _request(kind, i, rng, left)
        if request.product_id == SCARCE and request.quantity <= left:
            left -= request.quantity
        plans.append(PlannedOrder(i, kind, order_id, request, f"sim-{order_id[:13]}"))
    return plans


def _request(kind: str, index: int, rng: random.Random, left: int) -> OrderRequest:
    product, quantity = rng.choice(("product_1", "product_2")), rng.randint(1, 3)
    pay = deliver = None
    if kind == "scarce":
        product, quantity = SCARCE, rng.randint(5, 20)
    elif kind == "last_units":
        # Mostly exactly what is left, else a share of it or one more than is left.
        exact, share, over = max(1, left), max(1, left // rng.randint(2, 4)), left + 1
        product, quantity = SCARCE, rng.choices((exact, share, over), (5, 4, 1))[0]
        pay = deliver = FORCE_SUCCEED
    elif kind == "insufficient":
        product, quantity = SCARCE, INITIAL_STOCK[SCARCE] + 1
    elif kind == "success":
        pay = deliver = FORCE_SUCCEED
    elif kind == "payment_failed":
        pay = FORCE_FAIL
    elif kind == "delivery_failed":
        pay, deliver = FORCE_SUCCEED, FORCE_FAIL
    elif kind != "dice":
        raise ValueError(f"unknown order kind {kind!r}; one of {', '.join(ORDER_KINDS)}")
    amount = round(quantity * rng.randint(100, 5000) / 100, 2)
    return OrderRequest(f"user_{index % 7}", product, quantity, amount, pay, deliver)


def request_body(request: OrderRequest) -> dict[str, Any]:
    """The POST /orders body the request came from."""
    force = {k: v for k, v in (("payment", request.force_payment), ("delivery", request.force_delivery)) if v}
    body: dict[str, Any] = {
        "user_id": request.user_id,
        "product_id": request.product_id,
        "quantity": request.quantity,
        "amount": request.amount,
    }
    if force:
        body["force"] = force
    return body


class SimClient:
    """Places the planned orders one per step; a `retry` fault re-sends one later with its key."""

    def __init__(
        self,
        plans: list[PlannedOrder],
        book: OrderBook,
        place: PlaceOrder,
        clock: VirtualClock,
        log: EventLog,
        injector: FaultInjector,
        operations: list[Operation],
    ) -> None:
        self.pending: deque[tuple[PlannedOrder, bool]] = deque((p, False) for p in plans)
        self.book = book
        self.place = place
        self.clock = clock
        self.log = log
        self.injector = injector
        self.operations = operations
        self.retries = 0
        self.journal: list[tuple[object, ...]] | None = None  # see SimService.journal

    def has_work(self) -> bool:
        return bool(self.pending)

    def place_next(self) -> None:
        plan, is_retry = self.pending.popleft()
        now = self.clock.now()
        value = {**request_body(plan.request), "idempotency_key": plan.idempotency_key}
        self.operations.append(Operation(plan.index, "invoke", "place_order", now, value))
        iso = self.clock.iso()
        result = self.place(self.book, plan.order_id, plan.request, plan.idempotency_key, iso)
        if self.journal is not None:
            self.journal.append(("place", plan.order_id, plan.request, plan.idempotency_key, iso))
        if isinstance(result, Conflict):
            self.operations.append(Operation(plan.index, "fail", "place_order", now, value, "409"))
            return
        order_id, status = result.order.order_id, result.order.status
        self.operations.append(
            Operation(plan.index, "ok", "place_order", now, {**value, "order_id": order_id, "status": status})
        )
        self.log.emit(f"place {plan.index} {order_id} {'retry' if is_retry else plan.kind}")
        if not is_retry and self.injector.client_retries():
            self.retries += 1
            # Later, at a random point among the orders still to come.
            self.pending.insert(self.injector.rng.randint(0, len(self.pending)), (plan, True))
