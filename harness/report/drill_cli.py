"""`saga-harness trace ORDER_ID [--run DIR]` and `saga-harness runs` (issue #18).

trace: the order's waterfall in the terminal, from a run directory's traces.jsonl (the newest
run under --runs-dir that traced it, unless --run names one); an order id prefix is enough when
it is unique. Exit 0 printed, 1 no spans for that order, 254 bad usage (no such run directory,
an ambiguous prefix).
runs: the stored runs, newest first, and runs/index.html linking each report. Exit 0.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from harness.exits import EXIT_OK, UsageError
from harness.report.load import FAULTS, read_jsonl
from harness.report.runs import text_table, write_index
from harness.tracing.otlp import TRACES, SpanRecord, by_order, read_traces
from harness.tracing.waterfall import fault_windows, render_text

EXIT_NOT_FOUND = 1


def register(subparsers: argparse._SubParsersAction) -> None:
    trace = subparsers.add_parser("trace", help="print an order's waterfall from a run's traces.jsonl")
    trace.add_argument("order_id", metavar="ORDER_ID", help="the order (a unique prefix will do)")
    trace.add_argument("--run", type=Path, metavar="DIR", help="the run directory (default: the newest that traced it)")
    trace.add_argument("--runs-dir", type=Path, default=Path("runs"), help="where run directories are (runs)")
    trace.add_argument("--width", type=int, default=48, help="bar width in characters (48)")
    trace.set_defaults(func=cmd_trace)

    runs = subparsers.add_parser("runs", help="list stored runs and write runs/index.html")
    runs.add_argument("--runs-dir", type=Path, default=Path("runs"), help="where run directories are (runs)")
    runs.set_defaults(func=cmd_runs)


def _candidates(args: argparse.Namespace) -> list[Path]:
    if args.run is not None:
        if not (args.run / TRACES).is_file():
            raise UsageError(f"{args.run} has no {TRACES} (was the run made with --trace?)")
        return [args.run]
    if not args.runs_dir.is_dir():
        raise UsageError(f"{args.runs_dir} is not a directory; name a run with --run DIR")
    return [d for d in sorted(args.runs_dir.iterdir(), reverse=True) if (d / TRACES).is_file()]


def _find_order(order_id: str, run_dir: Path) -> tuple[str, list[SpanRecord]] | None:
    if _quick_miss(order_id, run_dir):
        return None
    traces = read_traces(run_dir / TRACES)
    grouped = by_order(traces.spans if traces else [])
    if order_id in grouped:
        return order_id, grouped[order_id]
    matches = [o for o in grouped if o.startswith(order_id)]
    if len(matches) > 1:
        raise UsageError(f"{order_id!r} is the start of {len(matches)} orders in {run_dir}: give more of it")
    return (matches[0], grouped[matches[0]]) if matches else None


def _quick_miss(order_id: str, run_dir: Path) -> bool:
    """A whole-file scan for the id's text, far cheaper than parsing every span of a large run."""
    with (run_dir / TRACES).open(encoding="utf-8", errors="replace") as lines:
        return not any(order_id in line for line in lines)


def cmd_trace(args: argparse.Namespace) -> int:
    for run_dir in _candidates(args):
        found = _find_order(args.order_id, run_dir)
        if found is None:
            continue
        order_id, spans = found
        windows = fault_windows(read_jsonl(run_dir / FAULTS, []))
        print(f"run {run_dir}")
        print(render_text(order_id, spans, windows, width=max(args.width, 10)))
        return EXIT_OK
    where = str(args.run) if args.run is not None else f"any run under {args.runs_dir}"
    print(f"saga-harness trace: no spans of order {args.order_id} in {where}")
    return EXIT_NOT_FOUND


def cmd_runs(args: argparse.Namespace) -> int:
    out, runs = write_index(args.runs_dir)
    print(text_table(runs))
    print(f"\n{len(runs)} runs; index: {out}")
    return EXIT_OK
