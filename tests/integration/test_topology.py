"""The dead-letter queues are quorum queues (replicated on a cluster, issue #17); a vhost made
before that keeps its classic ones, since RabbitMQ refuses to change a queue's type."""

from __future__ import annotations

import os
import subprocess

import aio_pika

from harness.broker import queue_depths, run_sync
from harness.runner.instance import delete_vhost, ensure_vhost, with_vhost
from system.config import DEFAULT_AMQP_URL
from system.contracts import DEAD_LETTER_EXCHANGE, SERVICES, dead_letter_queue_name
from system.messaging.topology import declare_topology


def _queue_types(vhost: str) -> dict[str, str]:
    listing = subprocess.run(["rabbitmqctl", "-q", "list_queues", "-p", vhost, "name", "type"],
                             capture_output=True, text=True, timeout=60, check=True)
    return dict(line.split("\t") for line in listing.stdout.strip().splitlines()[1:])


async def _declare(url: str, classic_before: str | None) -> None:
    connection = await aio_pika.connect(url, timeout=5)
    async with connection:
        if classic_before:  # what an instance made before this change has
            channel = await connection.channel()
            await channel.declare_queue(classic_before, durable=True)
            await channel.close()
        channel = await connection.channel()
        await declare_topology(connection, channel)
        await declare_topology(connection, channel)  # a restart declares again: no error
        # The consumer's channel is still open and usable, and the letters still reach every queue.
        publisher = await connection.channel(publisher_confirms=True)
        dlx = await publisher.get_exchange(DEAD_LETTER_EXCHANGE)
        for service in SERVICES:
            await dlx.publish(aio_pika.Message(b"{}", message_id=f"letter-{service}"), routing_key=service)


def test_dead_letter_queues_are_quorum_queues_and_an_old_classic_one_is_kept():
    vhost = f"saga_{os.environ.get('SAGA_TEST_INSTANCE', 'test')}topo"
    url = with_vhost(DEFAULT_AMQP_URL, vhost)
    delete_vhost(vhost)
    ensure_vhost(vhost, url)
    try:
        old = dead_letter_queue_name("payment")
        run_sync(_declare(url, old))
        types = _queue_types(vhost)
        assert {name: kind for name, kind in types.items() if name.endswith(".dlq")} == {
            dead_letter_queue_name(s): "classic" if dead_letter_queue_name(s) == old else "quorum" for s in SERVICES}
        depths = run_sync(queue_depths(url))
        assert {name: n for name, n in depths.items() if name.endswith(".dlq")} == {
            dead_letter_queue_name(s): 1 for s in SERVICES}
    finally:
        delete_vhost(vhost)
