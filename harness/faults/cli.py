"""`saga-harness fault ...`: inject, list and heal network faults by hand.

    saga-harness fault add latency --target payment --attr latency=300 --attr jitter=50
    saga-harness fault partition --target order
    saga-harness fault list
    saga-harness fault heal

Exit codes: 0 done, 1 Toxiproxy unreachable or refused the change, 254 bad usage.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable
from dataclasses import asdict

from harness.exits import EXIT_FAILED, EXIT_OK, EXIT_UNKNOWN, EXIT_USAGE
from harness.faults.network import (
    FAULT_KINDS,
    STREAMS,
    FaultUsageError,
    NetworkFaults,
    load_proxy_map,
)
from harness.toxiproxy.client import (
    NotFound,
    ToxiproxyClient,
    ToxiproxyError,
    ToxiproxyUnreachable,
)

HOW_TO_START = (
    "start it with `saga-harness toxiproxy` (or `python -m harness.toxiproxy --port 8474`), "
    "or let the runner start the system, which writes $SAGA_HOME/proxies.json"
)


def register(subparsers: argparse._SubParsersAction) -> None:
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument(
        "--url",
        help="Toxiproxy API URL (default: from $SAGA_HOME/proxies.json, else $TOXIPROXY_URL or http://127.0.0.1:8474)",
    )
    common.add_argument(
        "--proxy-map", metavar="FILE", help="proxies.json to read (default $SAGA_HOME/proxies.json)"
    )

    parser = subparsers.add_parser(
        "fault",
        help="inject, list and heal network faults (Toxiproxy)",
        description=__doc__.splitlines()[0],
    )
    actions = parser.add_subparsers(dest="fault_action", metavar="ACTION")
    parser.set_defaults(func=_missing_action(parser))

    add = actions.add_parser("add", parents=[common], help="add a toxic to a target's links")
    add.add_argument("type", metavar="TYPE", help=f"one of {', '.join(FAULT_KINDS)}")
    add.add_argument(
        "--target",
        required=True,
        help="order|inventory|payment|delivery|order_api|all (or a proxy name)",
    )
    add.add_argument(
        "--attr",
        action="append",
        default=[],
        metavar="K=V",
        help="toxic attribute, an integer (repeatable)",
    )
    add.add_argument("--stream", choices=STREAMS, help="direction (default depends on TYPE)")
    add.add_argument(
        "--toxicity", type=float, default=1.0, help="chance it applies to a connection, 0..1"
    )
    add.set_defaults(func=cmd_add)

    listing = actions.add_parser("list", parents=[common], help="show proxies and their toxics")
    listing.add_argument("--json", action="store_true", help="print the server's JSON")
    listing.set_defaults(func=cmd_list)

    heal = actions.add_parser(
        "heal", parents=[common], help="remove every chaos_* toxic and enable every proxy"
    )
    heal.set_defaults(func=cmd_heal)

    partition = actions.add_parser(
        "partition", parents=[common], help="disable a target's proxies (until `fault heal`)"
    )
    partition.add_argument(
        "--target", required=True, help="order|inventory|payment|delivery|order_api|all"
    )
    partition.set_defaults(func=cmd_partition)


def _missing_action(parser: argparse.ArgumentParser) -> Callable[[argparse.Namespace], int]:
    def handler(args: argparse.Namespace) -> int:
        parser.print_usage(sys.stderr)
        print(
            "saga-harness fault: error: choose an action: add, list, heal, partition",
            file=sys.stderr,
        )
        return EXIT_USAGE

    return handler


def parse_attrs(pairs: list[str]) -> dict[str, int]:
    attrs: dict[str, int] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise FaultUsageError(f"--attr {pair!r}: expected KEY=VALUE")
        try:
            attrs[key] = int(value)
        except ValueError:
            raise FaultUsageError(f"--attr {pair!r}: the value must be an integer") from None
    return attrs


def _faults(args: argparse.Namespace) -> NetworkFaults:
    url = args.url or load_proxy_map(args.proxy_map).toxiproxy_url
    return NetworkFaults(ToxiproxyClient(url))


def _run(args: argparse.Namespace, action: Callable[[NetworkFaults], int]) -> int:
    try:
        faults = _faults(args)
    except (OSError, ValueError) as exc:
        print(f"saga-harness fault: error: cannot read the proxy map: {exc}", file=sys.stderr)
        return EXIT_USAGE
    try:
        return action(faults)
    except FaultUsageError as exc:
        print(f"saga-harness fault: error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except ToxiproxyUnreachable:
        print(
            f"saga-harness fault: Toxiproxy is not reachable at {faults.client.url}: {HOW_TO_START}",
            file=sys.stderr,
        )
        return EXIT_UNKNOWN
    except NotFound as exc:
        print(
            f"saga-harness fault: {exc} (does the runner's proxy exist on {faults.client.url}?)",
            file=sys.stderr,
        )
        return EXIT_FAILED
    except ToxiproxyError as exc:
        print(f"saga-harness fault: {exc}", file=sys.stderr)
        return EXIT_FAILED
    finally:
        faults.close()


def cmd_add(args: argparse.Namespace) -> int:
    def action(faults: NetworkFaults) -> int:
        attrs = parse_attrs(args.attr)
        fault = faults.add(args.type, args.target, args.stream, args.toxicity, **attrs)
        for proxy, toxic in fault.toxics:
            print(f"added {toxic} on {proxy}")
        return EXIT_OK

    return _run(args, action)


def cmd_list(args: argparse.Namespace) -> int:
    def action(faults: NetworkFaults) -> int:
        proxies = faults.client.proxies()
        if args.json:
            print(json.dumps({name: asdict(p) for name, p in proxies.items()}, indent=2))
            return EXIT_OK
        if not proxies:
            print(f"no proxies on {faults.client.url}")
        for name, proxy in sorted(proxies.items()):
            state = "enabled" if proxy.enabled else "DISABLED"
            print(f"{name:16} {proxy.listen:22} -> {proxy.upstream:22} {state}")
            for t in proxy.toxics:
                attrs = " ".join(f"{k}={v}" for k, v in sorted(t.attributes.items()))
                print(f"    {t.name:32} {t.type:11} {t.stream:10} toxicity={t.toxicity:g} {attrs}")
        return EXIT_OK

    return _run(args, action)


def cmd_heal(args: argparse.Namespace) -> int:
    def action(faults: NetworkFaults) -> int:
        report = faults.heal_all()
        for proxy, toxic in report.removed:
            print(f"removed {toxic} from {proxy}")
        for proxy in report.enabled:
            print(f"enabled {proxy}")
        if not report.removed and not report.enabled:
            print("nothing to heal")
        return EXIT_OK

    return _run(args, action)


def cmd_partition(args: argparse.Namespace) -> int:
    def action(faults: NetworkFaults) -> int:
        fault = faults.partition_now(args.target)
        for proxy in fault.disabled:
            print(f"disabled {proxy} (heal with `saga-harness fault heal`)")
        if not fault.disabled:
            print("already partitioned")
        return EXIT_OK

    return _run(args, action)
