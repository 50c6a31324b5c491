"""Where a local run keeps its files: $SAGA_HOME (default ./.saga) with data/, logs/, pids and the proxy map."""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import quote, unquote, urlsplit

from system.access import HARNESS, user_name
from system.config import DEFAULT_AMQP_URL
from system.contracts import DEFAULT_PORTS, SERVICES


@dataclass(frozen=True)
class Layout:
    home: Path

    @classmethod
    def from_env(cls, env: dict[str, str] | os._Environ = os.environ) -> Layout:
        return cls(Path(env.get("SAGA_HOME", ".saga")).resolve())

    @property
    def data_dir(self) -> Path:
        return self.home / "data"

    @property
    def log_dir(self) -> Path:
        return self.home / "logs"

    @property
    def proxy_map_file(self) -> Path:
        return self.home / "proxies.json"

    @property
    def amqp_passwords_file(self) -> Path:
        """This instance's RabbitMQ passwords, account -> password (system/access.py); mode 0600."""
        return self.home / "amqp-passwords.json"

    def read_amqp_passwords(self) -> dict[str, str] | None:
        try:
            return json.loads(self.amqp_passwords_file.read_text())
        except (FileNotFoundError, json.JSONDecodeError):
            return None

    @property
    def replicas_file(self) -> Path:
        """How many processes per service the running run has (`up --replicas N`, until `down`)."""
        return self.home / "replicas"

    def read_replicas(self) -> int | None:
        try:
            return int(self.replicas_file.read_text().strip())
        except (FileNotFoundError, ValueError):
            return None

    @property
    def broker_file(self) -> Path:
        """The instance's own RabbitMQ cluster (`up --broker-nodes N`), until `down`: its size and
        the URL the harness uses (node 1)."""
        return self.home / "broker.json"

    def read_broker(self) -> dict[str, Any] | None:
        try:
            return json.loads(self.broker_file.read_text())
        except (FileNotFoundError, json.JSONDecodeError):
            return None

    def pid_file(self, name: str) -> Path:
        return self.home / f"{name}.pid"

    def log_file(self, name: str) -> Path:
        return self.log_dir / f"{name}.log"

    def read_proxy_map(self) -> dict[str, Any] | None:
        try:
            return json.loads(self.proxy_map_file.read_text())
        except (FileNotFoundError, json.JSONDecodeError):
            return None

    def write_proxy_map(self, proxy_map: dict[str, Any]) -> None:
        self.home.mkdir(parents=True, exist_ok=True)
        tmp = self.proxy_map_file.with_suffix(".tmp")
        tmp.write_text(json.dumps(proxy_map, indent=2))
        tmp.replace(self.proxy_map_file)


@dataclass(frozen=True)
class Endpoints:
    """The URLs of a running system, local or elsewhere."""

    services: dict[str, str]  # service -> base URL (direct, not through a proxy)
    order_api: str  # the order API as the harness's clients reach it (through http_order if proxied)
    amqp_url: str  # the broker as the harness itself (recorder, nemeses) reaches it, never proxied
    toxiproxy_url: str | None = None
    # service -> the own base URL of each of its replicas (#1..#N), when it runs several: a
    # service's URL reaches whichever replica the kernel picks, these reach that very process.
    replicas: dict[str, list[str]] = field(default_factory=dict)

    def process_urls(self, service: str) -> dict[str, str]:
        """Every process of a service by name, each URL reaching that one process: `{"payment":
        url}` for one process, `{"payment#1": url1, "payment#2": url2}` with replicas."""
        urls = self.replicas.get(service)
        if not urls:
            return {service: self.services[service]}
        return {f"{service}#{r}": url for r, url in enumerate(urls, start=1)}


def service_port(service: str, env: dict[str, str] | os._Environ = os.environ) -> int:
    return int(env.get(f"SAGA_{service.upper()}_PORT", DEFAULT_PORTS[service]))


# -- replicas: `payment#2` is the second process of the payment service ------------------------
REPLICA_PORT_STEP = 100  # replica r of a service also listens on its port + 100 * r
# An isolated instance (harness.runner.instance): replica r on the service's port + 4 r, so its
# processes take consecutive ports from its base + 1 (the services' ports are base + 1..4).
ISOLATED_REPLICA_PORT_STEP = len(SERVICES)


def replica_names(service: str, replicas: int) -> list[str]:
    """The process names of a service: just `payment` for one process, else `payment#1`..."""
    return [service] if replicas <= 1 else [f"{service}#{r}" for r in range(1, replicas + 1)]


def split_replica(name: str) -> tuple[str, int | None]:
    """`payment#2` -> ("payment", 2); `payment` -> ("payment", None). ValueError if malformed."""
    service, sep, number = name.partition("#")
    if service not in SERVICES or (sep and not (number.isdigit() and int(number) >= 1)):
        raise ValueError(f"not a service or replica: {name!r} (a service, or e.g. {SERVICES[2]}#2)")
    return service, int(number) if sep else None


def replica_port(service: str, replica: int, env: dict[str, str] | os._Environ = os.environ) -> int:
    """The port only replica `replica` listens on (the service's port is shared by all of them)."""
    step = int(env.get("SAGA_REPLICA_PORT_STEP") or REPLICA_PORT_STEP)
    return service_port(service, env) + step * replica


def replica_urls(service: str, replicas: int, env: dict[str, str] | os._Environ = os.environ) -> list[str]:
    """The own base URL of each replica of a service (empty for a service run as one process)."""
    if replicas <= 1:
        return []
    return [f"http://127.0.0.1:{replica_port(service, r, env)}" for r in range(1, replicas + 1)]


def urls_of(urls: Mapping[str, str], name: str) -> list[str]:
    """The base URLs of every process `name` means, in a map of service and replica names to
    URLs (a replica's own URL; for a service with replicas, each of theirs; else its own)."""
    if "#" in name:
        return [urls[name]]
    return [url for process, url in urls.items() if process.startswith(f"{name}#")] or [urls[name]]


def with_credentials(amqp_url: str, user: str, password: str) -> str:
    parts = urlsplit(amqp_url)
    host = parts.netloc.rpartition("@")[2]
    return parts._replace(netloc=f"{quote(user, safe='')}:{quote(password, safe='')}@{host}").geturl()


def amqp_vhost(amqp_url: str) -> str:
    return unquote(urlsplit(amqp_url).path[1:]) or "/"


def account_amqp_url(layout: Layout, amqp_url: str, account: str) -> str:
    """The broker URL as `account` (a service, or the harness) logs in: with its own user when
    `up` made this instance's users (system/access.py), else the URL's own user."""
    password = (layout.read_amqp_passwords() or {}).get(account)
    if password is None:
        return amqp_url
    return with_credentials(amqp_url, user_name(amqp_vhost(amqp_url), account), password)


def local_endpoints(layout: Layout, env: dict[str, str] | os._Environ = os.environ,
                    replicas: int | None = None) -> Endpoints:
    """`replicas`: processes per service (default: what the running run recorded, else 1)."""
    n = replicas or layout.read_replicas() or 1
    services = {s: f"http://127.0.0.1:{service_port(s, env)}" for s in SERVICES}
    proxy_map = layout.read_proxy_map() or {}
    http_order = proxy_map.get("proxies", {}).get("http_order")
    order_api = f"http://{http_order['listen']}" if http_order else services["order"]
    return Endpoints(
        services=services,
        order_api=order_api,
        amqp_url=account_amqp_url(layout, env.get("SAGA_AMQP_URL", DEFAULT_AMQP_URL), HARNESS),
        toxiproxy_url=proxy_map.get("toxiproxy_url"),
        replicas={s: urls for s in SERVICES if (urls := replica_urls(s, n, env))},
    )


def broker_address(amqp_url: str) -> tuple[str, int]:
    parts = urlsplit(amqp_url)
    return parts.hostname or "127.0.0.1", parts.port or 5672
