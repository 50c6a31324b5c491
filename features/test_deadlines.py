"""Bindings for deadlines.feature (issue #16). Its scenarios need a system started with step
deadlines and a flaky payment gateway, so this module brings its own instance (SAGA_TEST_PORT_BASE
+ 900: saga_target_in's other style has + 950), in the session's saga style."""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest
from pytest_bdd import scenarios

from harness import pytest_plugin  # its TestTarget, not imported by name: pytest would collect it
from harness.runner.local import LocalSystem

SETTINGS = {"SAGA_STEP_TIMEOUT": "3", "PAYMENT_TRANSIENT_FAILURE_RATE": "0.5", "SAGA_MAX_RETRIES": "3",
            "PAYMENT_FAILURE_RATE": "0"}

scenarios("deadlines.feature")


@pytest.fixture(scope="module")
def saga_target() -> Iterator[pytest_plugin.TestTarget]:
    if os.environ.get("SAGA_TARGET", "local") != "local":
        pytest.skip("needs an instance of its own, started with SAGA_STEP_TIMEOUT")
    from harness.runner.instance import fresh_isolated_env

    name = f"{os.environ.get('SAGA_TEST_INSTANCE', 'test')}_bdd_deadlines"
    port_base = int(os.environ.get("SAGA_TEST_PORT_BASE", pytest_plugin.TEST_PORT_BASE)) + 900
    system = LocalSystem(env={**fresh_isolated_env(name, port_base), **SETTINGS}, say=lambda line: None)
    system.up(chaos=True, timeout=90)
    try:
        yield pytest_plugin.TestTarget("local", system.endpoints(), system, system.chaos_token())
    finally:
        if os.environ.get("SAGA_KEEP_RUNNING") != "1":
            system.down()
