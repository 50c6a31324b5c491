"""Who may publish what (issue 14, item 6): each service logs in as its own RabbitMQ user, and the
broker refuses a routing key the service does not own, while the saga keeps completing orders."""

from __future__ import annotations

import subprocess

import pytest
from aiormq.exceptions import ChannelAccessRefused

from harness.broker import publish_raw, run_sync
from harness.runner.layout import account_amqp_url, amqp_vhost
from system.access import HARNESS, user_name
from system.contracts import PUBLISHES, ROUTING_KEYS, SERVICES, TRACE_SUCCESS
from tests.integration.helpers import finished, place, trace


def _connected_users(vhost: str) -> set[str]:
    listing = subprocess.run(["rabbitmqctl", "-q", "list_connections", "user", "vhost"],
                             capture_output=True, text=True, timeout=60, check=True)
    rows = (line.split("\t") for line in listing.stdout.splitlines()[1:])
    return {row[0] for row in rows if len(row) == 2 and row[1] == vhost}


def test_each_service_may_publish_only_its_own_routing_keys(saga_target, saga_client):
    system = saga_target.require_process_control()
    vhost = amqp_vhost(system.amqp_url)
    assert {user_name(vhost, s) for s in SERVICES} <= _connected_users(vhost)
    assert saga_target.endpoints.amqp_url == account_amqp_url(system.layout, system.amqp_url, HARNESS)
    for service in SERVICES:
        url = account_amqp_url(system.layout, system.amqp_url, service)
        assert f"//{user_name(vhost, service)}:" in url
        for key in sorted(set(ROUTING_KEYS) - set(PUBLISHES[service])):
            # A well-formed body: only the broker's refusal stops it, not the service's parser.
            body = b'{"message_id":"forged","type":"%s","order_id":"forged","payload":{}}' % key.encode()
            with pytest.raises(ChannelAccessRefused, match=f"ACCESS_REFUSED - access to topic '{key}'"):
                run_sync(publish_raw(url, key, body, message_id="forged"))

    order_id = place(saga_client, product_id="product_1", quantity=1, amount=10.0,
                     force={"payment": "succeed", "delivery": "succeed"})
    order = finished(saga_client, order_id)
    assert order["status"] == "completed" and trace(order) == TRACE_SUCCESS
