"""The order service's app served in-process (harness.inprocess): no broker, no port, no server."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from harness.client import SagaClient
from harness.inprocess import InProcessTransport
from harness.runner.layout import Endpoints
from system.app import create_app
from system.config import service_config
from system.order.api import routes
from system.registry import SERVICE_LOGIC

# Nothing listens here: the service's messaging keeps retrying in the background, which the
# HTTP API does not need (a placed order waits in the outbox).
NO_BROKER = "amqp://guest:guest@127.0.0.1:1/"
ORDER_URL = "http://order.in-process"


@pytest.fixture
def order_client(tmp_path) -> Iterator[SagaClient]:
    config = service_config("order", {"SAGA_DATA_DIR": str(tmp_path), "SAGA_AMQP_URL": NO_BROKER})
    endpoints = Endpoints(services={"order": ORDER_URL}, order_api=ORDER_URL, amqp_url=NO_BROKER)
    transport = InProcessTransport(create_app(config, SERVICE_LOGIC["order"], routes))
    try:
        with SagaClient(endpoints, transport=transport) as client:
            yield client
    finally:
        transport.close()
