"""Virtual time and the event log: the two things that make a simulated run replayable.

No wall clock anywhere: one step is one millisecond of virtual time from a fixed epoch, so the
same seed gives the same timestamps, the same messages and the same fingerprint, to the byte.
"""

from __future__ import annotations

import hashlib
import math
from datetime import UTC, datetime

EPOCH = 1_704_067_200  # 2024-01-01T00:00:00Z, whole seconds: any fixed instant will do
STEP_MS = 1


class VirtualClock:
    def __init__(self) -> None:
        self.tick = 0
        self._second = -1
        self._prefix = ""

    def now(self) -> float:
        return EPOCH + self.tick * STEP_MS / 1000

    def iso(self) -> str:
        """The `now` handlers see, in the services' own format (system.stores.sqlite.utc_now)."""
        second, ms = divmod(self.tick * STEP_MS, 1000)
        if second != self._second:  # formatting a datetime is the costly part: once a second
            self._prefix = datetime.fromtimestamp(EPOCH + second, UTC).strftime("%Y-%m-%dT%H:%M:%S")
            self._second = second
        return self._prefix + _MS_SUFFIX[ms]


    def tick_of(self, iso: str) -> int:
        """The first tick whose `iso()` is at or after `iso` (a deadline's)."""
        moment = datetime.fromisoformat(iso.replace("Z", "+00:00")).timestamp()
        return max(self.tick, math.ceil(round((moment - EPOCH) * 1000 / STEP_MS, 6)))


_MS_SUFFIX = tuple(f".{ms:03d}000Z" for ms in range(1000))  # what follows the second, per millisecond


class EventLog:
    """Every event of a run, one line each, hashed as it goes; kept in full only when asked.

    The fingerprint is sha256 over the lines, each ending in a newline. Lines are hashed in
    batches (hashing is the hot path of a fast run; the digest is the same either way).
    """

    _BATCH = 512

    def __init__(self, clock: VirtualClock, keep: bool = False) -> None:
        self.clock = clock
        self._hash = hashlib.sha256()
        self._batch: list[str] = []
        self._hashed = 0  # lines already hashed
        self._lines: list[str] | None = [] if keep else None

    @property
    def lines(self) -> list[str] | None:
        """Every line so far (None unless kept)."""
        self._flush()
        return self._lines

    @property
    def count(self) -> int:
        return self._hashed + len(self._batch)

    def emit(self, event: str) -> None:
        batch = self._batch
        batch.append(f"{self.clock.tick} {event}\n")
        if len(batch) >= self._BATCH:
            self._flush()

    def _flush(self) -> None:
        if self._lines is not None:
            self._lines.extend(line[:-1] for line in self._batch)
        self._hash.update("".join(self._batch).encode())
        self._hashed += len(self._batch)
        self._batch.clear()

    def fingerprint(self) -> str:
        self._flush()
        return self._hash.hexdigest()
