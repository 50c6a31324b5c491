"""What the simulator tests share: running the CLI in-process, and building configs briefly."""

from __future__ import annotations

import contextlib
import io
import shlex

from harness.cli import _Parser
from harness.sim import FaultSpec, SimConfig, parse_schedule
from harness.sim import cli as sim_cli
from system.defects import parse_defects


def run_cli(argv: list[str] | str) -> tuple[int, str, str]:
    """`saga-harness simulate ...` in-process: (exit code, stdout, stderr).

    Builds the same argparse tree harness/cli.py builds, with only the simulate module, so
    the test does not depend on COMMAND_MODULES listing it yet.
    """
    if isinstance(argv, str):
        argv = shlex.split(argv)
    if argv and argv[0] == "saga-harness":
        argv = argv[1:]
    parser = _Parser(prog="saga-harness")
    sim_cli.register(parser.add_subparsers(dest="command", parser_class=_Parser))
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            args = parser.parse_args(argv)
            code = args.func(args)
        except SystemExit as exc:  # argparse's usage errors
            code = int(exc.code or 0)
    return code, out.getvalue(), err.getvalue()


def config(
    *,
    seed: int = 0,
    orders: int = 1,
    mix: str = "",
    faults: str = "",
    schedule: str = "",
    defects: str = "",
) -> SimConfig:
    return SimConfig(
        seed=seed,
        orders=orders,
        mix=tuple(k for k in mix.split(",") if k),
        faults=FaultSpec.parse(faults),
        schedule=parse_schedule(schedule),
        defects=parse_defects(defects),
    )


def failing_names(result) -> list[str]:
    return [v.name for v in result.failing()]
