"""`saga-harness report RUN_DIR`: re-render a stored run's report.html from its files.

Exit codes: 0 written, 254 bad usage (no such directory, or no results.json in it),
255 crashed while rendering.
"""

from __future__ import annotations

import argparse
import sys
import traceback
from pathlib import Path

from harness.exits import EXIT_CRASHED, EXIT_OK, EXIT_USAGE
from harness.report.html import render_report
from harness.report.load import RESULTS


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "report",
        help="re-render a stored run's self-contained report.html",
        description=__doc__.splitlines()[0],
    )
    parser.add_argument("run_dir", metavar="RUN_DIR", help="a runs/<stamp>-<name>/ directory")
    parser.set_defaults(func=cmd_report)


def cmd_report(args: argparse.Namespace) -> int:
    run_dir = Path(args.run_dir)
    if not run_dir.is_dir():
        print(f"saga-harness report: {run_dir} is not a directory", file=sys.stderr)
        return EXIT_USAGE
    if not (run_dir / RESULTS).is_file():
        print(
            f"saga-harness report: {run_dir} has no {RESULTS}; is it a run directory "
            "(runs/<stamp>-<name>/) of a run that finished? `saga-harness chaos run` writes it.",
            file=sys.stderr,
        )
        return EXIT_USAGE
    try:
        out = render_report(run_dir)
    except Exception:  # report the crash with its trace, and say so by the exit code
        traceback.print_exc()
        print(f"saga-harness report: crashed while rendering {run_dir}", file=sys.stderr)
        return EXIT_CRASHED
    print(out)
    return EXIT_OK
