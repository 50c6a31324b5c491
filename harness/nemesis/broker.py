"""Restart the broker: stop RabbitMQ, hold it down a moment, start it, wait until it takes
connections again.

Locally that is `rabbitmqctl stop_app` / `start_app` (the Erlang node stays up, every connection
drops, durable queues and persistent messages survive); for the compose target it is
`docker compose stop rabbitmq` / `start rabbitmq` (harness.targets.compose), which is
`docker compose restart rabbitmq` with a planned hold in the middle.
The shared broker serves every instance on the machine: a restart disturbs them all for seconds.

A partition (kind `partition`, a node of the instance's own cluster only) cuts one node off from
its peers at the TCP level while its process keeps running (harness.runner.cluster: nftables
rules on the distribution traffic); pause_minority then pauses it. The fault's window records
what the broker showed just before the heal: whether the node had paused and whether its peers
had dropped it (`paused`, `peers_running`), so a run can tell a real partition from a rule that
did nothing.
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
    observe: Callable[[], dict[str, Any]] | None = None  # the broker's view while the fault lasts

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
    kinds = ("restart", "partition")

    def __init__(self, control: BrokerControl, amqp_url: str, nodes: dict[str, BrokerControl] | None = None,
                 partitions: dict[str, BrokerControl] | None = None) -> None:
        """`nodes`: a local cluster's nodes by name (`rabbitmq#2`), each stopped and started alone;
        `partitions`: the same nodes, each cut off from its peers and joined again."""
        self.control = control
        self.amqp_url = amqp_url
        self.nodes = nodes or {}
        self.partitions = partitions or {}
        self._down: set[tuple[str, str]] = set()  # (kind, target) not healed yet

    def _control(self, target: str, kind: str = "restart") -> BrokerControl:
        controls = self.partitions if kind == "partition" else self.nodes
        if target in controls:
            return controls[target]
        if target != "rabbitmq" or kind == "partition":
            known = ", ".join(controls) or "no cluster"
            raise NemesisError(f"no broker node {target!r} to {kind} here; known: "
                               f"{known if kind == 'partition' else 'rabbitmq, ' + known}")
        return self.control

    def inject(self, fault: PlannedFault, stop: threading.Event) -> Injection:
        control = self._control(fault.target, fault.kind)
        began = time.time()
        control.stop()
        self._down.add((fault.kind, fault.target))
        return Injection(began, {"how": control.description})

    def heal(self, fault: PlannedFault, injection: Injection) -> dict[str, Any]:
        control = self._control(fault.target, fault.kind)
        seen = control.observe() if control.observe else {}
        control.start()
        self._down.discard((fault.kind, fault.target))
        waited = wait_accepting(self.amqp_url, float(fault.params.get("wait_s", DEFAULT_WAIT_S)))
        return {**seen, "accepting_after_s": round(waited, 3)}

    def heal_all(self) -> None:
        for kind, target in sorted(self._down):
            self._control(target, kind).start()
        if self._down:
            self._down.clear()
            wait_accepting(self.amqp_url)
