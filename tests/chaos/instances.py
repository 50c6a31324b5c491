"""A second, fresh local instance next to the session's, for runs that need a clean system (a
defect switched on, or stock nobody has touched yet)."""

from __future__ import annotations

import os
import socket
from collections.abc import Iterator
from contextlib import contextmanager

import pytest

from harness.runner.instance import fresh_isolated_env
from harness.runner.local import LocalSystem
from harness.targets.target import Target, local_target


@contextmanager
def fresh_local_target(suffix: str, port_offset: int, env: dict[str, str] | None = None) -> Iterator[Target]:
    """Start `<SAGA_TEST_INSTANCE>-<suffix>` on SAGA_TEST_PORT_BASE + port_offset, from nothing;
    stop it afterwards. (tests/load takes +300.)"""
    name = f"{os.environ.get('SAGA_TEST_INSTANCE', 'test')}-{suffix}"
    base = int(os.environ.get("SAGA_TEST_PORT_BASE", "18000")) + port_offset
    system = LocalSystem(env={**fresh_isolated_env(name, base), **(env or {})}, say=lambda line: None)
    # LocalSystem.up would take another process's /ready on these ports for its own services.
    taken = [s.port for s in system.status() if s.pid is None and _port_in_use(s.port)]
    if taken:
        pytest.fail(f"ports {taken} are taken by something else; set SAGA_TEST_PORT_BASE to a free range")
    try:  # down() also when up() fails halfway: no service of a half-started instance lingers
        system.up(chaos=True, timeout=90)
        yield local_target(system)
    finally:
        system.down()


def _port_in_use(port: int) -> bool:
    with socket.socket() as sock:
        return sock.connect_ex(("127.0.0.1", port)) == 0
