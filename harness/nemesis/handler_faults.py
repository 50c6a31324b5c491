"""Handler faults: the next N deliveries a service's consumer takes (optionally only of one routing
key) make its handler raise a transient exception inside its transaction.

The service rolls the transaction back and its normal consumer policy takes over: the message is
retried with backoff and dead-lettered, with its reason, after SAGA_MAX_ATTEMPTS (5) failed
attempts. With N below that, every message still gets through and the saga must complete as if
nothing happened; with N at or above it and one matching message in flight, that message is
dead-lettered. This is the fault that shows whether a consumer really retries (rather than acks
and drops) a message whose handler failed.

The fault goes through the token-gated control surface (POST/GET/DELETE
/_chaos/handler-faults, body {"routing_key": str | null, "count": int}). A window lasts the
planned duration; at heal the nemesis reads what is still armed (so the FaultEvent says how many
failures were really raised) and clears the rest, so nothing fires outside its window. A service
run as replicas gets the window's failures spread over them (`split_failures`): any replica may
take the next delivery, and the window must still raise at most its `failures`.
"""

from __future__ import annotations

import threading
import time
from typing import Any

import httpx

from harness.crashpoints import HANDLER_FAULTS, ChaosSurface
from harness.nemesis.base import Injection, Nemesis, PlannedFault
from harness.runner.layout import urls_of
from system.styles import delivered_as, style_named

KINDS = ("handler_error",)


def armed_left(listing: Any) -> int | None:
    """Pure: how many failures are still armed, from GET /_chaos/handler-faults's body.

    Accepted shapes: {"armed": [{"count": n} | {"remaining": n}, ...]} or a bare list of those;
    None when the body says nothing countable (then the window's detail just omits the figure)."""
    entries = listing.get("armed") if isinstance(listing, dict) else listing
    if not isinstance(entries, list):
        return None
    total = 0
    for entry in entries:
        value = entry.get("remaining", entry.get("count")) if isinstance(entry, dict) else None
        if isinstance(value, bool) or not isinstance(value, int):
            return None
        total += value
    return total


def split_failures(failures: int, processes: int) -> list[int]:
    """Pure: `failures` spread over a service's processes (replicas), as evenly as can be, so
    the window raises at most `failures` whichever replica takes each delivery: what keeps a
    message below the attempts after which it is dead-lettered. Zeros are not armed."""
    return [failures // processes + (1 if i < failures % processes else 0) for i in range(processes)]


class HandlerFaultNemesis(Nemesis):
    name = "handler_faults"
    kinds = KINDS

    def __init__(self, services: dict[str, str], token: str | None,
                 transport: httpx.BaseTransport | None = None, style: str | None = None) -> None:
        self.services = services  # service (and, with replicas, `payment#2`) -> base URL
        self.token = token
        self.transport = transport
        self.style = style_named(style)  # a command named in an experiment is, in a choreography, its event

    def surfaces(self, service: str) -> list[ChaosSurface]:
        """One per process of the service: each replica's own surface, else the service's."""
        return [ChaosSurface(url, self.token, self.transport) for url in urls_of(self.services, service)]

    def inject(self, fault: PlannedFault, stop: threading.Event) -> Injection:
        routing_key = fault.params.get("routing_key")
        if isinstance(routing_key, str):
            routing_key = delivered_as(self.style, fault.target, routing_key)
        failures = int(fault.params.get("failures", 1))
        surfaces = self.surfaces(fault.target)
        for surface, count in zip(surfaces, split_failures(failures, len(surfaces)), strict=True):
            if count:
                surface.arm(HANDLER_FAULTS, {"routing_key": routing_key, "count": count})
        return Injection(time.time(), {"routing_key": routing_key, "failures": failures}, handle=failures)

    def heal(self, fault: PlannedFault, injection: Injection) -> dict[str, Any]:
        left: int | None = 0
        cleared = True
        for surface in self.surfaces(fault.target):
            try:
                listed = armed_left(surface.listing(HANDLER_FAULTS))
            except (httpx.HTTPError, ValueError):
                listed = None
            left = None if left is None or listed is None else left + listed
            cleared = surface.clear(HANDLER_FAULTS) and cleared
        detail: dict[str, Any] = {"cleared": cleared}
        if left is not None:
            detail.update(failures_left=left, failures_raised=max(0, int(injection.handle) - left))
        return detail

    def heal_all(self) -> None:
        for service in self.services:
            for surface in self.surfaces(service):
                surface.clear(HANDLER_FAULTS)


def handler_fault_problem(base_url: str, token: str | None) -> str | None:
    """None if the service's handler-fault surface answers with this token, else why not."""
    return ChaosSurface(base_url, token).problem(HANDLER_FAULTS)
