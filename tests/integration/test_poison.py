"""Issue #14: poison on every service's queue while orders run. Every poisoned message ends in
its service's dead-letter queue with its reason, no consumer stalls, /ready stays 200, and the
orders placed after the poison complete."""

from __future__ import annotations

import asyncio
import json
import uuid

import aio_pika
import pytest

from harness.broker import peek_dead_letters, run_sync, take_dead_letters
from harness.waiting import wait_until
from system.contracts import EXCHANGE, SERVICES
from tests.integration.helpers import finished, place

# Forged and redelivered commands, per-service command keys: the orchestration's bus (issue #15).
pytestmark = pytest.mark.orchestration_only

SUCCEED = {"payment": "succeed", "delivery": "succeed"}
NESTED = b"[" * 1000  # the ~1 KB message whose RecursionError used to stall a consumer for good
PER_QUEUE = 40  # more than the prefetch (32): once, these froze the saga


def envelope(key: str, payload: dict) -> bytes:
    return json.dumps({"message_id": "x", "type": key, "order_id": f"forged-{uuid.uuid4()}",
                       "payload": payload, "occurred_at": "", "causation_id": None}).encode()


# (routing key, body, words of the dead letter's reason); the first key of each is on that service's queue
POISON = {
    "order": [("payment.completed", NESTED, "RecursionError"),
              ("inventory.reserved", b'{"message_id": "m", "type": "inventory.reserved", "order_id": "o", '
                                     b'"payload": {"available": NaN}}', "NaN"),
              ("delivery.failed", b"\xff\xfe\x00", "not valid JSON")],
    "inventory": [("inventory.reserve", NESTED, "RecursionError"),
                  ("inventory.reserve", envelope("inventory.reserve", {"product_id": "product_1", "quantity": -3}),
                   "payload.quantity must be greater than 0"),
                  ("inventory.reserve", envelope("inventory.reserve", {"product_id": "product_9", "quantity": 1}),
                   "not a known product"),
                  ("inventory.release", envelope("inventory.release", {"product_id": "product_1", "quantity": 1.5}),
                   "payload.quantity must be an integer")],
    "payment": [("payment.process", NESTED, "RecursionError"),
                ("payment.process", envelope("payment.process", {"user_id": "u", "amount": -5}),
                 "payload.amount must be greater than 0"),
                ("payment.process", b'{"message_id": "m", "type": "payment.process", "order_id": "o", '
                                    b'"payload": {"user_id": "u", "amount": 1e400}}', "out of range"),
                ("payment.refund", envelope("payment.refund", {"amount": 0}), "payload.amount must be greater than 0")],
    "delivery": [("delivery.schedule", NESTED, "RecursionError"),
                 ("delivery.schedule", envelope("delivery.schedule", {"user_id": "u", "product_id": "product_1",
                                                                      "quantity": 0}),
                  "payload.quantity must be greater than 0")],
}


async def publish_all(amqp_url: str, batch: list[tuple[str, str, bytes]]) -> None:
    """(message id, routing key, body) over one confirmed channel, as any publisher could."""
    connection = await aio_pika.connect(amqp_url, timeout=5)
    async with connection:
        channel = await connection.channel(publisher_confirms=True, on_return_raises=True)
        exchange = await channel.get_exchange(EXCHANGE)
        await asyncio.gather(*(
            exchange.publish(aio_pika.Message(body=body, message_id=mid, delivery_mode=aio_pika.DeliveryMode.PERSISTENT),
                             routing_key=key, mandatory=True)
            for mid, key, body in batch
        ))


def test_the_saga_keeps_completing_orders_while_poison_arrives_on_every_queue(saga_client):
    expected: dict[str, tuple[str, str]] = {}  # message id -> (its DLQ, words of its reason)
    batch = []
    for service, kinds in POISON.items():
        nested_key = kinds[0][0]
        for n in range(PER_QUEUE):
            mid = f"poison-{service}-nested-{n}-{uuid.uuid4()}"
            batch.append((mid, nested_key, NESTED))
            expected[mid] = (f"saga.{service}.dlq", "RecursionError")
        for key, body, reason in kinds[1:]:
            mid = f"poison-{service}-{uuid.uuid4()}"
            batch.append((mid, key, body))
            expected[mid] = (f"saga.{service}.dlq", reason)
    url = saga_client.endpoints.amqp_url
    run_sync(publish_all(url, batch[: len(batch) // 2]))
    orders = [place(saga_client, product_id="product_1", quantity=1, amount=2.5, force=SUCCEED) for _ in range(3)]
    run_sync(publish_all(url, batch[len(batch) // 2:]))
    orders += [place(saga_client, product_id="product_2", quantity=1, amount=1.0, force=SUCCEED) for _ in range(3)]

    for order_id in orders:
        assert finished(saga_client, order_id, timeout=60)["status"] == "completed"
    letters = wait_until(
        lambda: run_sync(peek_dead_letters(url)),
        lambda ls: set(expected) <= {dl.message_id for dl in ls},
        what="every poisoned message among the dead letters", timeout=60,
    )
    try:
        for letter in (dl for dl in letters if dl.message_id in expected):
            queue, reason = expected[letter.message_id]
            assert letter.queue == queue and reason in letter.reason, letter
        for service in SERVICES:
            ready = saga_client.http.get(saga_client.endpoints.services[service] + "/ready")
            assert ready.status_code == 200, ready.text
    finally:
        assert run_sync(take_dead_letters(url, set(expected))) == len(expected)
