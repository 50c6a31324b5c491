"""The network topology of a local run: a Toxiproxy (ours, unless TOXIPROXY_URL names one) and
one proxy per link: each service's AMQP connection, and the order API.
"""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from harness.runner import processes
from harness.runner.commands import toxiproxy_argv
from harness.runner.layout import Layout, broker_address, service_port
from harness.toxiproxy.client import ToxiproxyClient, ToxiproxyError
from system.contracts import SERVICES

TOXIPROXY_MARKER = "harness.toxiproxy"


def amqp_proxy_name(service: str) -> str:
    return f"amqp_{service}"


def store_proxy_name(process: str) -> str:
    """The proxy between one process (`payment`, `payment#2`) and PostgreSQL: `pg_payment_2`."""
    return "pg_" + process.replace("#", "_")


def proxied_store_url(store_url: str, listen: str) -> str:
    """The PostgreSQL URL with host:port replaced by the proxy's."""
    parts = urlsplit(store_url)
    user = parts.netloc.rpartition("@")[0]
    return parts._replace(netloc=f"{user}@{listen}" if user else listen).geturl()


HTTP_ORDER_PROXY = "http_order"


def toxiproxy_url(env: dict[str, str] | os._Environ = os.environ) -> str:
    return env.get("TOXIPROXY_URL") or f"http://127.0.0.1:{env.get('SAGA_TOXIPROXY_PORT', '8474')}"


def _reachable(url: str) -> bool:
    return ToxiproxyClient(url, timeout=1.0).is_running()


def ensure_toxiproxy(layout: Layout, env: dict[str, str], cwd: Path, timeout: float = 15.0) -> tuple[str, str]:
    """Return (url, how): an external server named by TOXIPROXY_URL, or ours, started if down."""
    url = toxiproxy_url(env)
    if env.get("TOXIPROXY_URL"):
        if not _reachable(url):
            raise RuntimeError(f"TOXIPROXY_URL={url} is set but nothing answers at {url}/version")
        return url, "external"
    if _reachable(url):
        return url, "running"
    parts = urlsplit(url)
    seed = env.get("SAGA_TOXIPROXY_SEED")
    argv = toxiproxy_argv(parts.hostname or "127.0.0.1", parts.port or 8474, int(seed) if seed else None)
    processes.spawn(argv, dict(env), layout.log_file("toxiproxy"), layout.pid_file("toxiproxy"), cwd)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if _reachable(url):
            return url, "started"
        time.sleep(0.1)
    raise RuntimeError(f"the Toxiproxy server did not answer at {url}; see {layout.log_file('toxiproxy')}")


def ensure_proxies(
    layout: Layout, url: str, amqp_url: str, env: dict[str, str], extra: dict[str, str] | None = None,
    amqp_upstreams: dict[str, str] | None = None,
) -> dict[str, Any]:
    """Create the missing proxies (reusing recorded ports so running services keep their URLs);
    `extra`: more proxies, name -> upstream (each replica's link to PostgreSQL); `amqp_upstreams`:
    service -> host:port of the broker node its link leads to (a local cluster's), else the URL's."""
    broker_host, broker_port = broker_address(amqp_url)
    wanted = {amqp_proxy_name(s): (amqp_upstreams or {}).get(s, f"{broker_host}:{broker_port}") for s in SERVICES}
    wanted[HTTP_ORDER_PROXY] = f"127.0.0.1:{service_port('order', env)}"
    wanted.update(extra or {})
    previous = (layout.read_proxy_map() or {}).get("proxies", {})
    client = ToxiproxyClient(url, timeout=5.0)
    existing = client.proxies()
    for name, upstream in wanted.items():
        current = existing.get(name)
        if current and current.upstream == upstream:
            if not current.enabled:
                client.enable(name)
            continue
        if current:
            client.delete_proxy(name)
        listen = previous.get(name, {}).get("listen", "127.0.0.1:0")
        try:
            client.create_proxy(name, upstream, listen)
        except ToxiproxyError:
            if listen == "127.0.0.1:0":
                raise
            client.create_proxy(name, upstream, "127.0.0.1:0")  # the old port is taken now
    proxies = client.proxies()
    proxy_map = {
        "toxiproxy_url": url,
        "proxies": {name: {"listen": proxies[name].listen, "upstream": proxies[name].upstream} for name in wanted},
    }
    layout.write_proxy_map(proxy_map)
    return proxy_map


def proxied_amqp_url(amqp_url: str, listen: str, heartbeat: int) -> str:
    """The broker URL with host:port replaced by the proxy's, and a short heartbeat for chaos."""
    parts = urlsplit(amqp_url)
    netloc = listen if not parts.username else f"{parts.username}:{parts.password or ''}@{listen}"
    query = parts.query
    if "heartbeat=" not in query:
        query = f"{query}&heartbeat={heartbeat}" if query else f"heartbeat={heartbeat}"
    return parts._replace(netloc=netloc, query=query).geturl()
