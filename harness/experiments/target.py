"""Where a chaos run runs: the local processes (full control) or an external system (compose,
URLs only), and what each can do. `problems()` says up front what an experiment needs that the
target cannot give, so a run fails with a clear message instead of halfway through."""

from __future__ import annotations

import os
from dataclasses import dataclass

import httpx

from harness.experiments.model import Experiment
from harness.nemesis.base import NemesisError
from harness.nemesis.broker import BrokerControl
from harness.nemesis.crashes import crash_surface_problem
from harness.runner.layout import Endpoints
from harness.runner.local import LocalSystem


class TargetProblem(RuntimeError):
    """The target cannot run this experiment as asked (bad usage, exit 254)."""


@dataclass
class RunTarget:
    kind: str  # "local" | "external"
    endpoints: Endpoints
    system: LocalSystem | None = None
    chaos_token: str | None = None
    compose_file: str | None = None

    def broker_control(self) -> BrokerControl:
        if self.kind == "local":
            return BrokerControl.rabbitmqctl()
        return BrokerControl.compose(self.compose_file)

    def problems(self, experiment: Experiment) -> list[str]:
        found: list[str] = []
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


def external_target(env: dict[str, str] | os._Environ = os.environ) -> RunTarget:
    """A system somebody else runs (the compose demo): SAGA_<SERVICE>_URL, SAGA_AMQP_URL, TOXIPROXY_URL."""
    from harness.pytest_plugin import external_endpoints

    return RunTarget(
        "external",
        external_endpoints(env),
        None,
        env.get("SAGA_CHAOS_TOKEN"),
        env.get("SAGA_COMPOSE_FILE"),
    )
