"""A tap on the message bus: a queue of our own bound to `#` on `saga_events`.

Every message any service publishes lands in the tap as well, with its body and properties, so a
scenario can read the trace the bus really carried and re-publish a real message unchanged.
It is `harness.recorder.Tap` (its own loop in a background thread, so sync steps can use it) with
a durable queue: the queue outlives a broker restart in the middle of a scenario, and its
`x-expires` removes it by itself if a run dies before `stop()`.
"""

from __future__ import annotations

import asyncio
import json
import threading
import time
import uuid
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any

from aio_pika.abc import AbstractIncomingMessage

from harness.broker import publish_raw, run_sync, with_message_id
from harness.model import RecordedMessage
from harness.recorder import Tap


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


class BusTap(Tap):
    """harness.recorder's tap, keeping each message whole (body included) so it can be re-sent."""

    prefix = "harness.bdd.tap"

    def __init__(self, amqp_url: str) -> None:
        # Durable: a scenario that restarts the broker keeps what was published meanwhile.
        super().__init__(amqp_url, durable=True)
        self._lock = threading.Lock()
        self._messages: list[TappedMessage] = []

    async def on_message(self, incoming: AbstractIncomingMessage) -> None:
        message = tapped(incoming.routing_key or "", incoming.body, incoming.message_id,
                         incoming.correlation_id, bool(incoming.redelivered), time.time())
        with self._lock:
            self._messages.append(message)

    @property
    def messages(self) -> list[TappedMessage]:
        """Everything the tap received so far, in arrival order."""
        with self._lock:
            return list(self._messages)

    def settle(self, timeout: float = 10.0) -> bool:
        """Wait (bounded) until the tap queue is empty and quiet, so `messages` is complete."""
        return self.drain(timeout=timeout)

    def of_order(self, order_id: str) -> list[TappedMessage]:
        return [m for m in self.messages if m.order_id == order_id]

    def recorded(self) -> list[RecordedMessage]:
        self.settle()
        return [m.recorded() for m in self.messages]


def first_unique(messages: list[TappedMessage]) -> list[TappedMessage]:
    """The bus trace without repeats: a re-published message keeps its message_id."""
    seen: set[str] = set()
    unique = []
    for m in messages:
        if m.message_id not in seen:
            seen.add(m.message_id)
            unique.append(m)
    return unique


def with_new_id(message: TappedMessage, message_id: str | None = None) -> TappedMessage:
    """The same message as a sender's retry would send it: same content, a fresh message_id."""
    fresh = message_id or str(uuid.uuid4())
    return replace(message, message_id=fresh, body=with_message_id(message.body, fresh))


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
