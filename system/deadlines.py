"""Step deadlines (issue #16): pure data and decisions, shared by the services and the simulator.

- A saga step that has not answered by its deadline times out: the order ends `failed` with
  `failure_reason` `timeout:<step>` and every participant's effect is undone (system/order/deadlines.py).
- The deadline is DURABLE: it is a column of the order's own row (`orders.deadline`), written in
  the same UPDATE as the step that arms it, so it exists exactly when its step does and survives
  any crash or restart of the order service. A timer is (order_id, step, deadline).
- ONE decision says which timers fire (`due`): the order service's timer loop
  (system/messaging/runtime.py) asks it with the wall clock, the simulator with its virtual clock.
- Firing is a message (`saga.deadline`, never on the bus) handled by the ordinary messaging core
  (system/messaging/handling.py): inbox claim, decide, save, outbox, one transaction. Its id
  derives from (order, step), so a timer fired twice (two replicas, a crash after commit) is a
  duplicate the inbox absorbs.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import NamedTuple

from system.contracts import Message, derived_message_id

SAGA_DEADLINE = "saga.deadline"  # the timer's message: handled by the order service, never published
STEPS = ("inventory", "payment", "delivery")
TIMEOUT_PREFIX = "timeout:"


@dataclass(frozen=True)
class StepTimeouts:
    """SAGA_STEP_TIMEOUT (seconds, every step) and SAGA_STEP_TIMEOUT_<STEP> (one step); None: no
    deadline (the default: the seed's demo waits for every answer, as before)."""

    default: float | None = None
    per_step: Mapping[str, float] = field(default_factory=dict)

    def for_step(self, step: str) -> float | None:
        return self.per_step.get(step, self.default)

    @property
    def enabled(self) -> bool:
        return self.default is not None or bool(self.per_step)

    def total(self) -> float:
        """The sum of the steps' deadlines (bounded_termination's bound, before its margin)."""
        return sum(t for s in STEPS if (t := self.for_step(s)) is not None)


NO_TIMEOUTS = StepTimeouts()


class Timer(NamedTuple):
    order_id: str
    kind: str  # SAGA_DEADLINE (the message type that fires it)
    step: str
    at: str  # ISO timestamp, the services' format (comparable as text)


def add_seconds(now: str, seconds: float) -> str:
    """`now` (the services' ISO format, ...Z) plus `seconds`, in the same format."""
    moment = datetime.fromisoformat(now.replace("Z", "+00:00")) + timedelta(seconds=seconds)
    return moment.astimezone(UTC).isoformat(timespec="microseconds").replace("+00:00", "Z")


def seconds_between(start: str, end: str) -> float:
    a = datetime.fromisoformat(start.replace("Z", "+00:00"))
    b = datetime.fromisoformat(end.replace("Z", "+00:00"))
    return (b - a).total_seconds()


def due(timers: Iterable[Timer], now: str) -> list[Timer]:
    """THE decision: which of the armed timers fire at `now` (their moment has come)."""
    return [t for t in timers if t.at <= now]


def timer_message(timer: Timer, now: str) -> Message:
    """The message that fires `timer`: handled by the order service like any delivery. Its id
    derives from (order, kind, step): a saga waits for each step once, so firing the same timer
    twice is one effect, and the checker knows the cause of a timeout's compensations."""
    return Message(
        message_id=timer_message_id(timer.order_id, timer.kind, timer.step),
        type=timer.kind,
        order_id=timer.order_id,
        payload={"step": timer.step, "at": timer.at},
        occurred_at=now,
        causation_id=None,
    )


def timer_message_id(order_id: str, kind: str, step: str) -> str:
    return derived_message_id(f"{order_id}|{kind}|{step}", kind)


def is_timeout(reason: object) -> bool:
    return isinstance(reason, str) and reason.startswith(TIMEOUT_PREFIX)
