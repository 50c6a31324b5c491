"""Bounded waiting for eventual consistency: poll with a deadline, never a bare sleep.

`wait_until` is the one way to wait in the harness and its tests. It raises on timeout, with what
it was waiting for and what it last saw, so a caller cannot forget to check the outcome.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")
SHOWN = 300  # characters of the last value a timeout message quotes


class WaitTimeout(TimeoutError):
    """The condition did not hold before the deadline; `last` is the last value probed."""

    def __init__(self, what: str, timeout: float, last: object) -> None:
        self.what = what
        self.last = last
        shown = repr(last)
        if len(shown) > SHOWN:
            shown = shown[:SHOWN] + "..."
        super().__init__(f"{what}: not so after {timeout:g}s; last saw {shown}")


def wait_until(
    probe: Callable[[], T],
    ok: Callable[[T], object],
    timeout: float = 30.0,
    *,
    what: str,
    poll: float = 0.2,
) -> T:
    """Poll `probe` until `ok(value)` holds and return that value; raise WaitTimeout (naming
    `what` and the last value) if the deadline passes first. Probed at least once."""
    deadline = time.monotonic() + timeout
    value = probe()
    while not ok(value):
        if time.monotonic() >= deadline:
            raise WaitTimeout(what, timeout, value)
        time.sleep(poll)
        value = probe()
    return value

