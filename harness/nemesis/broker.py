"""Restart the broker: stop RabbitMQ, hold it down a moment, start it, wait until it takes
connections again.

Locally that is `rabbitmqctl stop_app` / `start_app` (the Erlang node stays up, every connection
drops, durable queues and persistent messages survive); for the compose target it is
`docker compose stop rabbitmq` / `start rabbitmq` (harness.targets.compose), which is
`docker compose restart rabbitmq` with a planned hold in the middle.
The shared broker serves every instance on the machine: a restart disturbs them all for seconds.
"""

from __future__ import annotations

import shutil
import subprocess
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import aio_pika

from harness.broker import run_sync
from harness.nemesis.base import Injection, Nemesis, NemesisError, PlannedFault

if TYPE_CHECKING:
    from harness.targets.compose import ComposeSystem

DEFAULT_WAIT_S = 60.0


@dataclass(frozen=True)
class BrokerControl:
    """How to stop and how to start the broker."""

    stop: Callable[[], None]
    start: Callable[[], None]
    description: str

    @classmethod
    def rabbitmqctl(cls) -> BrokerControl:
        ctl = shutil.which("rabbitmqctl")
        if ctl is None:
            raise NemesisError("rabbitmqctl is not on PATH: the broker cannot be restarted from here")
        return cls(lambda: run((ctl, "stop_app")), lambda: run((ctl, "start_app")), "rabbitmqctl stop_app / start_app")

    @classmethod
    def compose(cls, system: ComposeSystem) -> BrokerControl:
        """The compose target's broker container: `docker compose stop` / `start rabbitmq`."""
        return cls(system.stop_broker, system.start_broker, "docker compose stop / start rabbitmq")


def run(argv: tuple[str, ...], timeout: float = 120.0) -> None:
    done = subprocess.run(list(argv), capture_output=True, text=True, timeout=timeout, check=False)
    if done.returncode != 0:
        raise NemesisError(f"{' '.join(argv)} failed ({done.returncode}): {(done.stderr or done.stdout).strip()}")


async def _try_connect(amqp_url: str) -> None:
    connection = await aio_pika.connect(amqp_url, timeout=3)
    await connection.close()


def wait_accepting(amqp_url: str, timeout: float = DEFAULT_WAIT_S) -> float:
    """Poll an AMQP handshake until one succeeds; return how long it took. Bounded."""
    began = time.monotonic()
    last = "no attempt"
    while time.monotonic() - began < timeout:
        try:
            run_sync(_try_connect(amqp_url))
            return time.monotonic() - began
        except Exception as exc:  # noqa: BLE001 - anything means "not yet"
            last = f"{type(exc).__name__}: {exc}"
        time.sleep(0.2)
    raise NemesisError(f"the broker did not accept connections within {timeout:.0f}s ({last})")


class BrokerNemesis(Nemesis):
    name = "broker"
    kinds = ("restart",)

    def __init__(self, control: BrokerControl, amqp_url: str, nodes: dict[str, BrokerControl] | None = None) -> None:
        """`nodes`: a local cluster's nodes by name (`rabbitmq#2`), each stopped and started alone."""
        self.control = control
        self.amqp_url = amqp_url
        self.nodes = nodes or {}
        self._down: set[str] = set()

    def _control(self, target: str) -> BrokerControl:
        if target in self.nodes:
            return self.nodes[target]
        if target != "rabbitmq":
            raise NemesisError(f"no broker node {target!r} here; known: rabbitmq, {', '.join(self.nodes) or 'no cluster'}")
        return self.control

    def inject(self, fault: PlannedFault, stop: threading.Event) -> Injection:
        control = self._control(fault.target)
        began = time.time()
        control.stop()
        self._down.add(fault.target)
        return Injection(began, {"how": control.description})

    def heal(self, fault: PlannedFault, injection: Injection) -> dict[str, Any]:
        self._control(fault.target).start()
        self._down.discard(fault.target)
        waited = wait_accepting(self.amqp_url, float(fault.params.get("wait_s", DEFAULT_WAIT_S)))
        return {"accepting_after_s": round(waited, 3)}

    def heal_all(self) -> None:
        for target in sorted(self._down):
            self._control(target).start()
        if self._down:
            self._down.clear()
            wait_accepting(self.amqp_url)
