"""Small helpers the integration tests share (bounded polling, raw publishing, crash control)."""

from __future__ import annotations

import json
import uuid
from typing import TypeVar

from harness.broker import publish_raw, run_sync
from harness.client import SagaClient

T = TypeVar("T")


def place(client: SagaClient, **kwargs) -> str:
    response = client.place_order(**kwargs)
    assert response.status_code == 201, response.text
    return response.json()["order_id"]


def finished(client: SagaClient, order_id: str, timeout: float = 30.0) -> dict:
    order = client.wait_terminal([order_id], timeout)[order_id]
    assert order["status"] in ("completed", "failed"), f"not terminal after {timeout}s: {order}"
    return order


def trace(order: dict) -> tuple[str, ...]:
    return tuple(h["event"] for h in order["history"])


def republish(amqp_url: str, routing_key: str, envelope: dict) -> None:
    body = json.dumps(envelope).encode()
    run_sync(publish_raw(amqp_url, routing_key, body, message_id=envelope.get("message_id")))


def unique_user() -> str:
    return f"user_{uuid.uuid4().hex[:10]}"
