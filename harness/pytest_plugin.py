"""pytest fixtures that start the saga once per session (an isolated local instance by default).

Load with `pytest_plugins = ["harness.pytest_plugin"]` in your conftest.py.

Target selection (SAGA_TARGET):
- `local` (default): the harness starts its own instance (home .saga/test, ports 18001-18004,
  vhost saga_test, its own Toxiproxy on 18474), fresh (an earlier run's data and vhost are wiped
  first), with the crash-point surface on, and stops it at the end of the session
  (SAGA_KEEP_RUNNING=1 leaves it up for inspection).
- `external`: an already running system (for example the compose demo): SAGA_ORDER_URL,
  SAGA_INVENTORY_URL, SAGA_PAYMENT_URL, SAGA_DELIVERY_URL, SAGA_AMQP_URL, TOXIPROXY_URL.
  Tests that need process control are skipped with a reason.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass

import pytest

from harness.client import SagaClient
from harness.runner.layout import Endpoints
from harness.runner.local import BrokerUnreachable, LocalSystem
from system.config import DEFAULT_AMQP_URL
from system.contracts import DEFAULT_PORTS, SERVICES

TEST_PORT_BASE = 18000


@dataclass
class SagaTarget:
    kind: str  # "local" | "external"
    endpoints: Endpoints
    local: LocalSystem | None = None

    def require_process_control(self) -> LocalSystem:
        if self.local is None:
            pytest.skip(f"needs process control, which the {self.kind} target does not give the harness")
        return self.local

    @property
    def chaos_token(self) -> str | None:
        if self.local is not None:
            return self.local.chaos_token()
        return os.environ.get("SAGA_CHAOS_TOKEN")


def external_endpoints(env: dict[str, str] | os._Environ = os.environ) -> Endpoints:
    services = {
        s: env.get(f"SAGA_{s.upper()}_URL", f"http://127.0.0.1:{DEFAULT_PORTS[s]}") for s in SERVICES
    }
    return Endpoints(
        services=services,
        order_api=env.get("SAGA_ORDER_API_URL", services["order"]),
        amqp_url=env.get("SAGA_AMQP_URL", DEFAULT_AMQP_URL),
        toxiproxy_url=env.get("TOXIPROXY_URL"),
    )


@pytest.fixture(scope="session")
def saga_target() -> Iterator[SagaTarget]:
    kind = os.environ.get("SAGA_TARGET", "local")
    if kind == "external":
        yield SagaTarget("external", external_endpoints())
        return
    if kind != "local":
        raise pytest.UsageError(f"SAGA_TARGET={kind!r}: use 'local' or 'external'")
    from harness.runner.instance import fresh_isolated_env

    # SAGA_TEST_INSTANCE / SAGA_TEST_PORT_BASE let several suites run side by side on one machine.
    name = os.environ.get("SAGA_TEST_INSTANCE", "test")
    port_base = int(os.environ.get("SAGA_TEST_PORT_BASE", TEST_PORT_BASE))
    # Fresh every session: no data, queue or dead letter left over from an earlier run.
    system = LocalSystem(env=fresh_isolated_env(name, port_base), say=lambda line: None)
    try:
        system.up(chaos=True, timeout=90)
    except BrokerUnreachable as exc:
        pytest.exit(str(exc), returncode=1)
    try:
        yield SagaTarget("local", system.endpoints(), system)
    finally:
        if os.environ.get("SAGA_KEEP_RUNNING") != "1":
            system.down()


@pytest.fixture
def saga_client(saga_target: SagaTarget) -> Iterator[SagaClient]:
    with SagaClient(saga_target.endpoints) as client:
        yield client
