"""Declare the whole topology from every service, so routing never depends on start order.

Work queues are quorum queues: durable, replicated on a cluster, and the only kind that counts
deliveries, so `x-delivery-limit` can park a message that keeps coming back. Dead letters go to
`saga_events.dlx` and land in the owning service's `saga.<service>.dlq`.
"""

from __future__ import annotations

from aio_pika import ExchangeType
from aio_pika.abc import AbstractChannel, AbstractExchange, AbstractQueue

from system.contracts import (
    ALL_ROUTING_KEYS,
    DEAD_LETTER_EXCHANGE,
    EXCHANGE,
    dead_letter_queue_name,
    queue_name,
)
from system.styles import DEFAULT_STYLE, style_named

# A backstop only: our consumer dead-letters a failing message itself, with the reason, after
# a few tries. Redeliveries caused by lost connections also count here, so keep it generous.
DELIVERY_LIMIT = 100


def work_queue_arguments(service: str) -> dict:
    return {
        "x-queue-type": "quorum",
        "x-delivery-limit": DELIVERY_LIMIT,
        "x-dead-letter-exchange": DEAD_LETTER_EXCHANGE,
        "x-dead-letter-routing-key": service,
    }


async def declare_topology(channel: AbstractChannel, style: str = DEFAULT_STYLE) -> dict[str, AbstractQueue]:
    """Declare exchanges and every service's queues with the bindings of `style`, removing the
    other style's (a vhost used in one style before); return the work queues by service."""
    exchange = await channel.declare_exchange(EXCHANGE, ExchangeType.TOPIC, durable=True)
    dlx = await channel.declare_exchange(DEAD_LETTER_EXCHANGE, ExchangeType.DIRECT, durable=True)
    queues: dict[str, AbstractQueue] = {}
    for service, keys in style_named(style).bindings.items():
        queue = await channel.declare_queue(
            queue_name(service), durable=True, arguments=work_queue_arguments(service)
        )
        for key in keys:
            await queue.bind(exchange, routing_key=key)
        for key in ALL_ROUTING_KEYS:
            if key not in keys:  # unbinding what is not bound is a no-op in RabbitMQ
                await queue.unbind(exchange, routing_key=key)
        dlq = await channel.declare_queue(dead_letter_queue_name(service), durable=True)
        await dlq.bind(dlx, routing_key=service)
        queues[service] = queue
    return queues


async def get_exchanges(channel: AbstractChannel) -> tuple[AbstractExchange, AbstractExchange]:
    exchange = await channel.declare_exchange(EXCHANGE, ExchangeType.TOPIC, durable=True)
    dlx = await channel.declare_exchange(DEAD_LETTER_EXCHANGE, ExchangeType.DIRECT, durable=True)
    return exchange, dlx
