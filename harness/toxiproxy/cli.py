"""`saga-harness toxiproxy` and `python -m harness.toxiproxy`: run the bundled server."""

from __future__ import annotations

import argparse
import asyncio
import logging
import secrets
import sys

from harness.exits import EXIT_FAILED, EXIT_OK
from harness.toxiproxy import VERSION

log = logging.getLogger("harness.toxiproxy")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    # Upstream's flags come from Go's flag package, which takes `-port` and `--port` alike; its
    # users and compose files write the single dash, so both spellings are accepted.
    parser.add_argument(
        "-host", "--host", default="127.0.0.1", help="API listen host (default 127.0.0.1)"
    )
    parser.add_argument(
        "-port", "--port", type=int, default=8474, help="API listen port (default 8474)"
    )
    parser.add_argument(
        "-config",
        "--config",
        metavar="FILE",
        help="JSON array of proxies (the /populate format) to create at start",
    )
    parser.add_argument(
        "-seed",
        "--seed",
        type=int,
        help="seed for toxicity rolls and jitter (default: random, logged)",
    )
    parser.add_argument(
        "-version",
        "--version",
        action="version",
        version=f"toxiproxy-server version {VERSION}",
        help="print the version of the upstream API matched, and exit",
    )
    parser.add_argument(
        "--log-level", default="INFO", type=str.upper, choices=["DEBUG", "INFO", "WARNING", "ERROR"]
    )


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "toxiproxy",
        help="run the bundled Toxiproxy-API-compatible server",
        description="A Toxiproxy 2.x compatible server (API on --host:--port, default 127.0.0.1:8474).",
    )
    add_arguments(parser)
    parser.set_defaults(func=handler)


def handler(args: argparse.Namespace) -> int:
    from harness.toxiproxy.server import serve_forever

    level = args.log_level.upper()
    if not logging.getLogger().handlers:
        logging.basicConfig(level=level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    log.setLevel(level)
    seed = args.seed if args.seed is not None else secrets.randbelow(2**31)
    log.info("toxiproxy: seed=%d (replay with --seed %d)", seed, seed)
    try:
        asyncio.run(serve_forever(args.host, args.port, seed, args.config))
    except OSError as exc:
        log.error("toxiproxy: cannot listen on %s:%s: %s", args.host, args.port, exc)
        return EXIT_FAILED
    except KeyboardInterrupt:
        pass
    return EXIT_OK


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m harness.toxiproxy", description="Toxiproxy-compatible server"
    )
    add_arguments(parser)
    return handler(parser.parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())
