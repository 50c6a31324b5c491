"""The `saga-harness` command: one argparse tree, each subcommand registered by its own module.

Exit codes (harness/exits.py, defined once): 0 valid, 1 invalid, 2 unknown, 254 bad usage,
130 interrupted, 255 crashed. This module is the one top-level handler that turns what a
subcommand raises into those codes, so no subcommand has its own crash handling.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import os
import sys
import traceback
from typing import Any, TextIO

from harness.exits import (
    EXIT_CRASHED,
    EXIT_INTERRUPTED,
    EXIT_UNKNOWN,
    EXIT_USAGE,
    Unreachable,
    UsageError,
)

# Each module exposes `register(subparsers)`; the parser it adds sets `func=handler(args) -> int`.
COMMAND_MODULES = [
    "harness.runner.cli",
    "harness.toxiproxy.cli",
    "harness.faults.cli",
    "harness.experiments.cli",
    "harness.demo",
    "harness.report.cli",
    "harness.report.drill_cli",
    "harness.sim.cli",
    "harness.zoo.cli",
]


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> Any:  # argparse exits 2, which means "unknown" here
        self.print_usage(sys.stderr)
        self.exit(EXIT_USAGE, f"{self.prog}: error: {message}\n")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="saga-harness", description=(__doc__ or "").splitlines()[0])
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


class _ClosedPipeSafe:
    """stdout that survives its reader going away (`saga-harness ... | head -1`): the first
    broken pipe points the file descriptor at /dev/null and the rest of the output is dropped,
    so a chaos run keeps going, heals its faults and writes its run directory."""

    def __init__(self, stream: TextIO) -> None:
        self._stream = stream
        self._closed = False

    def write(self, text: str) -> int:
        if not self._closed:
            try:
                return self._stream.write(text)
            except BrokenPipeError:
                self._drop()
        return len(text)

    def flush(self) -> None:
        if not self._closed:
            try:
                self._stream.flush()
            except BrokenPipeError:
                self._drop()

    def _drop(self) -> None:
        self._closed = True
        try:  # the interpreter flushes fd 1 once more at exit: let that go nowhere
            devnull = os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, self._stream.fileno())
            os.close(devnull)
        except (OSError, ValueError):
            pass

    def __getattr__(self, name: str) -> Any:
        return getattr(self._stream, name)


def _amqp_client_chatter(record: logging.LogRecord) -> bool:
    return not record.name.startswith(AMQP_CLIENT_LOGGERS)


AMQP_CLIENT_LOGGERS = ("aiormq", "aio_pika")


def main(argv: list[str] | None = None) -> int:
    if not isinstance(sys.stdout, _ClosedPipeSafe):
        sys.stdout = _ClosedPipeSafe(sys.stdout)
    # With no logging configured, Python prints library warnings on stderr. The AMQP client's
    # ("error when creating transport") would come before the harness's own one line about what
    # it could not reach; a chaos run still gets them in its harness.log.
    if logging.lastResort is not None and _amqp_client_chatter not in logging.lastResort.filters:
        logging.lastResort.addFilter(_amqp_client_chatter)
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return EXIT_USAGE
    return run_command(args.func, args)


def run_command(func: Any, args: argparse.Namespace) -> int:
    """Run one subcommand: its own exit code, or the code of what it raised."""
    try:
        return int(func(args) or 0)
    except Unreachable as exc:
        print(f"saga-harness: unknown: {exc}", file=sys.stderr)
        return EXIT_UNKNOWN
    except UsageError as exc:
        print(f"saga-harness: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        print("saga-harness: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    except Exception:  # noqa: BLE001 - the harness itself broke: say so, never "invalid"
        traceback.print_exc()
        print(f"saga-harness: crashed (exit {EXIT_CRASHED})", file=sys.stderr)
        return EXIT_CRASHED


if __name__ == "__main__":
    sys.exit(main())
