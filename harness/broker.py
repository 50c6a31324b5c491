"""Read-only views of the broker the checker needs: queue depths and the dead letters.

Dead letters are peeked, not taken: each is fetched and put back (nack with requeue), so a
check never changes what it looks at.
"""

from __future__ import annotations

import asyncio
import json
import threading
from collections.abc import Coroutine
from typing import Any, TypeVar

import aio_pika

from harness.model import DeadLetter
from system.access import HARNESS
from system.contracts import SERVICES, dead_letter_queue_name, queue_name

T = TypeVar("T")


def run_sync(coro: Coroutine[Any, Any, T]) -> T:
    """Run a coroutine to completion from sync code, even if this thread already has a loop."""
    result: dict[str, Any] = {}

    def target() -> None:
        try:
            result["value"] = asyncio.run(coro)
        except BaseException as exc:  # noqa: BLE001 - re-raised in the caller's thread
            result["error"] = exc

    thread = threading.Thread(target=target, name="harness-broker")
    thread.start()
    thread.join()
    if "error" in result:
        raise result["error"]
    return result["value"]


def with_message_id(body: bytes, message_id: str) -> bytes:
    """The same envelope under another message_id, as a sender's retry would send it.

    A body that is not an envelope (a poison message) is copied as it is.
    """
    try:
        envelope = json.loads(body)
    except ValueError:
        return body
    if not isinstance(envelope, dict):
        return body
    return json.dumps({**envelope, "message_id": message_id}, separators=(",", ":")).encode()


def all_queue_names() -> list[str]:
    return [queue_name(s) for s in SERVICES] + [dead_letter_queue_name(s) for s in SERVICES]


async def queue_depths(amqp_url: str) -> dict[str, int]:
    connection = await aio_pika.connect(amqp_url, timeout=5)
    depths: dict[str, int] = {}
    async with connection:
        for name in all_queue_names():
            channel = await connection.channel()
            try:
                queue = await channel.declare_queue(name, passive=True)
                depths[name] = queue.declaration_result.message_count or 0
            except aio_pika.exceptions.ChannelClosed:
                depths[name] = 0  # never declared: nothing in it
    return depths


async def peek_dead_letters(amqp_url: str, limit: int = 10_000) -> list[DeadLetter]:
    connection = await aio_pika.connect(amqp_url, timeout=5)
    letters: list[DeadLetter] = []
    async with connection:
        channel = await connection.channel()
        for service in SERVICES:
            name = dead_letter_queue_name(service)
            try:
                queue = await channel.declare_queue(name, passive=True)
            except aio_pika.exceptions.ChannelClosed:
                channel = await connection.channel()
                continue
            held = []
            for _ in range(min(limit, queue.declaration_result.message_count or 0)):
                message = await queue.get(no_ack=False, fail=False)
                if message is None:
                    break
                held.append(message)
                headers = message.headers or {}
                letters.append(
                    DeadLetter(
                        queue=name,
                        routing_key=str(headers.get("x-original-routing-key") or message.routing_key or ""),
                        message_id=message.message_id or "",
                        reason=str(headers.get("x-dead-letter-reason") or _x_death_reason(headers)),
                        order_id=message.correlation_id,
                    )
                )
            for message in held:  # put them all back, in order
                await message.nack(requeue=True)
    return letters


def _x_death_reason(headers: dict) -> str:
    deaths = headers.get("x-death") or []
    if deaths and isinstance(deaths, list):
        first = deaths[0]
        return f"broker dead-lettered it: {first.get('reason', 'unknown')}"
    return ""


async def publish_raw(
    amqp_url: str, routing_key: str, body: bytes, *, message_id: str | None = None, correlation_id: str | None = None
) -> None:
    """Publish bytes to `saga_events` as any service would (persistent, confirmed, mandatory)."""
    from system.contracts import EXCHANGE

    connection = await aio_pika.connect(amqp_url, timeout=5)
    async with connection:
        channel = await connection.channel(publisher_confirms=True, on_return_raises=True)
        exchange = await channel.get_exchange(EXCHANGE)
        await exchange.publish(
            aio_pika.Message(
                body=body,
                message_id=message_id,
                correlation_id=correlation_id,
                content_type="application/json",
                delivery_mode=aio_pika.DeliveryMode.PERSISTENT,
                app_id=HARNESS,  # the harness's own account, which may publish anything
            ),
            routing_key=routing_key,
            mandatory=True,
        )


async def take_dead_letters(amqp_url: str, message_ids: set[str]) -> int:
    """Remove the named dead letters (a test that parked them on purpose accounts for them)."""
    connection = await aio_pika.connect(amqp_url, timeout=5)
    taken = 0
    async with connection:
        channel = await connection.channel()
        for service in SERVICES:
            try:
                queue = await channel.declare_queue(dead_letter_queue_name(service), passive=True)
            except aio_pika.exceptions.ChannelClosed:
                channel = await connection.channel()
                continue
            others = []
            for _ in range(queue.declaration_result.message_count or 0):
                message = await queue.get(no_ack=False, fail=False)
                if message is None:
                    break
                if message.message_id in message_ids:
                    await message.ack()
                    taken += 1
                else:
                    others.append(message)
            for message in others:
                await message.nack(requeue=True)
    return taken
