"""`saga-harness up | down | status | kill | restart`: the local system's life cycle."""

from __future__ import annotations

import argparse
import sys

from harness.exits import EXIT_FAILED, EXIT_OK
from harness.runner.layout import split_replica
from harness.runner.local import (
    BrokerUnreachable,
    LocalSystem,
    ReplicasNeedSharedStore,
    StoreUnreachable,
)
from system.contracts import SERVICES
from system.urls import redact_url


def register(sub: argparse._SubParsersAction) -> None:
    up = sub.add_parser("up", help="start the four services (and Toxiproxy) locally; starts only what is down")
    up.add_argument("--no-proxy", action="store_true", help="connect services straight to RabbitMQ")
    up.add_argument("--chaos", action="store_true", help="enable the crash-point control surface (writes a token)")
    up.add_argument("--timeout", type=float, default=60.0, help="seconds to wait for readiness")
    up.add_argument("--broker-nodes", type=int, default=None, metavar="N",
                    help="run the instance's own N-node RabbitMQ cluster (installed RabbitMQ; own names, ports, data)")
    up.add_argument("--replicas", type=int, default=None, metavar="N",
                    help="processes per service, competing on its queue (N > 1 needs SAGA_STORE=postgresql://...)")
    up.set_defaults(func=cmd_up)

    down = sub.add_parser("down", help="stop the local services and the bundled Toxiproxy")
    down.set_defaults(func=cmd_down)

    status = sub.add_parser("status", help="per service: pid, port, ready or why not")
    status.set_defaults(func=cmd_status)

    kill = sub.add_parser("kill", help="SIGKILL a service's processes, or one replica (payment#2); down until `restart` or `up`")
    kill.add_argument("service", type=_process_name, help=f"{', '.join(SERVICES)}, or a replica such as payment#2")
    kill.set_defaults(func=cmd_kill)

    restart = sub.add_parser("restart", help="start a service (or replica) that is down and wait until it is ready")
    restart.add_argument("service", type=_process_name, help=f"{', '.join(SERVICES)}, or a replica such as payment#2")
    restart.set_defaults(func=cmd_restart)


def _process_name(name: str) -> str:
    try:
        split_replica(name)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None
    return name


def _print_status(system: LocalSystem) -> bool:
    statuses = system.status()
    print(f"{'service':<12} {'pid':>7} {'port':>5}  state")
    for s in statuses:
        print(f"{s.service:<12} {s.pid or '-':>7} {s.port:>5}  {'ready' if s.ready else 'NOT READY: ' + s.reason}")
    return all(s.ready for s in statuses)


def cmd_up(args: argparse.Namespace) -> int:
    system = LocalSystem(proxied=not args.no_proxy)
    try:
        system.up(chaos=args.chaos, timeout=args.timeout, replicas=args.replicas, broker_nodes=args.broker_nodes)
    except (ReplicasNeedSharedStore, StoreUnreachable, ValueError) as exc:
        print(f"saga-harness up: {exc}", file=sys.stderr)
        return EXIT_FAILED
    except BrokerUnreachable as exc:
        print(f"saga-harness up: {exc}", file=sys.stderr)
        return EXIT_FAILED
    except RuntimeError as exc:
        print(f"saga-harness up: {exc}", file=sys.stderr)
        return EXIT_FAILED
    _print_status(system)
    endpoints = system.endpoints()
    print(f"logs: {system.layout.log_dir}   data: {system.layout.data_dir}")
    print(f"order API: {endpoints.services['order']} (through Toxiproxy: {endpoints.order_api})")
    cluster = system.cluster()
    if cluster is not None:
        print("broker: a local cluster of " + ", ".join(f"{n.label} {n.name} :{n.amqp_port}" for n in cluster.nodes))
    if system.replicas > 1:
        print(f"{system.replicas} replicas per service share each service's port (SO_REUSEPORT); "
              f"each also answers on its own port (status)")
    print(f"store: {system.store_url and redact_url(system.store_url) or 'SQLite under ' + str(system.layout.data_dir)}")
    return EXIT_OK


def cmd_down(args: argparse.Namespace) -> int:
    stopped = LocalSystem().down()
    print("stopped: " + (", ".join(stopped) if stopped else "nothing was running"))
    return EXIT_OK


def cmd_status(args: argparse.Namespace) -> int:
    return EXIT_OK if _print_status(LocalSystem()) else EXIT_FAILED


def cmd_kill(args: argparse.Namespace) -> int:
    try:
        pid = LocalSystem().kill_service(args.service)
    except ValueError as exc:
        print(f"saga-harness kill: {exc}", file=sys.stderr)
        return EXIT_FAILED
    print(f"{args.service}: " + (f"killed pid {pid} with SIGKILL" if pid else "was not running"))
    return EXIT_OK


def cmd_restart(args: argparse.Namespace) -> int:
    try:
        status = LocalSystem().restart_service(args.service)
    except (RuntimeError, ValueError) as exc:
        print(f"saga-harness restart: {exc}", file=sys.stderr)
        return EXIT_FAILED
    print(f"{status.service}: ready (pid {status.pid})")
    return EXIT_OK
