"""Which faults a simulated run injects: random ones by rate, and scheduled ones by position.

Rates say how likely a fault is at each opportunity (a delivery, a publish, a crash-point hit,
a step). A schedule names exact faults ("crash payment before commit on the 2nd payment.process"),
which is what hypothesis generates and shrinks, and what a replay command carries as text.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field

from system.contracts import ALL_ROUTING_KEYS, SERVICES
from system.deadlines import SAGA_DEADLINE
from system.messaging.crashpoints import (
    AFTER_COMMIT_BEFORE_ACK,
    AFTER_PUBLISH_BEFORE_MARK_SENT,
    BEFORE_COMMIT,
    CRASH_POINTS,
)
from system.rates import parse_rate

# kind -> (default rate, what one opportunity is)
FAULT_KINDS: dict[str, tuple[float, str]] = {
    "dup": (0.05, "deliver a message twice, same message_id (per delivery)"),
    "delay": (0.05, "hold a routed message back up to 40 steps, so it arrives late (per routed copy)"),
    "reorder": (0.25, "hand the consumer a random ready message instead of the oldest (per delivery)"),
    "crash_before_commit": (0.01, "crash inside the transaction; it is discarded (per hit)"),
    "crash_after_commit": (0.01, "crash after commit, before ack; redelivered (per hit)"),
    "crash_after_publish": (0.01, "crash after the relay published, before it marked rows sent (per relay round)"),
    "kill": (0.002, "SIGKILL a random service between steps (per step)"),
    "retry": (0.1, "the client re-sends an order with the same Idempotency-Key (per order)"),
    "dupnew": (0.02, "re-publish a message under a NEW message_id, as a buggy sender would (per publish)"),
    "handler_error": (0.02, "the handler raises a transient error inside its transaction (per delivery handled)"),
    "publish_fail": (0.02, "a relay publish is not confirmed: the row must stay unsent (per published row)"),
}
CRASH_KIND_POINT = {
    "crash_before_commit": BEFORE_COMMIT,
    "crash_after_commit": AFTER_COMMIT_BEFORE_ACK,
    "crash_after_publish": AFTER_PUBLISH_BEFORE_MARK_SENT,
}
ALIASES: dict[str, tuple[str, ...]] = {
    "none": (),
    "crash": tuple(CRASH_KIND_POINT),
    # Not in "all" (what the benchmark and most tests run): dupnew, handler_error, publish_fail.
    # The default sweeps mix them in (harness/sim/sweep.py).
    "all": ("dup", "delay", "reorder", *CRASH_KIND_POINT, "kill", "retry"),
}
DELAY_MAX_STEPS = 40


class FaultSpecError(ValueError):
    """A --faults or --schedule text that cannot be read; the message says why."""


@dataclass(frozen=True)
class FaultSpec:
    """Random faults: kind -> rate, kept sorted so equal specs print equal."""

    rates: tuple[tuple[str, float], ...] = ()

    @classmethod
    def parse(cls, text: str | None) -> FaultSpec:
        rates: dict[str, float] = {}
        for item in (text or "").split(","):
            item = item.strip()
            if not item:
                continue
            name, _, raw = item.partition("=")
            kinds = ALIASES.get(name, (name,))
            for kind in kinds:
                if kind not in FAULT_KINDS:
                    known = ", ".join([*FAULT_KINDS, *ALIASES])
                    raise FaultSpecError(f"unknown fault {kind!r}; known: {known}")
                rates[kind] = _rate(raw, item) if raw else FAULT_KINDS[kind][0]
        return cls(tuple(sorted(rates.items())))

    def rate(self, kind: str) -> float:
        return dict(self.rates).get(kind, 0.0)

    def to_text(self) -> str:
        """Canonical and short: aliases where they fit, rates only where not the default."""
        rates = dict(self.rates)
        parts = []
        if all(rates.get(k) == FAULT_KINDS[k][0] for k in ALIASES["all"]):
            parts.append("all")
            for k in ALIASES["all"]:
                del rates[k]
        crash = {rates.get(k) for k in CRASH_KIND_POINT}
        if len(crash) == 1 and None not in crash:
            rate = crash.pop()
            parts.append("crash" if rate == FAULT_KINDS["crash_before_commit"][0] else f"crash={rate:g}")
            for k in CRASH_KIND_POINT:
                del rates[k]
        for kind, rate in sorted(rates.items()):
            parts.append(kind if rate == FAULT_KINDS[kind][0] else f"{kind}={rate:g}")
        return ",".join(parts) or "none"


def _rate(raw: str, item: str) -> float:
    try:
        return parse_rate(raw)
    except ValueError as exc:
        raise FaultSpecError(f"{item!r}: rate {exc}") from None


@dataclass(frozen=True)
class ScheduledFault:
    """One exact fault. `nth` counts matching opportunities from 0 (like a crash point's skip).

    crash:SERVICE:POINT[:ROUTING_KEY|*[:NTH]]   crash at the nth matching crash-point hit
    dup:ROUTING_KEY[:NTH]                       deliver the nth delivery of that key twice
    delay:ROUTING_KEY[:NTH[:STEPS]]             hold the nth routed copy back STEPS steps
    dupnew:ROUTING_KEY[:NTH]                    re-publish the nth publish under a new id
    handler_error:ROUTING_KEY[:NTH]             the handler raises on the nth delivery of that key
    publish_fail:ROUTING_KEY[:NTH]              the nth relay publish of that key is not confirmed
    kill:SERVICE:TICK                           kill the service at that virtual tick (or the next one it is up)
    """

    kind: str
    service: str | None = None
    point: str | None = None
    routing_key: str | None = None
    nth: int = 0
    steps: int = 10

    def to_text(self) -> str:
        if self.kind == "crash":
            return f"crash:{self.service}:{self.point}:{self.routing_key or '*'}:{self.nth}"
        if self.kind == "delay":
            return f"delay:{self.routing_key}:{self.nth}:{self.steps}"
        if self.kind == "kill":
            return f"kill:{self.service}:{self.nth}"
        return f"{self.kind}:{self.routing_key}:{self.nth}"


def parse_schedule(text: str | None) -> tuple[ScheduledFault, ...]:
    return tuple(_parse_one(item.strip()) for item in (text or "").split(",") if item.strip())


def format_schedule(schedule: tuple[ScheduledFault, ...]) -> str:
    return ",".join(f.to_text() for f in schedule)


def _parse_one(item: str) -> ScheduledFault:
    kind, *rest = item.split(":")
    try:
        if kind == "crash" and 2 <= len(rest) <= 4:
            service, point = _service(rest[0]), rest[1]
            if point not in CRASH_POINTS:
                raise FaultSpecError(f"unknown crash point {point!r}; known: {', '.join(CRASH_POINTS)}")
            key = rest[2] if len(rest) > 2 and rest[2] != "*" else None
            nth = _count(rest[3]) if len(rest) > 3 else 0
            return ScheduledFault("crash", service, point, key and _key(key), nth)
        if kind in ("dup", "dupnew", "handler_error", "publish_fail") and 1 <= len(rest) <= 2:
            nth = _count(rest[1]) if len(rest) > 1 else 0
            return ScheduledFault(kind, routing_key=_key(rest[0]), nth=nth)
        if kind == "delay" and 1 <= len(rest) <= 3:
            nth = _count(rest[1]) if len(rest) > 1 else 0
            steps = max(1, _count(rest[2])) if len(rest) > 2 else 10
            return ScheduledFault("delay", routing_key=_key(rest[0]), nth=nth, steps=steps)
        if kind == "kill" and len(rest) == 2:  # nth holds the tick
            return ScheduledFault("kill", service=_service(rest[0]), nth=_count(rest[1]))
    except ValueError as exc:
        raise FaultSpecError(f"scheduled fault {item!r}: {exc}") from None
    raise FaultSpecError(f"cannot read scheduled fault {item!r}; forms: {ScheduledFault.__doc__}")


def _service(name: str) -> str:
    if name not in SERVICES:
        raise FaultSpecError(f"unknown service {name!r}; one of {', '.join(SERVICES)}")
    return name


def _key(key: str) -> str:
    if key not in ALL_ROUTING_KEYS and key != SAGA_DEADLINE:  # a timer's firing may crash too
        raise FaultSpecError(f"unknown routing key {key!r}")
    return key


def _count(raw: str) -> int:
    value = int(raw)
    if value < 0:
        raise ValueError(f"{raw} is negative")
    return value


@dataclass
class _Armed:
    fault: ScheduledFault
    seen: int = 0
    fired: bool = False

    def hit(self) -> bool:
        """Count a matching opportunity; True exactly once, at the nth."""
        if self.fired:
            return False
        if self.seen == self.fault.nth:
            self.fired = True
            return True
        self.seen += 1
        return False


@dataclass
class FaultInjector:
    """Answers "does a fault happen here?" from the schedule first, then the dice.

    Its random stream is its own, so switching faults on does not change how the scheduler
    interleaves the services, only what goes wrong.
    """

    spec: FaultSpec
    schedule: tuple[ScheduledFault, ...]
    rng: random.Random
    armed: list[_Armed] = field(init=False)

    def __post_init__(self) -> None:
        self.armed = [_Armed(f) for f in self.schedule]
        rate = self.spec.rate
        self.p_dup, self.p_delay, self.p_reorder = rate("dup"), rate("delay"), rate("reorder")
        self.p_kill, self.p_retry, self.p_dupnew = rate("kill"), rate("retry"), rate("dupnew")
        self.p_handler_error, self.p_publish_fail = rate("handler_error"), rate("publish_fail")
        self.p_crash = {point: rate(kind) for kind, point in CRASH_KIND_POINT.items()}

    def _scheduled(self, kind: str, routing_key: str | None = None, service: str | None = None,
                   point: str | None = None) -> bool:
        fired = False
        for armed in self.armed:
            f = armed.fault
            if f.kind != kind or (f.service and f.service != service) or (f.point and f.point != point):
                continue
            if f.routing_key and f.routing_key != routing_key:
                continue
            fired = armed.hit() or fired
        return fired

    def _dice(self, p: float) -> bool:
        return p > 0.0 and self.rng.random() < p

    # The checks below run several times per step: the dice are inlined (`p > 0.0 and
    # rng.random() < p`, as _dice), so a fault that is off costs one comparison.
    def crash_at(self, service: str, point: str, routing_key: str, dice: bool = True) -> bool:
        if self.armed and self._scheduled("crash", routing_key, service, point):
            return True
        p = self.p_crash[point]
        return dice and p > 0.0 and self.rng.random() < p

    def duplicate(self, routing_key: str) -> bool:
        if self.armed and self._scheduled("dup", routing_key):
            return True
        p = self.p_dup
        return p > 0.0 and self.rng.random() < p

    def republish_new_id(self, routing_key: str) -> bool:
        if self.armed and self._scheduled("dupnew", routing_key):
            return True
        p = self.p_dupnew
        return p > 0.0 and self.rng.random() < p

    def handler_error(self, service: str, routing_key: str) -> bool:
        if self.armed and self._scheduled("handler_error", routing_key):
            return True
        p = self.p_handler_error
        return p > 0.0 and self.rng.random() < p

    def publish_fails(self, routing_key: str) -> bool:
        if self.armed and self._scheduled("publish_fail", routing_key):
            return True
        p = self.p_publish_fail
        return p > 0.0 and self.rng.random() < p

    def delay_steps(self, routing_key: str) -> int:
        for armed in self.armed:
            f = armed.fault
            if f.kind == "delay" and f.routing_key == routing_key and armed.hit():
                return f.steps
        p = self.p_delay
        if p > 0.0 and self.rng.random() < p:
            return self.rng.randint(1, DELAY_MAX_STEPS)
        return 0

    def reorder_pick(self, ready: int) -> int:
        """Which ready message the consumer gets: 0 (the oldest) unless reordering."""
        p = self.p_reorder
        if ready > 1 and p > 0.0 and self.rng.random() < p:
            return self.rng.randrange(ready)
        return 0

    def kill_at(self, step: int, up: list[str]) -> str | None:
        for armed in self.armed:
            f = armed.fault
            if f.kind == "kill" and not armed.fired and step >= f.nth and f.service in up:
                armed.fired = True
                return f.service
        if up and self._dice(self.p_kill):
            return up[self.rng.randrange(len(up))]
        return None

    def client_retries(self) -> bool:
        return self._dice(self.p_retry)

    def heal(self) -> None:
        """No more faults of any kind: what a chaos run's heal phase does before the final check."""
        self.armed = []
        self.p_dup = self.p_delay = self.p_reorder = self.p_kill = self.p_retry = self.p_dupnew = 0.0
        self.p_handler_error = self.p_publish_fail = 0.0
        self.p_crash = dict.fromkeys(self.p_crash, 0.0)
