"""When waiting for something (an order to end, a command's answer) stops being patience.

A thing still open is invalid once the state was read more than the deadline after both the
heal and the moment it started (with no faults: after it started alone); before that, while a
fault is still active, or when no time is known, it is undecided.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from harness.invariants.common import CheckOptions, Findings
from harness.model import History, SystemState


def heal_time(history: History) -> tuple[float | None, bool]:
    """(when the faults were healed, whether they were), from healed_at or the fault log."""
    if history.healed_at is not None:
        return history.healed_at, True
    if any(f.end is None for f in history.faults):
        return None, False
    ends = [f.end for f in history.faults if f.end is not None]
    return (max(ends) if ends else None), True


@dataclass(frozen=True)
class Deadline:
    healed: float | None
    is_healed: bool
    read_at: float
    limit_s: float

    @classmethod
    def of(cls, history: History, state: SystemState, options: CheckOptions) -> Deadline:
        healed, is_healed = heal_time(history)
        return cls(healed, is_healed, state.read_at, options.terminal_deadline_s)

    def judge(self, found: Findings, what: str, since: float | None, **example: Any) -> None:
        """Record a thing that is still `what` (e.g. "not terminal") and has been since `since`."""
        starts = [t for t in (self.healed, since) if t is not None]
        if not self.is_healed or not starts or self.read_at <= 0:
            found.doubt(**example, problem=f"{what}, and no deadline applies")
            return
        waited = round(self.read_at - max(starts), 3)
        if waited > self.limit_s:
            found.violation(**example, problem=f"{what} after the deadline", waited_s=waited, deadline_s=self.limit_s)
        else:
            found.doubt(**example, problem=f"{what} yet, deadline not reached", waited_s=waited,
                        deadline_s=self.limit_s)
