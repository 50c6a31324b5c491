"""`saga-harness chaos list | run`, `saga-harness check`, `saga-harness analyze RUN_DIR`.

Exit codes (harness/exits.py): 0 valid, 1 invalid, 2 unknown (also: a service or the broker
could not be reached, or the run was interrupted), 254 bad usage (a bad experiment file, an
unknown name, a target that cannot do what the experiment asks), 255 the harness crashed.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import textwrap
from collections.abc import Callable
from pathlib import Path

from harness.exits import EXIT_OK, EXIT_UNKNOWN, EXIT_USAGE, UsageError, exit_code_for
from harness.experiments.loading import load_experiment, shipped_paths
from harness.experiments.model import ExperimentError
from system.styles import STYLES


def register(subparsers: argparse._SubParsersAction) -> None:
    chaos = subparsers.add_parser("chaos", help="list and run chaos experiments")
    chaos_sub = chaos.add_subparsers(dest="chaos_command", metavar="ACTION", parser_class=type(chaos))
    chaos.set_defaults(func=lambda args: _usage(chaos))

    listing = chaos_sub.add_parser("list", help="the shipped experiments")
    listing.set_defaults(func=list_experiments)

    run = chaos_sub.add_parser("run", help="run one experiment (a shipped name or a YAML/Python file)")
    run.add_argument("experiment", metavar="NAME|FILE")
    run.add_argument("--seed", type=int, help="replay this seed (default: a fresh one, printed)")
    run.add_argument("--orders", type=_positive_int, help="orders to place (default: the experiment's)")
    run.add_argument("--rate", type=_positive_float, help="orders per second (default: the experiment's)")
    run.add_argument("--runs-dir", type=Path, default=Path("runs"), help="where run directories go (runs)")
    _target_arguments(run, "local: this SAGA_HOME's processes (started if down); compose: "
                           "docker-compose.yml's containers; external: SAGA_*_URL, no process control")
    run.add_argument("--no-report", action="store_true", help="skip report.html")
    run.add_argument("--trace", action="store_true",
                     help="trace the sagas (SAGA_TRACING=1 for services it starts) and keep the spans "
                          "in the run directory's traces.jsonl (also on when SAGA_TRACING=1)")
    run.set_defaults(func=run_command)

    check = subparsers.add_parser("check", help="check the invariants on a running system now")
    _target_arguments(check, "where the system runs (local, compose or external)")
    check.add_argument("--deadline", type=_positive_float, default=60.0,
                       help="an order still in flight this long after it began is a violation (60)")
    check.add_argument("--invariant", action="append", dest="only", metavar="NAME",
                       help="check only this invariant (repeatable)")
    check.add_argument("--expected-dead-letter", action="append", default=[], metavar="MESSAGE_ID",
                       help="a dead letter put there on purpose (repeatable); any other one is a violation")
    check.add_argument("--json", action="store_true", help="print the verdicts as JSON")
    check.set_defaults(func=check_command)

    analyze = subparsers.add_parser("analyze", help="re-check a stored run from its files")
    analyze.add_argument("run_dir", type=Path, metavar="RUN_DIR")
    analyze.add_argument("--json", action="store_true", help="print the verdicts as JSON")
    analyze.set_defaults(func=analyze_command)


def _target_arguments(parser: argparse.ArgumentParser, help_text: str) -> None:
    parser.add_argument("--target", choices=("local", "compose", "external"), default="local", help=help_text)
    parser.add_argument("--compose-file", metavar="FILE", help="for --target compose (docker-compose.yml)")
    parser.add_argument("--style", choices=STYLES, default=None,
                        help="saga style of the system (sets SAGA_STYLE; default: $SAGA_STYLE, else orchestration)")


def _set_style(args: argparse.Namespace) -> None:
    """--style is SAGA_STYLE for this command: the style of what it starts, and what it checks."""
    if getattr(args, "style", None):
        os.environ["SAGA_STYLE"] = args.style


def _positive_int(text: str) -> int:
    value = int(text)
    if value <= 0:
        raise argparse.ArgumentTypeError(f"must be > 0, not {value}")
    return value


def _positive_float(text: str) -> float:
    value = float(text)
    if not value > 0:
        raise argparse.ArgumentTypeError(f"must be > 0, not {text}")
    return value


def _usage(parser: argparse.ArgumentParser) -> int:
    parser.print_help(sys.stderr)
    return EXIT_USAGE


def _guard(body: Callable[[], int]) -> int:
    """Errors of other packages that mean bad usage become UsageError; harness/cli.py's one
    top-level handler turns it (and Unreachable, Ctrl-C, a crash) into the exit code."""
    from harness.invariants import UnknownInvariant
    from harness.targets.compose import ComposeError

    try:
        return body()
    except (UnknownInvariant, ComposeError) as exc:
        raise UsageError(str(exc)) from exc


# --- chaos list ----------------------------------------------------------------------------------
def list_experiments(args: argparse.Namespace) -> int:
    def body() -> int:
        for name in shipped_paths():
            try:
                experiment = load_experiment(name)
            except ExperimentError as exc:
                print(f"{name:18} BROKEN: {exc}")
                continue
            load = experiment.load
            faults = ", ".join(sorted({f"{f.nemesis}/{f.kind}" for f in experiment.faults})) or "none"
            first = textwrap.shorten(experiment.description, 110, placeholder=" ...")
            print(f"{name:18} {load.orders} orders at {load.rate:g}/s; faults: {faults}")
            if first:
                print(f"{'':18} {first}")
        return EXIT_OK

    return _guard(body)


# --- chaos run -----------------------------------------------------------------------------------
def run_command(args: argparse.Namespace) -> int:
    def body() -> int:
        from harness.experiments.runner import run_experiment
        from harness.targets.target import make_target

        experiment = load_experiment(args.experiment).with_load(args.orders, args.rate)
        _set_style(args)
        for name, value in experiment.system.items():  # a local system started here runs with them
            os.environ.setdefault(name, value)
        if args.trace:  # services this run starts trace too (local: they inherit the environment)
            os.environ["SAGA_TRACING"] = "1"
        target = make_target(args.target, compose_file=args.compose_file)
        outcome = run_experiment(experiment, target, seed=args.seed, runs_dir=args.runs_dir,
                                 render=not args.no_report, trace=args.trace or None)
        return outcome.exit_code

    return _guard(body)


# --- check ----------------------------------------------------------------------------------------
def check_command(args: argparse.Namespace) -> int:
    def body() -> int:
        from harness.client import SagaClient
        from harness.invariants import check_all
        from harness.model import History, overall
        from harness.targets.target import make_target

        _set_style(args)
        target = make_target(args.target, compose_file=args.compose_file, start=False)
        with SagaClient(target.endpoints) as client:
            state = client.read_state()
        # No history: the checks compare final state only (trace_legal skips the bus comparison).
        verdicts = check_all(History(style=target.style), state, terminal_deadline_s=args.deadline, only=args.only,
                             expected_dead_letters=args.expected_dead_letter,
                             decisions=target.check_options()["decisions"])
        _print_verdicts(verdicts, args.json, extra={"orders": len(state.orders)})
        return exit_code_for(overall(verdicts))

    return _guard(body)


# --- analyze --------------------------------------------------------------------------------------
def analyze_command(args: argparse.Namespace) -> int:
    def body() -> int:
        from harness.experiments.rundir import RunDirError
        from harness.experiments.runner import check_stored, unfinished_run
        from harness.model import overall

        if not args.run_dir.is_dir():
            raise RunDirError(f"{args.run_dir} is not a directory")
        unfinished = unfinished_run(args.run_dir)
        if unfinished:  # its final reads are missing or partial: re-checking would invent losses
            print(f"unknown: {args.run_dir}: {unfinished}; its verdict stays unknown")
            return EXIT_UNKNOWN
        verdicts, results = check_stored(args.run_dir)
        now = overall(verdicts)
        stored = results.get("valid")
        _print_verdicts(verdicts, args.json, extra={"run": str(args.run_dir), "stored_valid": stored})
        if not args.json and stored != now:
            print(f"note: the stored verdict was {stored}; the files now say {now}")
        return exit_code_for(now)

    return _guard(body)


def _print_verdicts(verdicts, as_json: bool, extra: dict) -> None:
    from harness.invariants import summary
    from harness.model import overall

    if as_json:
        print(json.dumps({**extra, "valid": overall(verdicts), "verdicts": [v.to_dict() for v in verdicts]},
                         indent=2, default=str))
    else:
        print(summary(verdicts))
