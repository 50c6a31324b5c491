"""What an experiment needs of its target (harness.targets.target.Target), checked up front.

`problems()` says what an experiment needs that the target cannot give, so a run fails with a
clear message (exit 254) instead of halfway through; `ensure_reachable()` raises Unreachable
(exit 2: the verdict is unknown) when the broker cannot be reached at all."""

from __future__ import annotations

import shutil
from collections.abc import Callable
from functools import partial

import aio_pika
import httpx

from harness.broker import run_sync
from harness.crashpoints import crash_surface_problem
from harness.exits import Unreachable, UsageError
from harness.experiments.model import Experiment
from harness.nemesis.base import NemesisError
from harness.nemesis.broker import BrokerControl
from harness.nemesis.handler_faults import handler_fault_problem
from harness.runner.local import LocalSystem
from harness.targets.target import Target
from system.urls import redact_url


class TargetProblem(UsageError, RuntimeError):
    """The target cannot run this experiment as asked (bad usage, exit 254)."""


def broker_control(target: Target) -> BrokerControl:
    if isinstance(target.system, LocalSystem):
        nodes = broker_nodes(target)
        if nodes:  # the instance's own cluster: `rabbitmq` is its node 1, never the machine's broker
            return nodes["rabbitmq#1"]
        return BrokerControl.rabbitmqctl()
    if target.system is not None and hasattr(target.system, "stop_broker"):
        return BrokerControl.compose(target.system)  # type: ignore[arg-type]
    raise NemesisError(f"the {target.kind} target cannot restart the broker (use --target local or compose)")


def broker_nodes(target: Target) -> dict[str, BrokerControl]:
    """A local target's own RabbitMQ cluster (`up --broker-nodes N`): each node by name."""
    cluster = target.system.cluster() if isinstance(target.system, LocalSystem) else None
    if cluster is None:
        return {}
    return {node.label: BrokerControl(partial(cluster.stop_app, node), partial(cluster.start_app, node),
                                      f"rabbitmqctl -n {node.name} stop_app / start_app")
            for node in cluster.nodes}


def broker_partitions(target: Target) -> dict[str, BrokerControl]:
    """A local target's own RabbitMQ cluster: each node by name, cut off from its peers and back."""
    cluster = target.system.cluster() if isinstance(target.system, LocalSystem) else None
    if cluster is None:
        return {}
    return {node.label: BrokerControl(partial(cluster.partition, node), partial(cluster.mend, node),
                                      f"nftables drops {node.name}'s distribution traffic with its peers",
                                      partial(cluster.partition_view, node))
            for node in cluster.nodes}


def ensure_reachable(target: Target) -> None:
    """Raise Unreachable if the harness cannot open its own connection to the broker."""
    try:
        run_sync(_open_and_close(target.endpoints.amqp_url))
    except Exception as exc:  # noqa: BLE001 - any failure is the answer
        raise Unreachable(f"the broker at {redact_url(target.endpoints.amqp_url)}", exc) from None


def process_urls(target: Target) -> dict[str, str]:
    """Base URLs by service and, on a local target with replicas, by replica (`payment#2`)."""
    urls = dict(target.endpoints.services)
    for service in target.endpoints.services:
        urls.update(target.endpoints.process_urls(service))
    return urls


def problems(target: Target, experiment: Experiment) -> list[str]:
    """What the experiment needs that this target cannot give (empty: it can run)."""
    found: list[str] = []
    endpoints = target.endpoints
    urls = process_urls(target)
    db_links = sorted({t for f in experiment.faults if f.nemesis == "network" for t in f.targets if t.endswith("/db")})
    if db_links and not (isinstance(target.system, LocalSystem) and target.system.store_url and target.system.proxied):
        found.append(f"{', '.join(db_links)}: links to PostgreSQL are proxied only on a local target run "
                     "with SAGA_STORE=postgresql://... through Toxiproxy")
    for link in db_links:
        if link[: -len("/db")] not in urls:
            found.append(f"{link}: the target has no process {link[: -len('/db')]!r}")
    for name in sorted({t for f in experiment.faults if f.nemesis != "broker"
                        for t in f.targets if "#" in t and "/" not in t and t not in urls}):
        found.append(f"{name}: the target has no such replica (run it with `saga-harness up --replicas N`, "
                     "which needs SAGA_STORE=postgresql://...)")
    if experiment.needs("network"):
        url = endpoints.toxiproxy_url
        if not url:
            found.append("network faults need Toxiproxy: no proxy map (run `saga-harness up`) and no TOXIPROXY_URL")
        elif not _answers(f"{url}/version"):
            found.append(f"network faults need Toxiproxy, and nothing answers at {url}")
    if experiment.needs("crash", "kill") and target.system is None:
        found.append(f"`kill` faults need process control, which the {target.kind} target does not give "
                     "(use --target local, or crash points)")
    surfaces = (("crash", "crashpoint", "crash points", crash_surface_problem),
                ("handler_faults", None, "handler faults", handler_fault_problem))
    for nemesis, kind, what, check in surfaces:
        problem = _surface_problem(target, experiment, nemesis, kind, check)
        if problem:
            found.append(f"{what} on {problem}")
    if experiment.needs("broker"):
        try:
            broker_control(target)
        except NemesisError as exc:
            found.append(f"broker restarts: {exc}")
        nodes = broker_nodes(target)
        for name in sorted({t for f in experiment.faults if f.nemesis == "broker" for t in f.targets if "#" in t}):
            if name not in nodes:
                found.append(f"{name}: the target has no such broker node (run it with "
                             "`saga-harness up --broker-nodes 3`)")
        if experiment.needs("broker", "partition") and shutil.which("nft") is None:
            found.append("broker node partitions need nftables (`apt-get install nftables`) and root")
    return found


def _surface_problem(target: Target, experiment: Experiment, nemesis: str, kind: str | None,
                     check: Callable[[str, str | None], str | None]) -> str | None:
    """'<service>: why' for the first target service whose chaos surface does not answer."""
    services = {t for f in experiment.faults if f.nemesis == nemesis and kind in (None, f.kind) for t in f.targets}
    urls = process_urls(target)
    for service in sorted(services & set(urls)):
        problem = check(urls[service], target.chaos_token)
        if problem:
            return f"{service}: {problem}"
    return None


async def _open_and_close(amqp_url: str) -> None:
    connection = await aio_pika.connect(amqp_url, timeout=5)
    await connection.close()


def _answers(url: str) -> bool:
    try:
        return httpx.get(url, timeout=2.0).status_code < 500
    except httpx.HTTPError:
        return False
