"""A tap on the message bus: a queue of our own bound to `#` on `saga_events`.

Every message any service publishes lands in the tap as well, with its body and properties, so a
scenario can read the trace the bus really carried and re-publish a real message unchanged.
Synchronous on purpose (pytest-bdd steps cannot be async): each call opens a short connection
through `harness.broker.run_sync` and the queue keeps what arrives in between.

The queue is durable with an `x-expires`, so it outlives a broker restart in the middle of a
scenario and still disappears by itself if a run dies before `stop()`.
"""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import aio_pika

from harness.broker import publish_raw, run_sync
from harness.model import RecordedMessage
from system.contracts import EXCHANGE

TAP_EXPIRES_MS = 10 * 60 * 1000


@dataclass(frozen=True)
class TappedMessage:
    """One message as the tap received it: enough to record it and to send it again."""

    routing_key: str
    message_id: str
    order_id: str
    body: bytes
    received_at: float
    redelivered: bool = False
    causation_id: str | None = None
    occurred_at: str = ""
    payload: dict[str, Any] = field(default_factory=dict)

    def recorded(self) -> RecordedMessage:
        return RecordedMessage(
            time=_epoch(self.occurred_at) or self.received_at,
            routing_key=self.routing_key,
            message_id=self.message_id,
            order_id=self.order_id,
            redelivered=self.redelivered,
            causation_id=self.causation_id,
            payload=self.payload,
        )


def _epoch(iso: str) -> float | None:
    try:
        return datetime.fromisoformat(iso).timestamp()
    except (TypeError, ValueError):
        return None


def tapped(routing_key: str, body: bytes, message_id: str | None, correlation_id: str | None,
           redelivered: bool, received_at: float) -> TappedMessage:
    """Read what we can from the envelope; a malformed body is still recorded, with what the properties say."""
    try:
        envelope = json.loads(body)
        if not isinstance(envelope, dict):
            envelope = {}
    except (UnicodeDecodeError, json.JSONDecodeError):
        envelope = {}
    payload = envelope.get("payload")
    return TappedMessage(
        routing_key=routing_key,
        message_id=str(message_id or envelope.get("message_id") or ""),
        order_id=str(envelope.get("order_id") or correlation_id or ""),
        body=body,
        received_at=received_at,
        redelivered=redelivered,
        causation_id=envelope.get("causation_id"),
        occurred_at=str(envelope.get("occurred_at") or ""),
        payload=payload if isinstance(payload, dict) else {},
    )


class BusTap:
    def __init__(self, amqp_url: str, name: str | None = None) -> None:
        self.amqp_url = amqp_url
        self.queue = name or f"harness.tap.{uuid.uuid4().hex[:12]}"
        self.messages: list[TappedMessage] = []

    def start(self) -> BusTap:
        run_sync(self._declare())
        return self

    def drain(self) -> list[TappedMessage]:
        """Take everything that arrived since the last drain; return all messages seen so far."""
        self.messages.extend(run_sync(self._take()))
        return self.messages

    def stop(self) -> None:
        run_sync(self._delete())

    def of_order(self, order_id: str) -> list[TappedMessage]:
        return [m for m in self.drain() if m.order_id == order_id]

    def recorded(self) -> list[RecordedMessage]:
        return [m.recorded() for m in self.drain()]

    async def _declare(self) -> None:
        connection = await aio_pika.connect(self.amqp_url, timeout=5)
        async with connection:
            channel = await connection.channel()
            exchange = await channel.declare_exchange(EXCHANGE, aio_pika.ExchangeType.TOPIC, durable=True)
            queue = await channel.declare_queue(
                self.queue, durable=True, arguments={"x-expires": TAP_EXPIRES_MS}
            )
            await queue.bind(exchange, routing_key="#")

    async def _take(self) -> list[TappedMessage]:
        connection = await aio_pika.connect(self.amqp_url, timeout=5)
        taken: list[TappedMessage] = []
        async with connection:
            channel = await connection.channel()
            queue = await channel.declare_queue(self.queue, passive=True)
            while (message := await queue.get(no_ack=True, fail=False)) is not None:
                taken.append(
                    tapped(message.routing_key or "", message.body, message.message_id,
                           message.correlation_id, bool(message.redelivered), time.time())
                )
        return taken

    async def _delete(self) -> None:
        connection = await aio_pika.connect(self.amqp_url, timeout=5)
        async with connection:
            channel = await connection.channel()
            await channel.queue_delete(self.queue)


def first_unique(messages: list[TappedMessage]) -> list[TappedMessage]:
    """The bus trace without repeats: a re-published message keeps its message_id."""
    seen: set[str] = set()
    unique = []
    for m in messages:
        if m.message_id not in seen:
            seen.add(m.message_id)
            unique.append(m)
    return unique


def publish_again(amqp_url: str, messages: list[TappedMessage], concurrency: int = 8) -> int:
    """Deliver each message a second time, byte for byte, with its own message_id (a duplicate)."""

    async def send_all() -> None:
        gate = asyncio.Semaphore(concurrency)

        async def send(m: TappedMessage) -> None:
            async with gate:
                await publish_raw(amqp_url, m.routing_key, m.body, message_id=m.message_id,
                                  correlation_id=m.order_id or None)

        await asyncio.gather(*(send(m) for m in messages))

    run_sync(send_all())
    return len(messages)
