"""The one notion of a target: where the system under test runs, and what the harness may do there.

- local:    this SAGA_HOME's processes (harness.runner.LocalSystem): everything.
- compose:  docker-compose.yml's containers (harness.targets.compose.ComposeSystem): kills,
            restarts and the broker through the Compose CLI.
- external: URLs only (SAGA_<SERVICE>_URL, SAGA_AMQP_URL, TOXIPROXY_URL, SAGA_CHAOS_TOKEN): network
            faults, duplicates and crash points, but no kill and no broker restart.

The chaos runner, the pytest plugin, the BDD steps and the zoo all hold a `Target`; what an
experiment needs of one is judged in harness/experiments/target.py.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Protocol

from harness.dice import decisions_from_env
from harness.exits import UsageError
from harness.runner.layout import Endpoints
from harness.runner.local import LocalSystem, ServiceStatus
from system.config import DEFAULT_AMQP_URL
from system.contracts import DEFAULT_PORTS, SERVICES
from system.styles import env_style

KINDS = ("local", "compose", "external")


class ProcessControl(Protocol):
    """What LocalSystem and the compose target's ComposeSystem both offer."""

    def kill_service(self, service: str) -> Any: ...

    def restart_service(self, service: str, timeout: float = ...) -> ServiceStatus: ...


class NoProcessControl(UsageError):
    """Asked a target without process control (external) to kill or restart something."""


@dataclass
class Target:
    kind: str  # one of KINDS
    endpoints: Endpoints
    system: ProcessControl | None = None  # LocalSystem, ComposeSystem, or None (no control)
    chaos_token: str | None = None
    fresh: bool = False  # the run owns this instance, started empty: its client places every order

    def check_options(self) -> dict[str, Any]:
        """check_all's `decisions` (the dice as the target's services roll them; unknown for an
        external system) and `complete_history` (only a fresh instance of our own)."""
        if isinstance(self.system, LocalSystem):
            decisions = decisions_from_env(self.system.env)
        else:  # compose passes the harness's SAGA_SEED and rates through; external: unknown
            decisions = decisions_from_env() if self.system is not None else None
        return {"decisions": decisions, "complete_history": self.fresh}

    @property
    def style(self) -> str:
        """The saga style the target's services run (SAGA_STYLE of their environment; compose
        and external: the harness's own SAGA_STYLE, which must say what that system runs)."""
        env = self.system.env if isinstance(self.system, LocalSystem) else os.environ
        return env_style(env).name

    def require_process_control(self) -> Any:
        """The process control (LocalSystem or ComposeSystem), or NoProcessControl."""
        if self.system is None:
            raise NoProcessControl(f"needs process control, which the {self.kind} target does not give the harness")
        return self.system


def external_endpoints(env: Mapping[str, str] = os.environ) -> Endpoints:
    """A system somebody else runs, from SAGA_<SERVICE>_URL, SAGA_ORDER_API_URL, SAGA_AMQP_URL,
    TOXIPROXY_URL (defaults: the services' default ports on this machine)."""
    services = {s: env.get(f"SAGA_{s.upper()}_URL", f"http://127.0.0.1:{DEFAULT_PORTS[s]}") for s in SERVICES}
    return Endpoints(
        services=services,
        order_api=env.get("SAGA_ORDER_API_URL", services["order"]),
        amqp_url=env.get("SAGA_AMQP_URL", DEFAULT_AMQP_URL),
        toxiproxy_url=env.get("TOXIPROXY_URL"),
    )


def local_target(system: LocalSystem, *, fresh: bool = False) -> Target:
    return Target("local", system.endpoints(), system, system.chaos_token(), fresh)


def started_local_target(
    env: dict[str, str] | None = None, *, start: bool = True, say: Callable[[str], None] = print
) -> Target:
    """The local system of this SAGA_HOME; started (with the crash-point surface on) if it is down."""
    system = LocalSystem(env=env, say=say)
    if start and any(s.pid is None for s in system.status()):
        system.up(chaos=True)
    return local_target(system)


def compose_target(compose_file: str | None = None) -> Target:
    """The compose system of docker-compose.yml (or the file given), which must be up."""
    from harness.targets.compose import DEFAULT_COMPOSE_FILE, ComposeSystem

    system = ComposeSystem(compose_file or DEFAULT_COMPOSE_FILE)
    return Target("compose", system.endpoints(), system, system.chaos_token())


def external_target(env: Mapping[str, str] = os.environ) -> Target:
    return Target("external", external_endpoints(env), None, env.get("SAGA_CHAOS_TOKEN"))


def make_target(kind: str, *, compose_file: str | None = None, start: bool = True) -> Target:
    if kind == "local":
        return started_local_target(start=start)
    if kind == "compose":
        return compose_target(compose_file)
    if kind == "external":
        return external_target()
    raise UsageError(f"unknown target {kind!r}; one of {', '.join(KINDS)}")
