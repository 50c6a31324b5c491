"""Process faults the steps need: crash points, restarting a service, restarting the broker.

Crash points are armed through harness.crashpoints (the service's chaos surface, on every
replica of a service); the process then SIGKILLs itself when it reaches the point.

The broker restart uses the chaos nemesis's `BrokerControl` (`rabbitmqctl stop_app` /
`start_app`) and its bounded wait for an AMQP handshake. The shared RabbitMQ serves every
instance on the machine, so a restart is kept short and is always undone.
"""

from __future__ import annotations

import os
import shutil
import socket
import time
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

from harness.nemesis.broker import DEFAULT_WAIT_S, BrokerControl, wait_accepting

if TYPE_CHECKING:
    from harness.runner.local import LocalSystem


# --- processes ------------------------------------------------------------------------------
def process_gone(pid: int) -> bool:
    """No such process, or only its zombie: it holds no port, file or lock any more."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        pass
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[-1].split()[0]
    except (OSError, IndexError):
        return True
    return state in ("Z", "X")


def restart_service(system: LocalSystem, service: str, timeout: float = 30.0) -> None:
    """Start the service if it is down and wait until it is ready.

    Not `LocalSystem.restart_service` alone: right after exec, /proc/<pid>/cmdline can read empty
    for a few milliseconds on this kernel, and the runner then takes the new process for a dead
    one and gives up at once. Waiting until the runner sees the process closes that window.
    """
    if system.pid(service) is None:
        system.start_service(service)
    deadline = time.monotonic() + 5.0
    while system.pid(service) is None and time.monotonic() < deadline:
        time.sleep(0.01)
    system.wait_ready(timeout, (service,))


# --- the broker ------------------------------------------------------------------------------
# The chaos nemesis's own control (`rabbitmqctl stop_app` / `start_app`) and its bounded wait.
def rabbitmqctl() -> str | None:
    return shutil.which("rabbitmqctl")


def broker_accepts(amqp_url: str, timeout: float = 1.0) -> bool:
    parts = urlsplit(amqp_url)
    try:
        with socket.create_connection((parts.hostname or "127.0.0.1", parts.port or 5672), timeout=timeout):
            return True
    except OSError:
        return False


def stop_broker() -> None:
    BrokerControl.rabbitmqctl().stop()


def start_broker(amqp_url: str, timeout: float = DEFAULT_WAIT_S) -> float:
    """Start the app again and wait, bounded, until an AMQP handshake succeeds; return the wait."""
    BrokerControl.rabbitmqctl().start()
    return wait_accepting(amqp_url, timeout)


def ensure_broker_running(amqp_url: str) -> None:
    """Teardown: whatever happened in the scenario, leave the broker running."""
    if not broker_accepts(amqp_url):
        start_broker(amqp_url)
