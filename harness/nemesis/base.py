"""What every nemesis shares: the planned fault, the fault log, and the scheduler that plays a plan.

A nemesis knows how to inject one kind of trouble and how to undo it; it knows nothing of time.
The scheduler plays a seeded plan (a list of PlannedFault) against the nemeses: faults in one lane
run one after another, lanes run side by side. Every fault that took effect becomes a FaultEvent
window in the FaultLog, which is what the report shades and what the checker's deadline starts from.
"""

from __future__ import annotations

import logging
import threading
import time
from abc import ABC, abstractmethod
from collections import defaultdict
from dataclasses import asdict, dataclass, field, replace
from typing import Any

from harness.model import FaultEvent

log = logging.getLogger("harness.nemesis")


@dataclass(frozen=True)
class PlannedFault:
    """One fault of the schedule: which nemesis does what to whom, when (seconds after the load
    started) and for how long. `lane`: faults sharing a lane never overlap."""

    id: int
    nemesis: str
    kind: str
    target: str
    at_s: float
    duration_s: float
    params: dict[str, Any] = field(default_factory=dict)
    lane: int = 0

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> PlannedFault:
        return cls(**data)


@dataclass
class Injection:
    """What inject() did: when the fault took effect, and what the nemesis learnt doing it."""

    started: float
    detail: dict[str, Any] = field(default_factory=dict)
    handle: Any = None
    effective: bool = True  # False: nothing happened (a crash point no message reached)


class NemesisError(RuntimeError):
    """A nemesis could not do what the plan asked (the tool failed, the target is missing)."""


class Nemesis(ABC):
    name: str = ""
    kinds: tuple[str, ...] = ()

    @abstractmethod
    def inject(self, fault: PlannedFault, stop: threading.Event) -> Injection: ...

    @abstractmethod
    def heal(self, fault: PlannedFault, injection: Injection) -> dict[str, Any]:
        """Undo the fault; return more detail for its FaultEvent."""

    def heal_all(self) -> None:
        """Undo anything this nemesis may have left behind (the run is ending, maybe badly)."""
        return None

    def close(self) -> None:
        """Release connections and threads."""
        return None


class FaultLog:
    """Thread-safe FaultEvent windows; open ones have end=None until healed."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._events: list[FaultEvent] = []

    def begin(self, kind: str, target: str, start: float, detail: dict[str, Any]) -> int:
        with self._lock:
            self._events.append(FaultEvent(kind, target, start, None, dict(detail)))
            return len(self._events) - 1

    def end(self, index: int, end: float, detail: dict[str, Any] | None = None) -> None:
        with self._lock:
            event = self._events[index]
            self._events[index] = replace(event, end=end, detail={**event.detail, **(detail or {})})

    def record(self, event: FaultEvent) -> None:
        with self._lock:
            self._events.append(event)

    def events(self) -> list[FaultEvent]:
        with self._lock:
            return list(self._events)

    def open_events(self) -> list[FaultEvent]:
        with self._lock:
            return [e for e in self._events if e.end is None]

    def close_open(self, end: float, detail: dict[str, Any]) -> int:
        """End every window still open (its own heal failed or never ran); return how many."""
        with self._lock:
            closed = 0
            for i, event in enumerate(self._events):
                if event.end is None:
                    self._events[i] = replace(event, end=end, detail={**event.detail, **detail})
                    closed += 1
            return closed


def event_kind(fault: PlannedFault) -> str:
    """The FaultEvent kind the report and counts use: crash for both kinds of crash."""
    return {"crash": "crash", "broker": f"broker_{fault.kind}", "duplicates": "duplicate"}.get(fault.nemesis, fault.kind)


class FaultScheduler:
    """Plays a plan: one thread per lane, each waiting for its faults' planned offsets.

    Offsets are "not before" times: a crash whose restart runs long delays the next fault in its
    lane, and the FaultLog says what really happened when. A nemesis error stops the whole plan
    (the experiment can no longer be what it claimed) and is kept in `errors`.
    """

    def __init__(self, plan: list[PlannedFault], nemeses: dict[str, Nemesis], faults: FaultLog) -> None:
        self.plan = plan
        self.nemeses = nemeses
        self.faults = faults
        self.stop_event = threading.Event()
        self.errors: list[str] = []
        self.done: list[int] = []  # ids of faults played to the end
        self.skipped: list[int] = []  # ids never started (the plan was stopped)
        self.ineffective: list[dict[str, Any]] = []  # injected but without effect
        self._active = 0
        self._lock = threading.Lock()
        self._threads: list[threading.Thread] = []
        self._t0 = 0.0

    def start(self, t0_monotonic: float | None = None) -> None:
        self._t0 = time.monotonic() if t0_monotonic is None else t0_monotonic
        lanes: dict[int, list[PlannedFault]] = defaultdict(list)
        for fault in sorted(self.plan, key=lambda f: (f.lane, f.at_s, f.id)):
            lanes[fault.lane].append(fault)
        for lane, faults in sorted(lanes.items()):
            thread = threading.Thread(target=self._play_lane, args=(faults,), name=f"nemesis-lane-{lane}", daemon=True)
            self._threads.append(thread)
            thread.start()

    def finished(self) -> bool:
        return all(not t.is_alive() for t in self._threads)

    def active(self) -> int:
        with self._lock:
            return self._active

    def stop(self, timeout: float = 120.0) -> None:
        """Stop starting new faults, let active ones heal, wait for the lanes to end."""
        self.stop_event.set()
        deadline = time.monotonic() + timeout
        for thread in self._threads:
            thread.join(max(0.0, deadline - time.monotonic()))

    def wait(self, timeout: float | None = None) -> bool:
        deadline = None if timeout is None else time.monotonic() + timeout
        for thread in self._threads:
            thread.join(None if deadline is None else max(0.0, deadline - time.monotonic()))
        return self.finished()

    def _play_lane(self, faults: list[PlannedFault]) -> None:
        for n, fault in enumerate(faults):
            delay = self._t0 + fault.at_s - time.monotonic()
            if self.stop_event.wait(max(0.0, delay)):
                self.skipped.extend(f.id for f in faults[n:])
                return
            try:
                self._play(fault)
            except Exception as exc:  # noqa: BLE001 - recorded; the run decides what it means
                message = f"fault {fault.id} ({fault.nemesis} {fault.kind} on {fault.target}): {type(exc).__name__}: {exc}"
                log.error("nemesis failed: %s", message)
                self.errors.append(message)
                self.stop_event.set()
                self.skipped.extend(f.id for f in faults[n + 1:])
                return

    def _play(self, fault: PlannedFault) -> None:
        nemesis = self.nemeses[fault.nemesis]
        detail = {"fault_id": fault.id, "nemesis": fault.nemesis, "kind": fault.kind, **fault.params}
        with self._lock:
            self._active += 1
        try:
            injection = nemesis.inject(fault, self.stop_event)
            detail.update(injection.detail)
            if not injection.effective:
                # Nothing happened (a crash point no message reached): no window to shade.
                nemesis.heal(fault, injection)
                self.ineffective.append({**detail, "planned_at_s": fault.at_s})
                return
            index = self.faults.begin(event_kind(fault), fault.target, injection.started, detail)
            try:
                self.stop_event.wait(fault.duration_s)
            finally:
                healed_detail = nemesis.heal(fault, injection)
                self.faults.end(index, time.time(), healed_detail)
            self.done.append(fault.id)
        finally:
            with self._lock:
                self._active -= 1
