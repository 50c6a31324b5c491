"""What goes wrong with a compose target, and the names it shares with the compose file."""

from __future__ import annotations

from system.contracts import SERVICES

DEFAULT_COMPOSE_FILE_NAME = "docker-compose.yml"
BROKER = "rabbitmq"
TOXIPROXY = "toxiproxy"
TOXIPROXY_API_PORT = 8474
AMQP_PORT = 5672


class ComposeError(RuntimeError):
    """A Compose command failed, or the compose file does not say what the harness needs."""


class ComposeUnavailable(ComposeError):
    """No Compose command on this machine."""


def compose_service(service: str) -> str:
    """The compose service that runs a saga service: `order` -> `order-service`."""
    if service not in SERVICES:
        raise ValueError(f"unknown service {service!r}; one of {', '.join(SERVICES)}")
    return f"{service}-service"
