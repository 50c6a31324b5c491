"""What the harness needs to know, read from the parsed compose file (pure): service URLs, the
order API through Toxiproxy, the broker's URL and login, the Toxiproxy API and its proxy map."""

from __future__ import annotations

import json
import shlex
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from harness.runner.layout import Endpoints
from harness.runner.topology import HTTP_ORDER_PROXY
from harness.targets.compose.access import COMPOSE_PASSWORDS, VHOST
from harness.targets.compose.errors import (
    AMQP_PORT,
    BROKER,
    TOXIPROXY,
    TOXIPROXY_API_PORT,
    ComposeError,
    compose_service,
)
from system.access import HARNESS, user_name
from system.contracts import SERVICES


@dataclass(frozen=True)
class PublishedPort:
    host_ip: str
    host_port: int
    container_port: int


def published_ports(service_def: Mapping[str, Any]) -> list[PublishedPort]:
    """The ports a service publishes, from the short ("[ip:]host:container[/proto]") or long syntax."""
    result = []
    for entry in service_def.get("ports") or ():
        if isinstance(entry, dict):
            if entry.get("published") is None:
                continue
            result.append(
                PublishedPort(
                    str(entry.get("host_ip", "0.0.0.0")),
                    int(entry["published"]),
                    int(entry["target"]),
                )
            )
            continue
        text = str(entry).split("/", 1)[0]
        parts = text.rsplit(":", 2)
        if len(parts) == 1:  # container port only: Docker picks a random host port
            continue
        host_ip = parts[0] if len(parts) == 3 else "0.0.0.0"
        host_port, container_port = parts[-2], parts[-1]
        if "-" in host_port or "-" in container_port:
            raise ComposeError(f"port ranges are not supported here: {entry!r}")
        result.append(PublishedPort(host_ip, int(host_port), int(container_port)))
    return result


def host_url_for(
    service_def: Mapping[str, Any], container_port: int, name: str, scheme: str = "http"
) -> str:
    for port in published_ports(service_def):
        if port.container_port == container_port:
            host = "127.0.0.1" if port.host_ip in ("0.0.0.0", "", "::") else port.host_ip
            return f"{scheme}://{host}:{port.host_port}"
    raise ComposeError(f"compose service {name!r} does not publish container port {container_port}")


def environment(service_def: Mapping[str, Any]) -> dict[str, str]:
    raw = service_def.get("environment") or {}
    if isinstance(raw, list):  # ["KEY=value", ...]
        return dict(item.split("=", 1) if "=" in item else (item, "") for item in raw)
    return {str(k): "" if v is None else str(v) for k, v in raw.items()}


def service_container_port(compose: Mapping[str, Any], service: str) -> int:
    env = environment(compose["services"][compose_service(service)])
    key = f"SAGA_{service.upper()}_PORT"
    if not env.get(key):
        raise ComposeError(f"{compose_service(service)} does not set {key}")
    return int(env[key])


def toxiproxy_config_path(compose: Mapping[str, Any], base: Path) -> Path:
    """The host file mounted as Toxiproxy's `-config` file."""
    toxiproxy = compose["services"].get(TOXIPROXY) or {}
    command = toxiproxy.get("command") or []
    if isinstance(command, str):
        command = shlex.split(command)
    target = next((arg.split("=", 1)[1] for arg in command if arg.startswith("-config=")), None)
    if target is None:
        raise ComposeError("the toxiproxy service has no -config=FILE argument")
    for volume in toxiproxy.get("volumes") or ():
        if isinstance(volume, dict):
            source, mounted = volume.get("source"), volume.get("target")
        else:
            source, mounted = (str(volume).split(":") + [""])[:2]
        if mounted == target and source:
            return (base / source).resolve()
    raise ComposeError(f"no volume of the toxiproxy service mounts its config file {target}")


def proxy_map(compose: Mapping[str, Any], base: Path) -> dict[str, Any]:
    """The Toxiproxy config in the shape of the local runner's proxy map."""
    path = toxiproxy_config_path(compose, base)
    try:
        proxies = json.loads(path.read_text())
    except (FileNotFoundError, json.JSONDecodeError) as exc:
        raise ComposeError(f"cannot read the Toxiproxy config {path}: {exc}") from None
    toxiproxy_url = host_url_for(compose["services"][TOXIPROXY], TOXIPROXY_API_PORT, TOXIPROXY)
    return {
        "toxiproxy_url": toxiproxy_url,
        "proxies": {p["name"]: {"listen": p["listen"], "upstream": p["upstream"]} for p in proxies},
    }


def broker_url(compose: Mapping[str, Any]) -> str:
    """The broker as the harness reaches it from the host: published AMQP port, the harness's own
    user (deploy/rabbitmq/definitions.json)."""
    rabbitmq = compose["services"][BROKER]
    address = host_url_for(rabbitmq, AMQP_PORT, BROKER, scheme="amqp").removeprefix("amqp://")
    return f"amqp://{user_name(VHOST, HARNESS)}:{COMPOSE_PASSWORDS[HARNESS]}@{address}/"


def compose_endpoints(compose: Mapping[str, Any], base: Path) -> Endpoints:
    services = {
        s: host_url_for(
            compose["services"][compose_service(s)],
            service_container_port(compose, s),
            compose_service(s),
        )
        for s in SERVICES
    }
    proxies = proxy_map(compose, base)
    order_api = services["order"]
    http_order = proxies["proxies"].get(HTTP_ORDER_PROXY)
    if http_order:
        listen_port = int(http_order["listen"].rsplit(":", 1)[1])
        try:
            order_api = host_url_for(compose["services"][TOXIPROXY], listen_port, TOXIPROXY)
        except ComposeError:
            pass  # the proxy is not published: clients go to the order service directly
    return Endpoints(
        services=services,
        order_api=order_api,
        amqp_url=broker_url(compose),
        toxiproxy_url=proxies["toxiproxy_url"],
    )


def external_target_env(endpoints: Endpoints) -> dict[str, str]:
    """The variables of the pytest plugin's `external` target, pointing at these endpoints."""
    env = {"SAGA_TARGET": "external"}
    env.update({f"SAGA_{s.upper()}_URL": url for s, url in endpoints.services.items()})
    env["SAGA_ORDER_API_URL"] = endpoints.order_api
    env["SAGA_AMQP_URL"] = endpoints.amqp_url
    if endpoints.toxiproxy_url:
        env["TOXIPROXY_URL"] = endpoints.toxiproxy_url
    return env
