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

Saga style (issue #15): the session's system runs SAGA_STYLE's style (default orchestration).
`saga_target_in(style)` gives a test the system in either style: the session's when the style is
its own, else a second isolated local instance in that style (name `<instance>_<style>`, ports
from SAGA_TEST_PORT_BASE + 950), started on first use and stopped at the end of the session.

Replicas (issue #17): with SAGA_STORE=postgresql://... and SAGA_REPLICAS=N, every instance the
session starts runs N processes per service, each on a database of its own (`make
test-replicas-all`). Tests marked `single_consumer` are skipped then, with the reason.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import Any

import pytest

from harness.client import SagaClient
from harness.runner.local import BrokerUnreachable, LocalSystem
from harness.targets.target import Target, external_target
from system.styles import ORCHESTRATION, STYLES, env_style

TEST_PORT_BASE = 18000


class TestTarget(Target):
    """The session's target; a test that needs process control the target lacks is skipped."""

    def require_process_control(self) -> Any:
        if self.system is None:
            pytest.skip(f"needs process control, which the {self.kind} target does not give the harness")
        return self.system


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "orchestration_only: written in the orchestration's commands; skipped when SAGA_STYLE is another style")
    config.addinivalue_line(
        "markers", "single_consumer: needs one process per service, which handles its queue in order; "
                   "skipped when SAGA_REPLICAS runs several")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    style = env_style().name
    replicas = int(os.environ.get("SAGA_REPLICAS") or 1)  # every instance the session starts runs as many
    skips = {}
    if style != ORCHESTRATION:
        skips["orchestration_only"] = pytest.mark.skip(
            reason=f"written in the orchestration's commands; this session runs the {style} (SAGA_STYLE)")
    if replicas > 1:
        skips["single_consumer"] = pytest.mark.skip(
            reason=f"needs a queue's messages handled in order by one process; this session runs {replicas} "
                   "competing consumers per service (SAGA_REPLICAS)")
    for item in items:
        for marker, skip in skips.items():
            if item.get_closest_marker(marker) is not None:
                item.add_marker(skip)


@pytest.fixture(scope="session")
def saga_target() -> Iterator[TestTarget]:
    kind = os.environ.get("SAGA_TARGET", "local")
    if kind == "external":
        external = external_target()
        yield TestTarget(external.kind, external.endpoints, None, external.chaos_token)
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
        yield TestTarget("local", system.endpoints(), system, system.chaos_token())
    finally:
        if os.environ.get("SAGA_KEEP_RUNNING") != "1":
            system.down()


@pytest.fixture(scope="session")
def saga_target_in(saga_target: TestTarget) -> Iterator[Any]:
    """`saga_target_in(style)`: the system in that style (see the module's docstring)."""
    own = env_style().name
    others: dict[str, tuple[TestTarget, LocalSystem]] = {}

    def target_in(style: str) -> TestTarget:
        if style not in STYLES:
            raise ValueError(f"unknown saga style {style!r}")
        if style == own:
            return saga_target
        if saga_target.kind != "local":
            pytest.skip(f"the {saga_target.kind} target runs one style ({own})")
        if style not in others:
            from harness.runner.instance import fresh_isolated_env

            name = f"{os.environ.get('SAGA_TEST_INSTANCE', 'test')}_{style}"
            # Lives until the session ends: an offset no other test instance uses (+100..+900 are
            # tests/integration, tests/chaos, tests/load and features/test_deadlines.py).
            port_base = int(os.environ.get("SAGA_TEST_PORT_BASE", TEST_PORT_BASE)) + 950
            env = {**fresh_isolated_env(name, port_base), "SAGA_STYLE": style}
            system = LocalSystem(env=env, say=lambda line: None)
            system.up(chaos=True, timeout=90)
            others[style] = (TestTarget("local", system.endpoints(), system, system.chaos_token()), system)
        return others[style][0]

    try:
        yield target_in
    finally:
        if os.environ.get("SAGA_KEEP_RUNNING") != "1":
            for _, system in others.values():
                system.down()


@pytest.fixture
def saga_client(saga_target: TestTarget) -> Iterator[SagaClient]:
    with SagaClient(saga_target.endpoints) as client:
        yield client
