"""Bounded waiting for eventual consistency: poll with a deadline, never a bare sleep."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")


def eventually(probe: Callable[[], T], ok: Callable[[T], bool], timeout: float = 30.0, poll: float = 0.2) -> T:
    """Poll `probe` until `ok(value)` holds or the deadline passes; return the last value either way."""
    deadline = time.monotonic() + timeout
    value = probe()
    while not ok(value) and time.monotonic() < deadline:
        time.sleep(poll)
        value = probe()
    return value
