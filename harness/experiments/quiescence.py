"""Quiescence: the run's orders are all terminal, no outbox holds an unsent row, no work queue holds
a message, no delayed duplicate is still waiting. Polled with a deadline, and it must still hold
`settle_s` later (a late duplicate can wake a quiet system)."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any

from harness.broker import queue_depths, run_sync
from harness.client import TERMINAL, SagaClient
from harness.invariants.broker import WORK_QUEUES
from harness.nemesis.duplicates import Duplicator
from system.contracts import SERVICES

PROGRESS_EVERY_S = 5.0


@dataclass
class Quiescence:
    reached: bool
    waited_s: float
    last: dict[str, Any] = field(default_factory=dict)  # what was still busy at the last look

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def busy(client: SagaClient, run_tag: str | None, duplicator: Duplicator | None) -> dict[str, Any]:
    """What is not quiet yet; an empty dict means quiet. Unreachable counts as busy.

    Orders are looked at only when `run_tag` names the run's (its users' prefix): on a shared
    system, somebody else's order stuck mid-saga is not this run's business.
    """
    found: dict[str, Any] = {}
    if run_tag is not None:
        try:
            in_flight = [o["order_id"] for o in client.orders()
                         if o.get("status") not in TERMINAL and str(o.get("user_id", "")).startswith(run_tag)]
            if in_flight:
                found["orders_in_flight"] = len(in_flight)
        except Exception as exc:  # noqa: BLE001 - the order service restarting: not quiet
            found["orders"] = f"unreadable ({type(exc).__name__})"
    backlog: dict[str, Any] = {}
    for service in SERVICES:
        try:
            response = client.http.get(client.endpoints.services[service] + "/ready", timeout=2.0)
            body = response.json()
            if response.status_code != 200:
                backlog[service] = f"not ready: {body.get('reason')}"
            elif body.get("outbox_backlog"):
                backlog[service] = body["outbox_backlog"]
        except Exception as exc:  # noqa: BLE001
            backlog[service] = f"unreachable ({type(exc).__name__})"
    if backlog:
        found["outbox"] = backlog
    try:
        depths = run_sync(queue_depths(client.endpoints.amqp_url))
        queued = {q: n for q, n in depths.items() if q in WORK_QUEUES and n}
        if queued:
            found["queues"] = queued
    except Exception as exc:  # noqa: BLE001 - the broker restarting: not quiet
        found["queues"] = f"unreadable ({type(exc).__name__})"
    if duplicator is not None and duplicator.pending():
        found["delayed_duplicates"] = duplicator.pending()
    return found


def wait_quiescent(
    client: SagaClient,
    run_tag: str | None,
    duplicator: Duplicator | None,
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
        last = busy(client, run_tag, duplicator)
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
