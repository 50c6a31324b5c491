"""One scenario's world: the orders it placed, what it recorded, and the faults it must undo.

Steps share a `SagaWorld` (the `saga_world` fixture) instead of many small fixtures: it records a
Jepsen-style history as the scenario goes (client operations, the bus through a tap, fault
windows), so the invariant step can hand the checker the same shapes the chaos runner does.

Everything that disturbs the system is registered on `cleanup` as it happens, and the fixture
closes it in teardown: faults heal and killed services come back even when a step fails.
"""

from __future__ import annotations

import asyncio
import logging
import os
import time
import uuid
from collections.abc import Callable
from contextlib import ExitStack
from dataclasses import dataclass, field
from typing import Any, TypeVar

import aio_pika
import httpx

from harness.bdd.tap import BusTap
from harness.broker import peek_dead_letters, run_sync
from harness.client import TERMINAL, SagaClient
from harness.model import FaultEvent, History, Operation, SystemState
from harness.quiescence import wait_quiescent
from harness.targets.target import Target

log = logging.getLogger("harness.bdd")

# Bounded waits. A saga takes well under a second on a quiet machine; the deadlines leave room
# for a loaded CI box and for restarts, and SAGA_BDD_DEADLINE_S raises them all at once.
DEADLINE_S = float(os.environ.get("SAGA_BDD_DEADLINE_S", "45"))
POLL_S = 0.1
T = TypeVar("T")


# What a call to RabbitMQ raises while the broker is away. The broker is shared: another run on
# the machine may restart it at any moment, and the services ride that out, so the steps do too.
BROKER_ERRORS: tuple[type[BaseException], ...] = (OSError, asyncio.TimeoutError, aio_pika.exceptions.AMQPError)


def with_broker(call: Callable[[], T], timeout: float = DEADLINE_S) -> T:
    """Run a call that talks to RabbitMQ, retrying (bounded) while the broker is unreachable."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            return call()
        except BROKER_ERRORS as exc:
            if time.monotonic() > deadline:
                raise
            log.warning("broker unreachable (%s); retrying", exc)
            time.sleep(0.5)


@dataclass
class FaultWindow:
    kind: str
    target: str
    start: float
    end: float | None = None
    detail: dict[str, Any] = field(default_factory=dict)
    heal: Callable[[], None] = field(default=lambda: None, repr=False)

    def event(self) -> FaultEvent:
        return FaultEvent(self.kind, self.target, self.start, self.end, dict(self.detail))


@dataclass
class SagaWorld:
    target: Target  # the session's (harness.pytest_plugin)
    client: SagaClient
    orders: list[str] = field(default_factory=list)  # every order this scenario placed, in order
    responses: list[httpx.Response] = field(default_factory=list)
    force: dict[str, str] = field(default_factory=lambda: {"payment": "succeed", "delivery": "succeed"})
    operations: list[Operation] = field(default_factory=list)
    faults: list[FaultWindow] = field(default_factory=list)
    expected_dead_letters: set[str] = field(default_factory=set)
    injected: dict[str, str] = field(default_factory=dict)  # new-id copies a step sent: copy -> original
    notes: dict[str, Any] = field(default_factory=dict)  # snapshots steps compare against later
    tap: BusTap | None = None
    cleanup: ExitStack = field(default_factory=ExitStack)
    run_id: str = field(default_factory=lambda: uuid.uuid4().hex[:8])

    # -- orders ---------------------------------------------------------------------------
    @property
    def order_id(self) -> str:
        """The last order placed: "the order" in a feature."""
        assert self.orders, "no order was placed in this scenario yet"
        return self.orders[-1]

    @property
    def customer(self) -> str:
        """One customer per scenario, so a retried request is the very same request."""
        return f"customer-{self.run_id}"

    def key(self, label: str) -> str:
        """A feature's Idempotency-Key label made unique to this run (the stores outlive runs)."""
        return f"{label}-{self.run_id}"

    def place(
        self,
        product_id: str,
        quantity: int,
        amount: float,
        *,
        force: dict[str, str] | None = None,
        idempotency_key: str | None = None,
    ) -> httpx.Response:
        """POST /orders and record it as a Jepsen operation (a timeout is `info`, never `fail`)."""
        value: dict[str, Any] = {"product_id": product_id, "quantity": quantity, "amount": amount}
        if idempotency_key:
            value["idempotency_key"] = idempotency_key
        self._op("invoke", value)
        try:
            response = self.client.place_order(
                product_id, quantity, amount, user_id=self.customer,
                force=self.force if force is None else force, idempotency_key=idempotency_key,
            )
        except httpx.ConnectError as exc:  # never sent: certainly no order
            self._op("fail", value, error=f"{type(exc).__name__}: {exc}")
            raise
        except httpx.TransportError as exc:  # sent, answer lost: the order may exist
            self._op("info", value, error=f"{type(exc).__name__}: {exc}")
            raise
        self.responses.append(response)
        if response.status_code in (200, 201):
            order_id = response.json()["order_id"]
            self._op("ok", {**value, "order_id": order_id})
            if order_id not in self.orders:
                self.orders.append(order_id)
        else:
            self._op("fail", value, error=f"HTTP {response.status_code}: {response.text[:200]}")
        return response

    def _op(self, kind: str, value: dict[str, Any], error: str | None = None) -> None:
        self.operations.append(Operation(0, kind, "place_order", time.time(), dict(value), error))  # type: ignore[arg-type]

    def finish(self, order_ids: list[str] | None = None, timeout: float = DEADLINE_S) -> dict[str, dict]:
        """Wait (bounded) until the orders are completed or failed; return their last reads."""
        ids = list(order_ids if order_ids is not None else self.orders)
        seen = self.client.wait_terminal(ids, timeout=timeout)
        stuck = {i: seen.get(i, {}).get("status", "missing") for i in ids if seen.get(i, {}).get("status") not in TERMINAL}
        assert not stuck, f"orders not finished after {timeout:.0f}s: {stuck}"
        return seen

    # -- faults ------------------------------------------------------------------------------
    def add_fault(self, kind: str, target: str, undo: Callable[[], None], **detail: Any) -> FaultWindow:
        """Record a fault window and make sure `undo` runs once: at heal time or in teardown."""
        window = FaultWindow(kind, target, time.time(), detail=detail)
        self.faults.append(window)

        def heal_once() -> None:
            if window.end is None:
                undo()
                window.end = time.time()
                log.info("healed %s on %s", kind, target)

        window.heal = heal_once
        self.cleanup.callback(heal_once)
        return window

    def find_active(self, kind: str, target: str) -> FaultWindow | None:
        for window in reversed(self.faults):
            if window.kind == kind and window.target == target and window.end is None:
                return window
        return None

    def active_fault(self, kind: str, target: str) -> FaultWindow:
        window = self.find_active(kind, target)
        assert window is not None, f"no active {kind} fault on {target} in this scenario"
        return window

    def heal_all(self) -> None:
        for window in reversed(self.faults):
            window.heal()

    # -- the rest of the system ------------------------------------------------------------
    def service_stats(self, service: str) -> dict[str, int]:
        """The service's message counters summed over its processes (SagaClient.stats); empty
        while one of them does not answer."""
        try:
            return self.client.stats(service)
        except (httpx.HTTPError, ValueError, KeyError):
            return {}

    def wait_quiet(self, timeout: float = DEADLINE_S) -> bool:
        """Quiescence (harness.quiescence) for the whole system: the scenario's orders are
        followed by its own steps, so only the messaging must be quiet here."""
        return wait_quiescent(self.client, None, deadline_s=timeout, settle_s=0, say=lambda line: None).reached

    def dead_letter_ids(self) -> set[str]:
        letters = with_broker(lambda: run_sync(peek_dead_letters(self.target.endpoints.amqp_url)))
        return {dl.message_id for dl in letters}

    def snapshot(self, order_id: str) -> dict[str, Any]:
        """Everything a customer or a shop owner could see about one order, for before/after."""
        order = self.client.order(order_id) or {}
        product = order.get("product_id")
        return {
            "order": {k: order.get(k) for k in ("status", "failure_reason", "history")},
            "payments": self.client.payments(order_id),
            "deliveries": self.client.deliveries(order_id),
            "reservations": self.client.reservations(order_id),
            "stock": self.client.stock_of(product) if product else None,
        }

    # -- history ----------------------------------------------------------------------------
    def history(self) -> History:
        messages = self.tap.recorded() if self.tap is not None else []
        events = [w.event() for w in self.faults]
        ends = [w.end for w in self.faults]
        healed_at = max(ends) if ends and all(e is not None for e in ends) else None  # type: ignore[type-var]
        return History(messages=messages, operations=list(self.operations), faults=events, healed_at=healed_at,
                       injected=dict(self.injected), style=self.target.style)

    def state(self) -> SystemState:
        return with_broker(self.client.read_state)
