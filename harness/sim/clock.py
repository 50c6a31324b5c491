"""Virtual time and the event log: the two things that make a simulated run replayable.

No wall clock anywhere: one step is one millisecond of virtual time from a fixed epoch, so the
same seed gives the same timestamps, the same messages and the same fingerprint, to the byte.
"""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime

EPOCH = 1_704_067_200.0  # 2024-01-01T00:00:00Z: any fixed instant will do
STEP_S = 0.001


class VirtualClock:
    def __init__(self) -> None:
        self.tick = 0
        self._iso_tick = -1
        self._iso = ""

    def now(self) -> float:
        return EPOCH + self.tick * STEP_S

    def iso(self) -> str:
        """The `now` handlers see, in the services' own format (utc_now)."""
        if self._iso_tick != self.tick:  # formatting is the costly part: once per tick
            stamp = datetime.fromtimestamp(self.now(), UTC).isoformat(timespec="microseconds")
            self._iso = stamp.replace("+00:00", "Z")
            self._iso_tick = self.tick
        return self._iso


class EventLog:
    """Every event of a run, hashed as it happens; kept in full only when asked (for --trace)."""

    def __init__(self, clock: VirtualClock, keep: bool = False) -> None:
        self.clock = clock
        self._hash = hashlib.sha256()
        self.count = 0
        self.lines: list[str] | None = [] if keep else None

    def emit(self, *fields: object) -> None:
        line = f"{self.clock.tick} " + " ".join(str(f) for f in fields)
        self._hash.update(line.encode())
        self._hash.update(b"\n")
        self.count += 1
        if self.lines is not None:
            self.lines.append(line)

    def fingerprint(self) -> str:
        return self._hash.hexdigest()
