"""The load generator: worker threads placing the seeded stream of orders at a fixed rate,
every request logged as a Jepsen operation.

Order i is due at start + i / rate (an open schedule: a slow answer does not slow the offered
load, it only ties up a worker). `idempotent_retry` orders are sent twice with the same
Idempotency-Key, and again after an unknown outcome; that second answer must name the same order.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace

import httpx

from harness.client import SagaClient
from harness.experiments.schedule import OrderPlan, plan_order
from harness.oplog import OpLog, describe_error, next_process, outcome_of_error, outcome_of_status
from harness.runner.layout import Endpoints
from harness.stock_boundary import available_of

MAX_KEY_ATTEMPTS = 4  # an idempotent order is retried after `info` until its outcome is known


@dataclass
class LoadStats:
    placed: int = 0  # orders planned and sent (first attempt)
    ok: int = 0
    fail: int = 0
    info: int = 0
    order_ids: set[str] = field(default_factory=set)


class LoadGenerator:
    def __init__(
        self,
        endpoints: Endpoints,
        oplog: OpLog,
        *,
        seed: int,
        mix: dict[str, float],
        rate: float,
        workers: int,
        min_orders: int,
        max_orders: int,
        run_tag: str,
        timeout_s: float = 5.0,
        keep_going: Callable[[], bool] = lambda: False,
        first_process: int = 0,
    ) -> None:
        self.endpoints = endpoints
        self.oplog = oplog
        self.seed = seed
        self.mix = mix
        self.rate = rate
        self.workers = workers
        self.min_orders = min_orders
        self.max_orders = max(max_orders, min_orders)
        self.run_tag = run_tag
        self.timeout_s = timeout_s
        self.keep_going = keep_going
        self.first_process = first_process
        self.stats = LoadStats()
        self._lock = threading.Lock()
        self._next = 0
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []
        self._t0 = 0.0

    # -- lifecycle ---------------------------------------------------------------------------------
    def start(self, t0_monotonic: float | None = None) -> None:
        self._t0 = time.monotonic() if t0_monotonic is None else t0_monotonic
        for w in range(self.workers):
            thread = threading.Thread(target=self._work, args=(w,), name=f"load-{w}", daemon=True)
            self._threads.append(thread)
            thread.start()

    def stop(self) -> None:
        self._stop.set()

    def join(self, timeout: float | None = None) -> bool:
        deadline = None if timeout is None else time.monotonic() + timeout
        for thread in self._threads:
            thread.join(None if deadline is None else max(0.0, deadline - time.monotonic()))
        return not any(t.is_alive() for t in self._threads)

    def running(self) -> bool:
        return any(t.is_alive() for t in self._threads)

    def _claim(self) -> int | None:
        with self._lock:
            index = self._next
            if index >= self.max_orders or self._stop.is_set():
                return None
            if index >= self.min_orders and not self.keep_going():
                return None
            self._next += 1
            return index

    # -- a worker ----------------------------------------------------------------------------------
    def _work(self, worker: int) -> None:
        process = self.first_process + worker
        with SagaClient(self.endpoints, timeout=self.timeout_s) as client:
            while (index := self._claim()) is not None:
                due = self._t0 + index / self.rate
                if self._stop.wait(max(0.0, due - time.monotonic())):
                    return
                plan = plan_order(self.seed, index, self.mix, self.run_tag)
                with self._lock:
                    self.stats.placed += 1
                process = self._place(client, plan, process)

    def _place(self, client: SagaClient, plan: OrderPlan, process: int) -> int:
        """Place one planned order (twice, for an idempotent one); return the worker's process id."""
        if plan.stock_offset is not None:
            plan = self._sized(client, plan)
        outcome, process = self._attempt(client, plan, process, attempt=1)
        if plan.idempotency_key is None:
            return process
        # The retry a client makes when it did not hear back, or just to be sure.
        for attempt in range(2, MAX_KEY_ATTEMPTS + 1):
            outcome, process = self._attempt(client, plan, process, attempt)
            if outcome != "info":
                break
        return process

    def _sized(self, client: SagaClient, plan: OrderPlan) -> OrderPlan:
        """A boundary order sized against the stock right now. If the stock cannot be read (a
        fault on the inventory service), it is sized against nothing left: one unit."""
        try:
            return plan.at_stock(available_of(client.inventory(), plan.product_id))
        except (httpx.HTTPError, ValueError):
            return replace(plan.at_stock(0), stock_seen=None)

    def _attempt(self, client: SagaClient, plan: OrderPlan, process: int, attempt: int) -> tuple[str, int]:
        value = {**plan.request_value(), "attempt": attempt}
        op = self.oplog.invoke(process, "place_order", value)
        try:
            response = client.place_order(
                plan.product_id, plan.quantity, plan.amount,
                user_id=plan.user_id, force=plan.force, idempotency_key=plan.idempotency_key,
            )
        except httpx.HTTPError as exc:
            outcome = outcome_of_error(exc)
            if outcome == "fail":
                self.oplog.fail(op, describe_error(exc))
            else:
                self.oplog.info(op, describe_error(exc))
            return self._count(outcome, process)
        outcome = outcome_of_status(response.status_code)
        if outcome == "ok":
            order_id = _order_id(response)
            if order_id is None:
                self.oplog.info(op, f"{response.status_code} without an order_id: {response.text[:200]}")
                return self._count("info", process)
            self.oplog.ok(op, {"order_id": order_id, "status_code": response.status_code})
            with self._lock:
                self.stats.order_ids.add(order_id)
        elif outcome == "fail":
            self.oplog.fail(op, f"{response.status_code}: {response.text[:200]}", {"status_code": response.status_code})
        else:
            self.oplog.info(op, f"{response.status_code}: {response.text[:200]}", {"status_code": response.status_code})
        return self._count(outcome, process)

    def _count(self, outcome: str, process: int) -> tuple[str, int]:
        with self._lock:
            setattr(self.stats, outcome, getattr(self.stats, outcome) + 1)
        # Jepsen: a process whose operation ended in `info` may still be running; retire it.
        return outcome, next_process(process, self.workers) if outcome == "info" else process


def _order_id(response: httpx.Response) -> str | None:
    try:
        order_id = response.json().get("order_id")
    except ValueError:
        return None
    return str(order_id) if order_id else None
