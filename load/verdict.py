"""The consistency check at the end of a load run: settle, read the final state, judge, report.

    python -m load.verdict runs/load-<id>/record.json [--out verdict.json] [--no-wait]

Runs in its own process (the Locust process is monkey-patched by gevent, and the broker reads
use asyncio). Waits, up to the record's deadline after stop (or heal), for the run's orders to
end and the work queues to drain, then runs every invariant over the run's own orders.
Exit codes: 0 valid, 1 invalid, 2 unknown (state not fully read), 254 bad usage, 255 crashed.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any, NoReturn

import httpx

from harness.client import SagaClient
from harness.dice import decisions_from_env
from harness.exits import EXIT_CRASHED, EXIT_UNKNOWN, EXIT_USAGE, Unreachable
from harness.invariants import INVARIANTS, check_all, exit_code, summary, verdicts_to_dict
from harness.model import SystemState, Verdict, overall
from harness.quiescence import busy
from harness.runner.layout import Endpoints
from load.record import RunRecord, Targets
from system.decisions import DecisionConfig
from system.urls import redact_url

BROKER_INVARIANTS = ("queues_drained", "dead_letters_accounted")
POLL_S = 0.5
FINAL_READ_RETRY_S = 15.0  # at least this long to retry the final read (a broker restart takes ~5 s)

Say = Callable[[str], None]


# --- pure --------------------------------------------------------------------------------------
def invariant_names(targets: Targets) -> list[str]:
    """All of them, but the broker's when the run was told not to read the broker."""
    return [n for n in INVARIANTS if targets.amqp_url or n not in BROKER_INVARIANTS]


def judge(record: RunRecord, state: SystemState, decisions: DecisionConfig | None = None) -> list[Verdict]:
    """Every invariant over this run's orders (stock and queues are global by nature)."""
    return check_all(
        record.history(),
        state,
        terminal_deadline_s=record.deadline_s,
        order_ids=record.order_ids(),
        only=invariant_names(record.targets),
        decisions=decisions,
    )


def own_orders(orders: list[dict[str, Any]], ids: set[str], keys: set[str]) -> list[dict[str, Any]]:
    """The run's orders: those it was told about, and those carrying one of its keys (timeouts)."""
    return [o for o in orders if o.get("order_id") in ids or o.get("idempotency_key") in keys]


def verdict_line(record: RunRecord, state: SystemState, verdicts: list[Verdict]) -> str:
    label = {True: "CONSISTENT", False: "INCONSISTENT", "unknown": "UNKNOWN"}[overall(verdicts)]
    outcomes = Counter(
        o.get("status") if o.get("status") != "failed" else f"failed:{o.get('failure_reason')}"
        for o in state.orders
    )
    broken = [v.name for v in verdicts if v.valid is False]
    unsure = [v.name for v in verdicts if v.valid == "unknown"]
    parts = [
        f"saga-load verdict: {label}",
        f"run {record.run_id} (seed {record.seed}, {record.style})",
        f"{len(state.orders)} orders " + "{" + ", ".join(f"{k}: {n}" for k, n in sorted(outcomes.items())) + "}",
        f"{len(verdicts)} invariants",
    ]
    if broken:
        parts.append("broken: " + ", ".join(broken))
    if unsure:
        parts.append("unknown: " + ", ".join(unsure))
    return "; ".join(parts)


# --- the shell -----------------------------------------------------------------------------------
class StateReader:
    """The run's view of the system through the harness's one state reader (SagaClient.read_state,
    which pages through every order) and its one definition of quiescence."""

    def __init__(self, record: RunRecord) -> None:
        t = record.targets
        self.targets = t
        self.ids = set(record.order_ids())
        self.keys = record.idempotency_keys()
        endpoints = Endpoints(
            services={"order": t.order, "inventory": t.inventory, "payment": t.payment, "delivery": t.delivery},
            order_api=t.order,
            amqp_url=t.amqp_url or "",
        )
        self.client = SagaClient(endpoints, timeout=30.0)

    def close(self) -> None:
        self.client.close()

    def mine(self, order: dict[str, Any]) -> bool:
        return bool(own_orders([order], self.ids, self.keys))

    def busy(self) -> dict[str, Any]:
        """What is not quiet yet among the run's orders and the system's messaging ({}: quiet)."""
        return busy(self.client, self.mine)

    def final_state(self, include_broker: bool = True) -> SystemState:
        """One read of everything, the orders narrowed to the run's; raises if any part cannot be read."""
        state = self.client.read_state(include_broker=include_broker and bool(self.targets.amqp_url))
        state.orders = own_orders(state.orders, self.ids, self.keys)
        return state


def read_final_state(reader: StateReader, say: Say, until: float) -> SystemState:
    """Retry a failed read until `until` (a service or the broker restarting must not make the
    verdict unknown); then read without the broker, whose invariants then answer "unknown"."""
    said = ""
    while True:
        try:
            return reader.final_state()
        except Exception as exc:  # noqa: BLE001 - retried, then reported
            failure = f"{type(exc).__name__}: {exc}"
        if time.time() >= until:
            break
        if failure != said:
            say(f"final read failed ({failure}); retrying for up to {until - time.time():.0f}s")
            said = failure
        time.sleep(1.0)
    state = reader.final_state(include_broker=False)  # an HTTP failure here makes the run unknown
    say(f"could not read the broker at {redact_url(reader.targets.amqp_url or '')}: {failure}")
    return state


def settle(reader: StateReader, record: RunRecord, say: Say, wait: bool = True) -> None:
    """Poll until quiescence (harness.quiescence: the run's orders terminal, outboxes sent, work
    queues empty), or the deadline passes."""
    deadline = record.settle_from() + record.deadline_s + POLL_S
    while True:
        waiting_for = reader.busy()
        if not waiting_for:
            return
        if not wait or time.time() >= deadline:
            say(f"stopped waiting at the deadline ({record.deadline_s:.0f}s after stop/heal): {waiting_for}")
            return
        time.sleep(POLL_S)


def run_check(record: RunRecord, say: Say = print, wait: bool = True) -> tuple[list[Verdict], SystemState]:
    reader = StateReader(record)
    try:
        settle(reader, record, say, wait)
        state = read_final_state(reader, say, until=max(record.settle_from() + record.deadline_s,
                                                        time.time() + FINAL_READ_RETRY_S))
    finally:
        reader.close()
    return judge(record, state, decisions_from_env()), state


class UsageParser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:  # argparse's own exit code 2 means "unknown" here
        self.print_usage(sys.stderr)
        self.exit(EXIT_USAGE, f"{self.prog}: error: {message}\n")


def main(argv: list[str] | None = None) -> int:
    parser = UsageParser(prog="python -m load.verdict", description=__doc__.split("\n")[0])
    parser.add_argument("record", type=Path, help="record.json written by a load run")
    parser.add_argument("--out", type=Path, help="where to write the verdicts (default: verdict.json beside the record)")
    parser.add_argument("--no-wait", action="store_true", help="judge the state as it is now")
    args = parser.parse_args(argv)
    try:
        record = RunRecord.load(args.record)
    except (OSError, ValueError, KeyError, TypeError) as exc:
        print(f"cannot read run record {args.record}: {type(exc).__name__}: {exc}", file=sys.stderr)
        return EXIT_USAGE
    try:
        verdicts, state = run_check(record, wait=not args.no_wait)
    except (httpx.HTTPError, Unreachable) as exc:
        print(f"saga-load verdict: UNKNOWN; could not read the final state: {type(exc).__name__}: {exc}")
        return EXIT_UNKNOWN
    out = args.out or args.record.with_name("verdict.json")
    out.write_text(json.dumps({"run_id": record.run_id, "seed": record.seed, "style": record.style,
                                **verdicts_to_dict(verdicts)}, indent=1))
    print(summary(verdicts))
    print(verdict_line(record, state, verdicts))
    print(f"verdicts: {out}")
    return exit_code(verdicts)


if __name__ == "__main__":
    try:
        sys.exit(main())
    except KeyboardInterrupt:
        sys.exit(EXIT_UNKNOWN)
    except Exception as exc:  # noqa: BLE001 - a crashed checker must say so, not look like "invalid"
        import traceback

        traceback.print_exc()
        print(f"saga-load verdict: CRASHED ({type(exc).__name__}: {exc})")
        sys.exit(EXIT_CRASHED)
