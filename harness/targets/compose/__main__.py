"""`python -m harness.targets.compose env|endpoints`: how the harness reaches the compose system
(shell exports for the external target, or JSON)."""

from __future__ import annotations

import argparse
import json
import shlex
import sys

from harness.exits import EXIT_FAILED, EXIT_OK, EXIT_USAGE
from harness.targets.compose.endpoints import external_target_env
from harness.targets.compose.errors import ComposeError
from harness.targets.compose.system import DEFAULT_COMPOSE_FILE, ComposeSystem


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m harness.targets.compose",
        description="Print how the harness reaches the compose system.",
    )
    parser.add_argument(
        "what", choices=["env", "endpoints"], help="env: shell exports; endpoints: JSON"
    )
    parser.add_argument("-f", "--file", default=str(DEFAULT_COMPOSE_FILE), help="compose file")
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:
        return EXIT_OK if exc.code == 0 else EXIT_USAGE
    try:
        system = ComposeSystem(args.file, say=lambda line: None)
        endpoints = system.endpoints()
    except ComposeError as exc:
        print(f"compose target: {exc}", file=sys.stderr)
        return EXIT_FAILED
    if args.what == "env":
        for key, value in external_target_env(endpoints).items():
            print(f"export {key}={shlex.quote(value)}")
    else:
        print(
            json.dumps({**endpoints.__dict__, "proxies": system.proxy_map()["proxies"]}, indent=2)
        )
    return EXIT_OK


if __name__ == "__main__":
    sys.exit(main())
