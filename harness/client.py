"""A synchronous client of the saga's HTTP APIs: place orders, follow them, read the final state.

Synchronous on purpose: pytest-bdd steps cannot be async, and Locust runs under gevent.
`read_state` is the harness's one reader of the whole state (check, chaos runs, BDD, the load
verdict): it pages through GET /orders and turns "cannot connect" into `Unreachable`, so a
command says what it could not reach instead of judging half a state. The HTTP transport is a
port: in-process tests pass one that serves the ASGI app (harness.inprocess).
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterable
from typing import Any

import httpx
from aiormq.exceptions import AMQPConnectionError

from harness.broker import peek_dead_letters, queue_depths, run_sync
from harness.exits import Unreachable
from harness.model import SystemState
from harness.runner.layout import Endpoints
from system.urls import redact_url

TERMINAL = ("completed", "failed")
ORDER_PAGE = 1000  # GET /orders' default page; the client follows X-Next-After to the end
NEXT_PAGE_HEADER = "X-Next-After"


class SagaClient:
    def __init__(
        self, endpoints: Endpoints, timeout: float = 10.0, *, transport: httpx.BaseTransport | None = None
    ) -> None:
        self.endpoints = endpoints
        self.http = httpx.Client(timeout=timeout, transport=transport)

    def close(self) -> None:
        self.http.close()

    def __enter__(self) -> SagaClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _url(self, service: str, path: str) -> str:
        base = self.endpoints.order_api if service == "order_api" else self.endpoints.services[service]
        return f"{base}{path}"

    # -- orders -------------------------------------------------------------------------
    def place_order(
        self,
        product_id: str = "product_1",
        quantity: int = 1,
        amount: float = 10.0,
        *,
        user_id: str | None = None,
        force: dict[str, str] | None = None,
        idempotency_key: str | None = None,
    ) -> httpx.Response:
        body: dict[str, Any] = {
            "user_id": user_id or f"user_{uuid.uuid4().hex[:8]}",
            "product_id": product_id,
            "quantity": quantity,
            "amount": amount,
        }
        if force:
            body["force"] = force
        headers = {"Idempotency-Key": idempotency_key} if idempotency_key else {}
        return self.http.post(self._url("order_api", "/orders"), json=body, headers=headers)

    def order(self, order_id: str) -> dict[str, Any] | None:
        response = self.http.get(self._url("order", f"/orders/{order_id}"))
        if response.status_code == 404:
            return None
        response.raise_for_status()
        return response.json()

    def orders(self, status: str | None = None, *, page: int = ORDER_PAGE) -> list[dict[str, Any]]:
        """Every order (with this status), oldest first: follows the pages to the last."""
        params: dict[str, Any] = {"limit": page}
        if status:
            params["status"] = status
        found: list[dict[str, Any]] = []
        while True:
            response = self.http.get(self._url("order", "/orders"), params=params).raise_for_status()
            found.extend(response.json())
            cursor = response.headers.get(NEXT_PAGE_HEADER)
            if not cursor:
                return found
            params["after"] = cursor

    def wait_terminal(
        self, order_ids: Iterable[str], timeout: float = 60.0, poll: float = 0.2
    ) -> dict[str, dict[str, Any]]:
        """Poll until every order is completed or failed, or the deadline passes; return the last reads."""
        pending = set(order_ids)
        seen: dict[str, dict[str, Any]] = {}
        deadline = time.monotonic() + timeout
        while pending and time.monotonic() < deadline:
            for order in self.orders():
                if order["order_id"] in pending:
                    seen[order["order_id"]] = order
                    if order["status"] in TERMINAL:
                        pending.discard(order["order_id"])
            if pending:
                time.sleep(poll)
        return seen

    # -- the rest of the state ------------------------------------------------------------
    def inventory(self) -> list[dict[str, Any]]:
        return self.http.get(self._url("inventory", "/inventory")).raise_for_status().json()

    def stock_of(self, product_id: str) -> dict[str, Any]:
        return next(p for p in self.inventory() if p["product_id"] == product_id)

    def reservations(self, order_id: str | None = None) -> list[dict[str, Any]]:
        params = {"order_id": order_id} if order_id else {}
        return self.http.get(self._url("inventory", "/inventory/reservations"), params=params).raise_for_status().json()

    def payments(self, order_id: str | None = None) -> list[dict[str, Any]]:
        params = {"order_id": order_id} if order_id else {}
        return self.http.get(self._url("payment", "/payments"), params=params).raise_for_status().json()

    def deliveries(self, order_id: str | None = None) -> list[dict[str, Any]]:
        params = {"order_id": order_id} if order_id else {}
        return self.http.get(self._url("delivery", "/deliveries"), params=params).raise_for_status().json()

    def ready(self, service: str) -> tuple[bool, str]:
        """Whether every process of the service is ready (each replica asked on its own port:
        the service's shared port answers from one the kernel picks), and the reason it gives;
        with replicas, the reasons of those not ready, by name."""
        answers: dict[str, tuple[bool, str]] = {}
        for process, base in self.endpoints.process_urls(service).items():
            try:
                response = self.http.get(f"{base}/ready", timeout=2.0)
                answers[process] = (response.status_code == 200, response.json().get("reason", ""))
            except (httpx.HTTPError, ValueError) as exc:
                answers[process] = (False, f"{type(exc).__name__}: {exc}")
        if len(answers) == 1:
            return next(iter(answers.values()))
        return (all(ok for ok, _ in answers.values()),
                "; ".join(f"{process}: {why}" for process, (ok, why) in answers.items() if not ok))

    def stats(self, service: str) -> dict[str, int]:
        """The service's message counters (handled, duplicates, dead_lettered, published, ...) from
        /ready, summed over every process of it: with replicas, any of them may have taken a
        message. Raises httpx.HTTPError (or ValueError) if a process does not answer, rather than
        give a sum that drops when one is away and jumps when it is back."""
        total: dict[str, int] = {}
        for base in self.endpoints.process_urls(service).values():
            counters = self.http.get(f"{base}/ready", timeout=2.0).json()["stats"]
            for name, count in counters.items():
                total[name] = total.get(name, 0) + int(count)
        return total

    def read_state(self, *, include_broker: bool = True) -> SystemState:
        """Everything the checker reads, in one go. Raises Unreachable naming the service or
        the broker that did not answer (or a service that answered 5xx)."""
        try:
            state = SystemState(
                orders=self.orders(),
                inventory=self.inventory(),
                reservations=self.reservations(),
                payments=self.payments(),
                deliveries=self.deliveries(),
                read_at=time.time(),
            )
        except httpx.TransportError as exc:
            raise Unreachable(_what(exc), exc) from None
        except httpx.HTTPStatusError as exc:
            if exc.response.status_code < 500:
                raise  # the harness asked wrongly: a bug, not an unknown
            raise Unreachable(f"{_what(exc)} (it answered {exc.response.status_code})") from None
        if include_broker:
            try:
                state.queues = run_sync(queue_depths(self.endpoints.amqp_url))
                state.dead_letters = run_sync(peek_dead_letters(self.endpoints.amqp_url))
            except (OSError, TimeoutError, AMQPConnectionError) as exc:
                raise Unreachable(f"the broker at {redact_url(self.endpoints.amqp_url)}", exc) from None
        return state


def _what(exc: httpx.RequestError | httpx.HTTPStatusError) -> str:
    """The service URL a transport error was about (its path dropped: the host is the news)."""
    try:
        url = exc.request.url
    except RuntimeError:  # an error raised before any request was made
        return "a service"
    return f"the service at {redact_url(str(url.copy_with(path='/', query=None)))}"
