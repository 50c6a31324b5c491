"""Where a chaos run runs, and what it can do there:

- local:    this SAGA_HOME's processes (LocalSystem): everything.
- compose:  docker-compose.yml's containers (ComposeSystem): kills, restarts and the broker
            through the Compose CLI.
- external: URLs only (SAGA_<SERVICE>_URL, SAGA_AMQP_URL, TOXIPROXY_URL, SAGA_CHAOS_TOKEN): network
            faults, duplicates and crash points, but no kill and no broker restart.

`problems()` says up front what an experiment needs that the target cannot give, so a run fails
with a clear message (exit 254) instead of halfway through."""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import aio_pika
import httpx

from harness.broker import run_sync
from harness.experiments.model import Experiment
from harness.nemesis.base import NemesisError
from harness.nemesis.broker import BrokerControl
from harness.nemesis.crashes import ProcessControl, crash_surface_problem
from harness.runner.layout import Endpoints
from harness.runner.local import LocalSystem


class TargetProblem(RuntimeError):
    """The target cannot run this experiment as asked (bad usage, exit 254)."""


@dataclass
class RunTarget:
    kind: str  # "local" | "compose" | "external"
    endpoints: Endpoints
    system: ProcessControl | None = None  # LocalSystem, ComposeSystem, or None (no control)
    chaos_token: str | None = None
    fresh: bool = False  # the run owns this instance, started empty: its client places every order

    def check_options(self) -> dict[str, Any]:
        """check_all's `decisions` (the dice as the target's services roll them; unknown for an
        external system) and `complete_history` (only a fresh instance of our own)."""
        from harness.dice import decisions_from_env

        if isinstance(self.system, LocalSystem):
            decisions = decisions_from_env(self.system.env)
        else:  # compose passes the harness's SAGA_SEED and rates through; external: unknown
            decisions = decisions_from_env() if self.system is not None else None
        return {"decisions": decisions, "complete_history": self.fresh}

    def broker_control(self) -> BrokerControl:
        if isinstance(self.system, LocalSystem):
            return BrokerControl.rabbitmqctl()
        if self.system is not None and hasattr(self.system, "stop_broker"):
            return BrokerControl.compose(self.system)  # type: ignore[arg-type]
        raise NemesisError(f"the {self.kind} target cannot restart the broker (use --target local or compose)")

    def problems(self, experiment: Experiment) -> list[str]:
        found: list[str] = []
        broker = broker_problem(self.endpoints.amqp_url)
        if broker:
            return [broker]  # nothing else can work; the rest would only add noise
        if experiment.needs("network"):
            url = self.endpoints.toxiproxy_url
            if not url:
                found.append("network faults need Toxiproxy: no proxy map (run `saga-harness up`) and no TOXIPROXY_URL")
            elif not _answers(f"{url}/version"):
                found.append(f"network faults need Toxiproxy, and nothing answers at {url}")
        if experiment.needs("crash", "kill") and self.system is None:
            found.append(f"`kill` faults need process control, which the {self.kind} target does not give "
                         "(use --target local, or crash points)")
        if experiment.needs("crash", "crashpoint"):
            services = {t for f in experiment.faults if f.kind == "crashpoint" for t in f.targets}
            for service in sorted(services):
                problem = crash_surface_problem(self.endpoints.services[service], self.chaos_token)
                if problem:
                    found.append(f"crash points on {service}: {problem}")
                    break
        if experiment.needs("broker"):
            try:
                self.broker_control()
            except NemesisError as exc:
                found.append(f"broker restarts: {exc}")
        return found


def broker_problem(amqp_url: str) -> str | None:
    """None if the harness can open its own connection to the broker, else why not."""
    try:
        run_sync(_open_and_close(amqp_url))
    except Exception as exc:  # noqa: BLE001 - any failure is the answer
        return f"the harness cannot connect to the broker at {redact(amqp_url)}: {type(exc).__name__}: {exc}"
    return None


async def _open_and_close(amqp_url: str) -> None:
    connection = await aio_pika.connect(amqp_url, timeout=5)
    await connection.close()


def redact(url: str) -> str:
    parts = urlsplit(url)
    if parts.password:
        return urlunsplit(parts._replace(netloc=parts.netloc.replace(f":{parts.password}@", ":***@")))
    return url


def _answers(url: str) -> bool:
    try:
        return httpx.get(url, timeout=2.0).status_code < 500
    except httpx.HTTPError:
        return False


def local_target(env: dict[str, str] | None = None, *, start: bool = True, say=print) -> RunTarget:
    """The local system of this SAGA_HOME; started (with the crash-point surface on) if it is down."""
    system = LocalSystem(env=env, say=say)
    if start and any(s.pid is None for s in system.status()):
        system.up(chaos=True)
    return RunTarget("local", system.endpoints(), system, system.chaos_token())


def compose_target(compose_file: str | None = None) -> RunTarget:
    """The compose system of docker-compose.yml (or the file given), which must be up."""
    from harness.targets.compose import DEFAULT_COMPOSE_FILE, ComposeSystem

    system = ComposeSystem(compose_file or DEFAULT_COMPOSE_FILE)
    return RunTarget("compose", system.endpoints(), system, system.chaos_token())


def external_target(env: dict[str, str] | os._Environ = os.environ) -> RunTarget:
    """A system somebody else runs: SAGA_<SERVICE>_URL, SAGA_AMQP_URL, TOXIPROXY_URL."""
    from harness.pytest_plugin import external_endpoints

    return RunTarget("external", external_endpoints(env), None, env.get("SAGA_CHAOS_TOKEN"))


def make_target(kind: str, *, compose_file: str | None = None, start: bool = True) -> RunTarget:
    if kind == "local":
        return local_target(start=start)
    if kind == "compose":
        return compose_target(compose_file)
    return external_target()
