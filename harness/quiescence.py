"""Quiescence, defined once: the orders of interest are all terminal, every service is ready with
no unsent outbox row, no work queue holds a message, and no delayed duplicate is still waiting.

The chaos runner waits for it before its final reads, the BDD steps before they compare, the load
verdict before it judges. `wait_quiescent` polls with a deadline, and quiet must still hold
`settle_s` later (a late duplicate can wake a quiet system)."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any, Protocol

from harness.broker import queue_depths, run_sync
from harness.client import SagaClient
from harness.invariants.broker import WORK_QUEUES
from system.contracts import SERVICES
from system.order.domain import STATUSES, TERMINAL_STATUSES

PROGRESS_EVERY_S = 5.0
IN_FLIGHT = tuple(s for s in STATUSES if s not in TERMINAL_STATUSES)

Order = dict[str, Any]


class Delayed(Protocol):
    """Something holding messages back to send later (the duplicates nemesis's Duplicator)."""

    def pending(self) -> int: ...


def of_run(run_tag: str) -> Callable[[Order], bool]:
    """The orders a chaos run placed: their users carry the run's tag as a prefix."""
    return lambda order: str(order.get("user_id", "")).startswith(run_tag)


@dataclass
class Quiescence:
    reached: bool
    waited_s: float
    last: dict[str, Any] = field(default_factory=dict)  # what was still busy at the last look

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def busy(client: SagaClient, mine: Callable[[Order], bool] | None, delayed: Delayed | None = None) -> dict[str, Any]:
    """What is not quiet yet; an empty dict means quiet. Unreachable counts as busy.

    Orders are looked at only when `mine` says which are of interest: on a shared system,
    somebody else's order stuck mid-saga is not this run's business. Only in-flight orders are
    read (by status), which keeps the poll light while sagas still finish.
    """
    found: dict[str, Any] = {}
    if mine is not None:
        try:
            in_flight = sum(1 for status in IN_FLIGHT for o in client.orders(status) if mine(o))
            if in_flight:
                found["orders_in_flight"] = in_flight
        except Exception as exc:  # noqa: BLE001 - the order service restarting: not quiet
            found["orders"] = f"unreadable ({type(exc).__name__})"
    backlog: dict[str, Any] = {}
    # Every process on its own URL: a replica that is not ready is not seen through the service's
    # shared port, which answers from whichever replica the kernel picks.
    for process, base in (p for s in SERVICES for p in client.endpoints.process_urls(s).items()):
        try:
            response = client.http.get(base + "/ready", timeout=2.0)
            body = response.json()
            if response.status_code != 200:
                backlog[process] = f"not ready: {body.get('reason')}"
            elif body.get("outbox_backlog"):
                backlog[process] = body["outbox_backlog"]
        except Exception as exc:  # noqa: BLE001
            backlog[process] = f"unreachable ({type(exc).__name__})"
    if backlog:
        found["outbox"] = backlog
    try:
        depths = run_sync(queue_depths(client.endpoints.amqp_url)) if client.endpoints.amqp_url else {}
        queued = {q: n for q, n in depths.items() if q in WORK_QUEUES and n}
        if queued:
            found["queues"] = queued
    except Exception as exc:  # noqa: BLE001 - the broker restarting: not quiet
        found["queues"] = f"unreadable ({type(exc).__name__})"
    if delayed is not None and delayed.pending():
        found["delayed_duplicates"] = delayed.pending()
    return found


def wait_quiescent(
    client: SagaClient,
    mine: Callable[[Order], bool] | None,
    delayed: Delayed | None = None,
    *,
    deadline_s: float,
    settle_s: float,
    say: Callable[[str], None],
    poll: float = 0.25,
) -> Quiescence:
    began = time.monotonic()
    quiet_since: float | None = None
    next_progress = began + PROGRESS_EVERY_S
    last: dict[str, Any] = {}
    while True:
        now = time.monotonic()
        last = busy(client, mine, delayed)
        if last:
            quiet_since = None
        elif quiet_since is None:
            quiet_since = now
        if quiet_since is not None and now - quiet_since >= settle_s:
            return Quiescence(True, round(now - began, 3), {})
        if now - began > deadline_s:
            return Quiescence(False, round(now - began, 3), last)
        if now >= next_progress:
            say(f"quiescence: {now - began:.0f}s, waiting for {last or 'settle'}")
            next_progress += PROGRESS_EVERY_S
        time.sleep(poll)
