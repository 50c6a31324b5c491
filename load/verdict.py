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
from urllib.parse import urlsplit

import httpx

from harness.broker import peek_dead_letters, queue_depths, run_sync
from harness.client import SagaClient
from harness.dice import decisions_from_env
from harness.invariants import INVARIANTS, check_all, exit_code, summary, verdicts_to_dict
from harness.invariants.broker import WORK_QUEUES
from harness.model import SystemState, Verdict, overall
from harness.runner.layout import Endpoints
from load.record import RunRecord, Targets
from system.decisions import DecisionConfig
from system.order.domain import STATUSES, TERMINAL_STATUSES

BROKER_INVARIANTS = ("queues_drained", "dead_letters_accounted")
ORDER_PAGE = 100_000  # GET /orders' largest page
POLL_S = 0.5
FINAL_READ_RETRY_S = 15.0  # at least this long to retry the final read (a broker restart takes ~5 s)
IN_FLIGHT = tuple(s for s in STATUSES if s not in TERMINAL_STATUSES)

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
        f"run {record.run_id} (seed {record.seed})",
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

    def orders(self) -> list[dict[str, Any]]:
        http = self.client.http
        page = http.get(f"{self.targets.order}/orders", params={"limit": ORDER_PAGE}).raise_for_status().json()
        mine = own_orders(page, self.ids, self.keys)
        if len(page) >= ORDER_PAGE:  # the page may have cut ours off: fetch the missing ones
            found = {o["order_id"] for o in mine}
            for order_id in sorted(self.ids - found):
                response = http.get(f"{self.targets.order}/orders/{order_id}")
                if response.status_code != 404:
                    mine.append(response.raise_for_status().json())
        return mine

    def in_flight(self) -> int:
        """How many of the run's orders are not terminal yet. Asks only for in-flight orders:
        the whole list is heavy on the order service, and this runs while sagas still finish."""
        http = self.client.http
        count = 0
        for status in IN_FLIGHT:
            page = http.get(f"{self.targets.order}/orders", params={"status": status, "limit": ORDER_PAGE})
            count += len(own_orders(page.raise_for_status().json(), self.ids, self.keys))
        return count

    def work_queues_empty(self) -> bool:
        if not self.targets.amqp_url:
            return True
        depths = run_sync(queue_depths(self.targets.amqp_url))
        return all(depths.get(q, 0) == 0 for q in WORK_QUEUES)

    def final_state(self, include_broker: bool = True) -> SystemState:
        """One read of everything; raises if any part cannot be read."""
        state = SystemState(orders=self.orders(), read_at=time.time())
        state.inventory = self.client.inventory()
        state.reservations = self.client.reservations()
        state.payments = self.client.payments()
        state.deliveries = self.client.deliveries()
        if include_broker and self.targets.amqp_url:
            state.queues = run_sync(queue_depths(self.targets.amqp_url))
            state.dead_letters = run_sync(peek_dead_letters(self.targets.amqp_url))
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
    say(f"could not read the broker at {redacted(reader.targets.amqp_url or '')}: {failure}")
    return state


def redacted(url: str) -> str:
    """The URL without its password, for messages."""
    parts = urlsplit(url)
    if not parts.password:
        return url
    return parts._replace(netloc=parts.netloc.replace(f":{parts.password}@", ":***@", 1)).geturl()


def settle(reader: StateReader, record: RunRecord, say: Say, wait: bool = True) -> None:
    """Poll until the run's orders are terminal and the work queues empty, or the deadline passes."""
    deadline = record.settle_from() + record.deadline_s + POLL_S
    waiting_for = ""
    while True:
        try:
            pending = reader.in_flight()
            if pending:
                waiting_for = f"{pending} orders still in flight"
            elif not reader.work_queues_empty():
                waiting_for = "messages still in the work queues"
            else:
                return
        except Exception as exc:  # noqa: BLE001 - a service or the broker restarting: keep polling
            failure = f"cannot read: {type(exc).__name__}: {exc}"
            if failure != waiting_for:
                say(f"{failure} (retrying until the deadline)")
            waiting_for = failure
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
        self.exit(254, f"{self.prog}: error: {message}\n")


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
        return 254
    try:
        verdicts, state = run_check(record, wait=not args.no_wait)
    except httpx.HTTPError as exc:
        print(f"saga-load verdict: UNKNOWN; could not read the final state: {type(exc).__name__}: {exc}")
        return 2
    out = args.out or args.record.with_name("verdict.json")
    out.write_text(json.dumps({"run_id": record.run_id, "seed": record.seed, **verdicts_to_dict(verdicts)}, indent=1))
    print(summary(verdicts))
    print(verdict_line(record, state, verdicts))
    print(f"verdicts: {out}")
    return exit_code(verdicts)


if __name__ == "__main__":
    try:
        sys.exit(main())
    except KeyboardInterrupt:
        sys.exit(2)
    except Exception as exc:  # noqa: BLE001 - a crashed checker must say so, not look like "invalid"
        import traceback

        traceback.print_exc()
        print(f"saga-load verdict: CRASHED ({type(exc).__name__}: {exc})")
        sys.exit(255)
