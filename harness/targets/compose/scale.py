"""Static checks of docker-compose.scale.yml (issue #17): the compose demo on PostgreSQL with a
second replica of every service and an optional three-node RabbitMQ cluster, as an overlay of
docker-compose.yml. Pure functions over the parsed files, like checks.py: each returns problems."""

from __future__ import annotations

import copy
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from harness.targets.compose.endpoints import environment, published_ports
from harness.targets.compose.errors import compose_service
from system.contracts import DEFAULT_PORTS, SERVICES

ROOT = Path(__file__).resolve().parents[3]
SCALE_FILE = ROOT / "docker-compose.scale.yml"
CLUSTER_CONF = ROOT / "deploy" / "rabbitmq" / "cluster.conf"
CLUSTER_NODES = ("rabbitmq", "rabbitmq-2", "rabbitmq-3")
POSTGRES = "postgres"

Compose = Mapping[str, Any]


def merge(base: Compose, overlay: Compose) -> dict[str, Any]:
    """`docker compose -f base -f overlay`: mappings merge key by key, anything else is replaced."""
    merged = copy.deepcopy(dict(base))
    for key, value in overlay.items():
        if isinstance(value, Mapping) and isinstance(merged.get(key), Mapping):
            merged[key] = merge(merged[key], value)
        else:
            merged[key] = copy.deepcopy(value)
    return merged


def replica_service(service: str) -> str:
    return f"{compose_service(service)}-2"


def _store_problem(name: str, definition: Mapping[str, Any]) -> str | None:
    url = environment(definition).get("SAGA_STORE", "")
    parts = urlsplit(url)
    if parts.scheme != "postgresql" or parts.hostname != POSTGRES:
        return f"{name}: SAGA_STORE must be a postgresql:// URL to the {POSTGRES} service, not {url!r}"
    depends = (definition.get("depends_on") or {}).get(POSTGRES) or {}
    if depends.get("condition") != "service_healthy":
        return f"{name}: must depend on {POSTGRES} being healthy (its schema is made at start)"
    return None


def scale_problems(merged: Compose) -> list[str]:
    services = dict(merged.get("services") or {})
    problems = []
    postgres = services.get(POSTGRES) or {}
    if not str(postgres.get("image", "")).startswith("postgres:"):
        problems.append(f"no {POSTGRES} service with a postgres image")
    if "pg_isready" not in " ".join((postgres.get("healthcheck") or {}).get("test") or []):
        problems.append(f"{POSTGRES}: the healthcheck must ask pg_isready")
    if any(p.host_ip != "127.0.0.1" for p in published_ports(postgres)):
        problems.append(f"{POSTGRES}: publish on 127.0.0.1 only (trust authentication)")
    for service in SERVICES:
        first, second = compose_service(service), replica_service(service)
        one, two = services.get(first) or {}, services.get(second)
        for name, definition in ((first, one), (second, two)):
            problem = _store_problem(name, definition or {})
            if problem:
                problems.append(problem)
        if two is None:
            problems.append(f"no {second} service (the second replica of {service})")
            continue
        if two.get("command") != one.get("command"):
            problems.append(f"{second}: command {two.get('command')!r} is not {first}'s {one.get('command')!r}")
        env_one, env_two = environment(one), environment(two)
        if env_two.get("SAGA_REPLICA") != f"{service}#2":
            problems.append(f"{second}: SAGA_REPLICA must be {service}#2")
        differing = sorted(k for k in set(env_one) | set(env_two)
                           if k != "SAGA_REPLICA" and env_one.get(k) != env_two.get(k))
        if differing:
            problems.append(f"{second}: environment differs from {first}'s in {', '.join(differing)}")
        if published_ports(two):
            problems.append(f"{second}: publishes a host port; the documented port is {first}'s")
        port = DEFAULT_PORTS[service]
        if f"127.0.0.1:{port}/ready" not in " ".join((two.get("healthcheck") or {}).get("test") or []):
            problems.append(f"{second}: the healthcheck must ask /ready on port {port}")
        if two.get("init") is not True:
            problems.append(f"{second}: set init: true, or a crash point cannot kill it (PID 1)")
    return problems + cluster_problems(merged, CLUSTER_CONF.read_text() if CLUSTER_CONF.exists() else "")


def cluster_problems(merged: Compose, cluster_conf: str) -> list[str]:
    """The cluster profile: the same image and Erlang cookie on every node, the joining nodes in
    the `cluster` profile, and the config naming each node by its hostname."""
    services = dict(merged.get("services") or {})
    problems = []
    first = services.get(CLUSTER_NODES[0]) or {}
    cookie = environment(first).get("RABBITMQ_ERLANG_COOKIE")
    if not cookie:
        problems.append(f"{CLUSTER_NODES[0]}: no RABBITMQ_ERLANG_COOKIE (nodes with different cookies never cluster)")
    listed = set(re.findall(r"^cluster_formation\.classic_config\.nodes\.\d+\s*=\s*rabbit@(\S+)", cluster_conf, re.M))
    for node in CLUSTER_NODES:
        definition = services.get(node)
        if definition is None:
            problems.append(f"no {node} service")
            continue
        if node not in listed:
            problems.append(f"deploy/rabbitmq/cluster.conf does not name rabbit@{node}")
        if node == CLUSTER_NODES[0]:
            continue
        if "cluster" not in (definition.get("profiles") or []):
            problems.append(f"{node}: belongs to the cluster profile only")
        if definition.get("hostname") != node:
            problems.append(f"{node}: hostname must be {node} (the node name rabbit@{node})")
        if definition.get("image") != first.get("image"):
            problems.append(f"{node}: image {definition.get('image')!r} is not {CLUSTER_NODES[0]}'s")
        if environment(definition).get("RABBITMQ_ERLANG_COOKIE") != cookie:
            problems.append(f"{node}: RABBITMQ_ERLANG_COOKIE differs from {CLUSTER_NODES[0]}'s")
    return problems
