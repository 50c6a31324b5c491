"""Staged faults under load: clean warm-up, latency on every AMQP link, a SIGKILL, then heal.

The plan is pure and follows from one seed (which service dies, how much latency); the Nemesis
applies it to a local system through the harness's fault API (harness.faults.network, over the
`amqp_<service>` proxies) and process control (harness.runner.LocalSystem), and records every
fault window as a harness.model.FaultEvent. `heal()` is idempotent and is called at every stop,
so a run never leaves a toxic or a dead service behind, even on abort.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Any

from harness.faults.network import Fault, NetworkFaults
from harness.model import FaultEvent
from harness.runner.local import LocalSystem
from harness.toxiproxy.client import ToxiproxyClient
from system.contracts import SERVICES

STAGES = ("warmup", "latency", "crash", "heal")
LATENCY_RANGE_MS = (100, 400)

Say = Callable[[str], None]


class ChaosUsageError(RuntimeError):
    """The chaos shape cannot drive this target (no local system or proxies under SAGA_HOME)."""


@dataclass(frozen=True)
class Stage:
    name: str
    start: float  # seconds since the run began
    end: float


@dataclass(frozen=True)
class ChaosPlan:
    seed: int
    duration: float
    latency_ms: int
    jitter_ms: int
    victim: str
    stages: tuple[Stage, ...]

    def stage_index(self, elapsed: float) -> int | None:
        """Index of the stage running at `elapsed`, or None once the plan is over."""
        for i, stage in enumerate(self.stages):
            if elapsed < stage.end:
                return i
        return None

    def describe(self) -> list[dict[str, Any]]:
        what = {
            "warmup": "no faults",
            "latency": f"latency {self.latency_ms}±{self.jitter_ms} ms on every AMQP link",
            "crash": f"SIGKILL {self.victim} (stays down for the stage)",
            "heal": f"restart {self.victim}, remove every toxic, keep the load on",
        }
        return [{"stage": s.name, "from_s": s.start, "to_s": s.end, "faults": what[s.name]} for s in self.stages]


def drawn(seed: int) -> tuple[str, int]:
    """The victim and the latency (ms) a seed picks when they are not given."""
    rng = random.Random(seed)
    return rng.choice(SERVICES), rng.randint(*LATENCY_RANGE_MS)


def make_plan(seed: int, duration: float, *, victim: str | None = None, latency_ms: int | None = None) -> ChaosPlan:
    """Four equal stages over `duration`; the seed picks the victim and the latency not given."""
    if duration <= 0:
        raise ChaosUsageError(f"the chaos shape needs a positive run time, not {duration}")
    if victim is not None and victim not in SERVICES:
        raise ChaosUsageError(f"unknown victim {victim!r}: use one of {', '.join(SERVICES)}")
    drawn_victim, drawn_latency = drawn(seed)
    latency = latency_ms if latency_ms is not None else drawn_latency
    quarter = duration / len(STAGES)
    stages = tuple(Stage(name, i * quarter, (i + 1) * quarter) for i, name in enumerate(STAGES))
    return ChaosPlan(seed, duration, latency, latency // 4, victim or drawn_victim, stages)


@dataclass
class Nemesis:
    plan: ChaosPlan
    faults: NetworkFaults
    system: LocalSystem
    say: Say = print
    entered: int = -1  # index of the last stage entered
    events: list[FaultEvent] = field(default_factory=list)
    healed_at: float | None = None
    finished: bool = False
    _latency: Fault | None = None
    _killed: set[str] = field(default_factory=set)

    @classmethod
    def for_local_system(cls, plan: ChaosPlan, system: LocalSystem, say: Say = print) -> Nemesis:
        """Refuse to start unless the system under SAGA_HOME runs with its proxies."""
        proxy_map = system.layout.read_proxy_map()
        if not proxy_map or not proxy_map.get("toxiproxy_url"):
            raise ChaosUsageError(
                f"no proxy map at {system.layout.proxy_map_file}: the chaos shape drives a local system "
                "started by `saga-harness up` (same SAGA_HOME and SAGA_* ports as this shell)"
            )
        down = [s for s in SERVICES if system.pid(s) is None]
        if down:
            raise ChaosUsageError(
                f"services not running under {system.layout.home}: {', '.join(down)} "
                "(start them with `saga-harness up`, with this shell's SAGA_HOME)"
            )
        return cls(plan, NetworkFaults(ToxiproxyClient(proxy_map["toxiproxy_url"])), system, say)

    # -- stage transitions -----------------------------------------------------------------
    def advance(self, elapsed: float) -> bool:
        """Enter every stage up to the one running at `elapsed`; False once the plan is over."""
        index = self.plan.stage_index(elapsed)
        target = len(self.plan.stages) if index is None else index
        while self.entered < min(target, len(self.plan.stages) - 1):
            self.entered += 1
            self._enter(self.plan.stages[self.entered].name)
        return index is not None

    def _enter(self, stage: str) -> None:
        self.say(f"chaos: stage {stage} ({self.plan.describe()[STAGES.index(stage)]['faults']})")
        if stage == "latency":
            self._latency = self.faults.add("latency", "all", latency=self.plan.latency_ms, jitter=self.plan.jitter_ms)
            self._open("latency", "all", latency_ms=self.plan.latency_ms, jitter_ms=self.plan.jitter_ms)
        elif stage == "crash":
            self._heal_latency()
            pid = self.system.kill_service(self.plan.victim)
            self._killed.add(self.plan.victim)
            self._open("crash", self.plan.victim, signal="SIGKILL", pid=pid)
        elif stage == "heal":
            self.heal()

    # -- healing -----------------------------------------------------------------------------
    def heal(self) -> None:
        """Undo everything this nemesis did; safe to call any number of times, from any stage.

        Tries every step even when one fails (a dead service must come back even if Toxiproxy
        does not answer), then raises the first failure; the unhealed fault stays open in
        `events`, so the checker answers "unknown" rather than blaming the system.
        """
        errors: list[Exception] = []
        acted = False
        try:
            acted = self._heal_latency()
            report = self.faults.heal_all()  # a toxic left by an interrupted stage, too
            acted = acted or bool(report.removed or report.enabled)
        except Exception as exc:  # noqa: BLE001 - re-raised below, after the restarts
            errors.append(exc)
        for service in sorted(self._killed):
            try:
                status = self.system.restart_service(service, timeout=60.0)
            except Exception as exc:  # noqa: BLE001
                errors.append(exc)
                continue
            self.say(f"chaos: {service} restarted (pid {status.pid}, ready: {status.ready})")
            self._close("crash", service)
            self._killed.discard(service)
            acted = True
        if errors:
            raise errors[0]
        if acted or (self.healed_at is None and self.events):
            self.healed_at = time.time()
            self.say("chaos: healed")

    def close(self) -> None:
        self.faults.close()

    def _heal_latency(self) -> bool:
        if self._latency is None:
            return False
        self.faults.heal(self._latency)
        self._latency = None
        self._close("latency", "all")
        return True

    def _open(self, kind: str, target: str, **detail: Any) -> None:
        self.events.append(FaultEvent(kind, target, time.time(), None, {"seed": self.plan.seed, **detail}))

    def _close(self, kind: str, target: str) -> None:
        for i, event in enumerate(self.events):
            if event.kind == kind and event.target == target and event.end is None:
                self.events[i] = replace(event, end=time.time())
