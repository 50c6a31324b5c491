"""The `saga-harness` command: one argparse tree, each subcommand registered by its own module.

Exit codes follow Jepsen's convention where a verdict is involved:
0 valid, 1 invalid, 2 unknown, 254 bad usage, 255 crashed.
"""

from __future__ import annotations

import argparse
import importlib
import sys

# Each module exposes `register(subparsers)`; the parser it adds sets `func=handler(args) -> int`.
COMMAND_MODULES = [
    "harness.runner.cli",
    "harness.toxiproxy.cli",
    "harness.faults.cli",
    "harness.experiments.cli",
    "harness.demo",
    "harness.report.cli",
    "harness.sim.cli",
    "harness.zoo.cli",
]

EXIT_VALID, EXIT_INVALID, EXIT_UNKNOWN, EXIT_USAGE, EXIT_CRASHED = 0, 1, 2, 254, 255


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # argparse exits 2, which means "unknown" here
        self.print_usage(sys.stderr)
        self.exit(EXIT_USAGE, f"{self.prog}: error: {message}\n")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="saga-harness", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    for name in COMMAND_MODULES:
        try:
            module = importlib.import_module(name)
        except ModuleNotFoundError as exc:  # a module still being written must not break the rest
            if exc.name and name.startswith(exc.name):
                continue
            raise
        module.register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return EXIT_USAGE
    try:
        return int(args.func(args) or 0)
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
