"""A tap on the message bus: a queue of our own bound to `#` on `saga_events`.

Every message any service publishes lands in the tap as well, with its body and properties, so a
scenario can read the trace the bus really carried and re-publish a real message unchanged.
It is `harness.recorder.Tap` (its own loop in a background thread, so sync steps can use it) with
a durable queue: the queue outlives a broker restart in the middle of a scenario, and its
`x-expires` removes it by itself if a run dies before `stop()`.
"""

from __future__ import annotations

import asyncio
import threading
import time
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, fields, replace
from typing import Any

from aio_pika.abc import AbstractIncomingMessage

from harness.broker import publish_raw, run_sync, with_message_id
from harness.model import RecordedMessage
from harness.recorder import Tap, recorded_from


@dataclass(frozen=True)
class TappedMessage(RecordedMessage):
    """A RecordedMessage (the same fields, parsed by the same code, timed by the same clock: the
    harness's at receipt) that keeps the body it came with, so a scenario can send it again."""

    body: bytes = b""

    def recorded(self) -> RecordedMessage:
        return RecordedMessage(**{f.name: getattr(self, f.name) for f in fields(RecordedMessage)})


def tapped(routing_key: str, body: bytes, message_id: str | None, correlation_id: str | None,
           redelivered: bool, received_at: float, headers: Mapping[str, Any] | None = None,
           app_id: str | None = None) -> TappedMessage:
    """One delivery, as harness.recorder records it (a malformed body included), with its body."""
    seen = recorded_from(body, routing_key, message_id=message_id, correlation_id=correlation_id,
                         redelivered=redelivered, at=received_at, headers=headers, app_id=app_id)
    return TappedMessage(**{f.name: getattr(seen, f.name) for f in fields(RecordedMessage)}, body=body)


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
                         incoming.correlation_id, bool(incoming.redelivered), time.time(), incoming.headers,
                         incoming.app_id)
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
