"""Process crashes: SIGKILL a service at a planned moment, or arm a named crash point inside it and
let the next message that reaches that line kill it; then bring it back.

`kill` needs process control: the local target's LocalSystem, or the compose target's
ComposeSystem (`docker compose kill -s SIGKILL` / `start`). `crashpoint` needs the chaos control
surface (SAGA_CHAOS_TOKEN on the services); on a target without process control something else
must bring the service back, and the nemesis waits for it to be ready.
"""

from __future__ import annotations

import threading
import time
from typing import Any, Protocol

import httpx

from harness.crashpoints import (
    arm_crash_point_everywhere,
    disarm_crash_points,
    disarm_crash_points_everywhere,
)
from harness.nemesis.base import Injection, Nemesis, NemesisError, PlannedFault
from harness.runner.layout import urls_of
from harness.runner.local import LocalSystem, ServiceStatus
from system.messaging.crashpoints import CRASH_POINTS


class ProcessControl(Protocol):
    """What LocalSystem and the compose target's ComposeSystem both offer."""

    def kill_service(self, service: str) -> Any: ...

    def restart_service(self, service: str, timeout: float = ...) -> ServiceStatus: ...

KINDS = ("kill", "crashpoint")
DEFAULT_TRIGGER_TIMEOUT_S = 20.0
RESTART_TIMEOUT_S = 60.0


class CrashNemesis(Nemesis):
    name = "crash"
    kinds = KINDS

    def __init__(self, services: dict[str, str], token: str | None, system: ProcessControl | None) -> None:
        self.services = services  # service -> base URL
        self.token = token
        self.system = system

    # -- inject ------------------------------------------------------------------------------------
    def inject(self, fault: PlannedFault, stop: threading.Event) -> Injection:
        service = fault.target
        if fault.kind == "kill":
            if self.system is None:
                raise NemesisError("kill needs process control, which this target does not give")
            if not self._alive(service):
                raise NemesisError(f"{service} was not running, nothing to kill")
            pid = self.system.kill_service(service)  # LocalSystem says which pid; compose nothing
            return Injection(time.time(), {"pid": pid} if pid else {})
        return self._crash_at_point(fault, stop)

    def _crash_at_point(self, fault: PlannedFault, stop: threading.Event) -> Injection:
        service, point = fault.target, str(fault.params["point"])
        if point not in CRASH_POINTS:
            raise NemesisError(f"unknown crash point {point!r}")
        if not self.token:
            raise NemesisError("crash points need a chaos token")
        pid = self.system.pid(service) if isinstance(self.system, LocalSystem) else None
        # A service run as replicas: armed on each, so whichever takes the message dies.
        bases = urls_of(self.services, service)
        routing_key = fault.params.get("routing_key")
        armed_at = time.time()
        detail = {"point": point, "routing_key": routing_key, "armed_at": armed_at, "pid": pid}
        try:
            arm_crash_point_everywhere(bases, self.token, point, routing_key, int(fault.params.get("skip", 0)))
        except httpx.TransportError:
            # Under load the point can fire before the service has written its answer: the
            # SIGKILL cuts the response off. A dead service is the crash we asked for.
            if self._wait_dead(service, 2.0):
                return self._fired(bases, detail)
            raise
        timeout = float(fault.params.get("trigger_timeout_s", DEFAULT_TRIGGER_TIMEOUT_S))
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and not stop.is_set():
            if not self._alive(service):
                return self._fired(bases, detail)
            time.sleep(0.05)
        # No message reached the point in time: disarm, so it cannot fire later unplanned.
        disarm_crash_points_everywhere(bases, self.token)
        if not self._alive(service):  # it fired between the last poll and the disarm
            return Injection(time.time(), {**detail, "triggered": True})
        return Injection(time.time(), {**detail, "triggered": False}, effective=False)

    def _fired(self, bases: list[str], detail: dict[str, Any]) -> Injection:
        """One process died at the point: disarm its surviving siblings (one crash per fault)."""
        assert self.token is not None
        if len(bases) > 1:
            disarm_crash_points_everywhere(bases, self.token)
        return Injection(time.time(), {**detail, "triggered": True})

    def _wait_dead(self, service: str, timeout: float) -> bool:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if not self._alive(service):
                return True
            time.sleep(0.05)
        return False

    def _alive(self, service: str) -> bool:
        if isinstance(self.system, LocalSystem):  # the process itself, not just its port
            return self.system.pid(service) is not None
        try:
            return httpx.get(f"{self.services[service]}/health", timeout=1.0).status_code == 200
        except httpx.HTTPError:
            return False

    # -- heal --------------------------------------------------------------------------------------
    def heal(self, fault: PlannedFault, injection: Injection) -> dict[str, Any]:
        if not injection.effective:
            return {}
        return self._bring_back(fault.target)

    def _bring_back(self, service: str) -> dict[str, Any]:
        began = time.monotonic()
        if self.system is not None:
            status = self.system.restart_service(service, timeout=RESTART_TIMEOUT_S)
            return {"restarted_pid": status.pid, "restart_s": round(time.monotonic() - began, 3)}
        # No process control: the platform (compose's restart policy) must restart it.
        deadline = began + RESTART_TIMEOUT_S
        while time.monotonic() < deadline:
            try:
                if httpx.get(f"{self.services[service]}/ready", timeout=1.0).status_code == 200:
                    return {"restart_s": round(time.monotonic() - began, 3)}
            except httpx.HTTPError:
                pass
            time.sleep(0.2)
        raise NemesisError(f"{service} did not come back within {RESTART_TIMEOUT_S:.0f}s after its crash")

    def heal_all(self) -> None:
        """Disarm every crash point and restart any service that is down."""
        for service, base in self.services.items():
            if self.token:
                disarm_crash_points(base, self.token)
            if self.system is not None and not self._alive(service):
                self.system.restart_service(service, timeout=RESTART_TIMEOUT_S)
