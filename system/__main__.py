"""Run one service: `python -m system order` (also the `saga-service` script and the containers' command)."""

from __future__ import annotations

import argparse
import logging
import os
import socket
import sys

from system import logthrottle
from system.config import ConfigError, service_config
from system.contracts import SERVICES


def build_app(service: str):
    config = service_config(service)
    # Imported here: the HTTP layer (FastAPI) is only needed by a service process.
    from system.app import create_app
    from system.delivery.api import routes as delivery_routes
    from system.inventory.api import routes as inventory_routes
    from system.order.api import routes as order_routes
    from system.payment.api import routes as payment_routes
    from system.registry import SERVICE_LOGIC

    routes = {"order": order_routes, "inventory": inventory_routes, "payment": payment_routes, "delivery": delivery_routes}
    return config, create_app(config, SERVICE_LOGIC[service], routes[service])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="saga-service", description="Run one saga service.")
    parser.add_argument("service", choices=SERVICES)
    args = parser.parse_args(argv)
    name = os.environ.get("SAGA_REPLICA") or args.service
    logging.basicConfig(
        level=logging.INFO,
        format=f"%(asctime)s %(levelname)s {name} %(name)s: %(message)s",
        stream=sys.stdout,
    )
    # A fault that repeats (a broker down, a connection flood, a poison queue) logs a few lines
    # per window, not one per occurrence: 20,000 half-open connections once wrote 196 MB in 40 s.
    for handler in logging.getLogger().handlers:
        logthrottle.install(handler)
    logging.getLogger("aiormq").setLevel(logging.WARNING)
    logging.getLogger("aio_pika").setLevel(logging.WARNING)
    try:
        config, app = build_app(args.service)
    except ConfigError as exc:
        print(f"saga-service: {exc}", file=sys.stderr)
        return 2
    # Bind before anything starts: a taken port is a clear error and exit 1, not a process that
    # logs the bind failure and then lingers with its broker connection retrying.
    # A replica shares the service's port with its siblings (SO_REUSEPORT: the kernel spreads
    # connections over them) and has a port of its own; a port held by anything else still fails.
    sockets = []
    for port, shared in ((config.port, config.replica_port is not None), (config.replica_port, False)):
        if port is None:
            continue
        try:
            sockets.append(socket.create_server((config.host, port), reuse_port=shared))
        except OSError as exc:
            print(f"saga-service: cannot listen on {config.host}:{port}: {exc.strerror or exc}", file=sys.stderr)
            return 1
    import uvicorn

    from system.http_limits import uvicorn_settings

    # log_config=None: uvicorn's loggers propagate to ours, so its lines ("Invalid HTTP request
    # received", one per bad request) carry our format and pass the rate limit above.
    if config.tracing:  # the POST's order id is chosen before its server span starts
        from system.tracing import pre_order_ids

        app = pre_order_ids(app)
    server = uvicorn.Server(
        uvicorn.Config(app, log_level="warning", access_log=False, log_config=None, loop=config.event_loop,
                       **uvicorn_settings(config.http))
    )
    server.run(sockets=sockets)
    return 0


if __name__ == "__main__":
    sys.exit(main())
