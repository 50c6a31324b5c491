"""The compose target: the saga as `docker-compose.yml` runs it, seen from the host.

Everything the harness needs to know is read from docker-compose.yml and the Toxiproxy config file
it mounts, so the file stays the one source of truth. One concern per module:

- files.py      the compose file as Compose reads it (YAML, `.env`, variable interpolation)
- endpoints.py  what the harness needs from it: URLs, broker login, Toxiproxy and its proxy map
- system.py     ComposeSystem: process control and readiness through the Compose CLI
- checks.py     static checks of the compose files and the Dockerfile (CI has no Docker engine)
- __main__.py   `python -m harness.targets.compose env` prints the shell exports that point the
                harness's external target (pytest plugin, BDD steps) at a running compose system
"""

from harness.targets.compose.endpoints import (
    PublishedPort,
    broker_url,
    compose_endpoints,
    environment,
    external_target_env,
    host_url_for,
    proxy_map,
    published_ports,
    service_container_port,
    toxiproxy_config_path,
)
from harness.targets.compose.errors import (
    AMQP_PORT,
    BROKER,
    TOXIPROXY,
    TOXIPROXY_API_PORT,
    ComposeError,
    ComposeUnavailable,
    compose_service,
)
from harness.targets.compose.files import interpolate, load_compose, read_dotenv
from harness.targets.compose.system import (
    DEFAULT_COMPOSE_COMMAND,
    DEFAULT_COMPOSE_FILE,
    ComposeSystem,
)

__all__ = [
    "AMQP_PORT", "BROKER", "DEFAULT_COMPOSE_COMMAND", "DEFAULT_COMPOSE_FILE", "TOXIPROXY", "TOXIPROXY_API_PORT",
    "ComposeError", "ComposeSystem", "ComposeUnavailable", "PublishedPort", "broker_url", "compose_endpoints",
    "compose_service", "environment", "external_target_env", "host_url_for", "interpolate", "load_compose",
    "proxy_map", "published_ports", "read_dotenv", "service_container_port", "toxiproxy_config_path",
]
