"""Declare the whole topology from every service, so routing never depends on start order.

Work queues are quorum queues: durable, replicated on a cluster, and the only kind that counts
deliveries, so `x-delivery-limit` can park a message that keeps coming back. Dead letters go to
`saga_events.dlx` and land in the owning service's `saga.<service>.dlq`, a quorum queue too: on a
cluster a parked letter must survive the loss of a node as the message did before it was parked.
A vhost made before that keeps its classic dead-letter queues (RabbitMQ refuses to change a
queue's type: PRECONDITION_FAILED); docs/design.md, issue #17.
"""

from __future__ import annotations

import logging

from aio_pika import ExchangeType
from aio_pika.abc import AbstractChannel, AbstractConnection, AbstractExchange, AbstractQueue
from aio_pika.exceptions import ChannelPreconditionFailed

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

log = logging.getLogger("saga.messaging")


def work_queue_arguments(service: str) -> dict:
    return {
        "x-queue-type": "quorum",
        "x-delivery-limit": DELIVERY_LIMIT,
        "x-dead-letter-exchange": DEAD_LETTER_EXCHANGE,
        "x-dead-letter-routing-key": service,
    }


def dead_letter_queue_arguments() -> dict:
    return {"x-queue-type": "quorum"}


async def declare_dead_letter_queue(connection: AbstractConnection, service: str) -> str:
    """Declare `saga.<service>.dlq` (a quorum queue) bound to the dead-letter exchange, on a
    channel of its own (a refused declaration closes its channel); return the queue's type. One
    that already exists as a classic queue is kept as it is, with a warning: deleting it to change
    its type could drop a letter parked in between."""
    name = dead_letter_queue_name(service)
    channel = await connection.channel()
    kind = "quorum"
    try:
        queue = await channel.declare_queue(name, durable=True, arguments=dead_letter_queue_arguments())
    except ChannelPreconditionFailed:
        channel = await connection.channel()
        queue = await channel.declare_queue(name, passive=True)
        kind = "classic"
        log.warning("%s is a classic queue from before dead-letter queues were quorum queues: kept; it is not "
                    "replicated on a cluster (delete it while empty, or use a fresh vhost, to get a quorum queue)", name)
    try:
        await queue.bind(DEAD_LETTER_EXCHANGE, routing_key=service)
    finally:
        await channel.close()
    return kind


async def declare_topology(connection: AbstractConnection, channel: AbstractChannel,
                           style: str = DEFAULT_STYLE) -> dict[str, AbstractQueue]:
    """Declare exchanges and every service's queues with the bindings of `style`, removing the
    other style's (a vhost used in one style before); return the work queues by service. The
    work queues are declared on `channel` (the consumer's, which re-declares them on reconnect),
    the dead-letter queues each on a channel of its own (declare_dead_letter_queue)."""
    exchange = await channel.declare_exchange(EXCHANGE, ExchangeType.TOPIC, durable=True)
    await channel.declare_exchange(DEAD_LETTER_EXCHANGE, ExchangeType.DIRECT, durable=True)
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
        await declare_dead_letter_queue(connection, service)
        queues[service] = queue
    return queues


async def get_exchanges(channel: AbstractChannel) -> tuple[AbstractExchange, AbstractExchange]:
    exchange = await channel.declare_exchange(EXCHANGE, ExchangeType.TOPIC, durable=True)
    dlx = await channel.declare_exchange(DEAD_LETTER_EXCHANGE, ExchangeType.DIRECT, durable=True)
    return exchange, dlx
