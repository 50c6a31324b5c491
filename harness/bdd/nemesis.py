"""Process faults the steps need: crash points, restarting a service, restarting the broker.

Crash points are armed through the service's chaos surface (POST /_chaos/crashpoints with the
X-Chaos-Token header); the process then SIGKILLs itself when it reaches the point.

The broker restart is a small `rabbitmqctl stop_app` / `start_app` helper with a bounded wait
(to be swapped for `harness.nemesis.broker` once the chaos nemeses land). The shared RabbitMQ
serves every instance on the machine, so a restart is kept short and is always undone.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import time
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

import httpx

if TYPE_CHECKING:
    from harness.runner.local import LocalSystem

RABBITMQCTL_TIMEOUT_S = 60.0


class NemesisError(RuntimeError):
    pass


# --- crash points ------------------------------------------------------------------------
def arm_crash_point(service_url: str, token: str, point: str, routing_key: str | None, skip: int = 0) -> dict:
    response = httpx.post(
        f"{service_url}/_chaos/crashpoints",
        json={"point": point, "routing_key": routing_key, "skip": skip},
        headers={"X-Chaos-Token": token},
        timeout=5.0,
    )
    if response.status_code != 200:
        raise NemesisError(f"arming {point} at {service_url} failed: HTTP {response.status_code} {response.text}")
    return response.json()["armed"]


def disarm_crash_points(service_url: str, token: str) -> bool:
    """Disarm every point; False if the service is not there to ask (dead: nothing is armed)."""
    try:
        response = httpx.delete(
            f"{service_url}/_chaos/crashpoints", headers={"X-Chaos-Token": token}, timeout=5.0
        )
    except httpx.HTTPError:
        return False
    return response.status_code == 204


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


# --- the broker ----------------------------------------------------------------------------
def rabbitmqctl() -> str | None:
    return shutil.which("rabbitmqctl")


def _ctl(*args: str) -> None:
    ctl = rabbitmqctl()
    if ctl is None:
        raise NemesisError("rabbitmqctl is not on PATH: the broker cannot be restarted from here")
    done = subprocess.run([ctl, *args], capture_output=True, text=True, timeout=RABBITMQCTL_TIMEOUT_S)
    if done.returncode != 0:
        raise NemesisError(f"rabbitmqctl {' '.join(args)} failed ({done.returncode}): {done.stderr.strip()}")


def broker_accepts(amqp_url: str, timeout: float = 1.0) -> bool:
    parts = urlsplit(amqp_url)
    try:
        with socket.create_connection((parts.hostname or "127.0.0.1", parts.port or 5672), timeout=timeout):
            return True
    except OSError:
        return False


def stop_broker() -> None:
    _ctl("stop_app")


def start_broker(amqp_url: str, timeout: float = 60.0) -> None:
    """Start the app again and wait, bounded, until it takes connections."""
    _ctl("start_app")
    deadline = time.monotonic() + timeout
    while not broker_accepts(amqp_url):
        if time.monotonic() > deadline:
            raise NemesisError(f"the broker did not take connections within {timeout:.0f}s of start_app")
        time.sleep(0.2)


def ensure_broker_running(amqp_url: str) -> None:
    """Teardown: whatever happened in the scenario, leave the broker running."""
    if not broker_accepts(amqp_url):
        start_broker(amqp_url)
