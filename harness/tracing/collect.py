"""Collect a chaos run's spans into its run directory (traces.jsonl).

The services export OTLP/HTTP to SAGA_OTLP_ENDPOINT (system/config.py); when that endpoint is
on this machine, the run listens there itself for its duration (harness/tracing/receiver.py),
then waits for the last batches before it writes results.json. The summary goes to
results.json under phases.traces: spans received, and why none were if so.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx

from harness.tracing.otlp import TRACES, by_order, read_traces
from harness.tracing.receiver import Receiver
from harness.tracing.waterfall import coverage, touched_services
from system.config import ConfigError, tracing_endpoint

LOCAL_HOSTS = ("127.0.0.1", "localhost", "0.0.0.0", "::1")


def tracing_requested(env: Mapping[str, str] = os.environ) -> bool:
    return (env.get("SAGA_TRACING") or "").strip().lower() in ("1", "true", "yes", "on")


def services_tracing(services: Mapping[str, str]) -> dict[str, bool | None]:
    """Each service's `tracing` flag from its /ready (None: it did not say)."""
    found: dict[str, bool | None] = {}
    for name, url in services.items():
        try:
            body = httpx.get(f"{url}/ready", timeout=3.0).json()
            found[name] = body.get("tracing") if isinstance(body, dict) else None
        except (httpx.HTTPError, ValueError):
            found[name] = None
    return found


class TraceCollector:
    def __init__(self, run_dir: Path, env: Mapping[str, str] = os.environ) -> None:
        self.receiver: Receiver | None = None
        self.problem: str | None = None
        self.services: dict[str, bool | None] = {}
        try:
            endpoint = tracing_endpoint(env)
        except ConfigError as exc:
            self.problem = str(exc)
            return
        parts = urlsplit(endpoint)
        if parts.scheme != "http" or parts.hostname not in LOCAL_HOSTS:
            self.problem = f"SAGA_OTLP_ENDPOINT={endpoint} is not on this machine: its spans are there, not here"
            return
        try:
            self.receiver = Receiver(run_dir / TRACES, port=parts.port or 4318).start()
        except OSError as exc:
            self.problem = f"cannot listen on {endpoint} for the services' spans: {exc.strerror or exc}"

    def check_services(self, services: Mapping[str, str]) -> str | None:
        """A warning when a service runs without tracing (started before SAGA_TRACING=1)."""
        self.services = services_tracing(services)
        off = [name for name, on in self.services.items() if on is False]
        if off:
            return (f"{', '.join(off)} run without SAGA_TRACING=1 (started earlier?): their spans are missing; "
                    "`saga-harness down` and run again with --trace")
        return None

    def finish(self, messages: Iterable[Any] = (), scope: Iterable[str] | None = None) -> dict[str, Any]:
        """Stop listening once the last batches are in; the summary, with the acceptance figure
        (waterfall.coverage) over the run's orders and its recorded bus messages."""
        if self.receiver is None:
            return {"collected": False, "reason": self.problem, "spans": 0}
        waited = self.receiver.settle()
        self.receiver.stop()
        summary: dict[str, Any] = {"collected": True, **self.receiver.summary(), "settle_s": round(waited, 3),
                                   "services_tracing": self.services}
        traces = read_traces(self.receiver.out)
        if traces is not None:
            summary["coverage"] = coverage(by_order(traces.spans), touched_services(messages), scope)
        return summary
