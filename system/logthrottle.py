"""Rate-limit log lines about the same fault, so a flood of faults cannot become a flood of log.

One filter, keyed by (logger, level, message template): the template (`record.msg`, before its
arguments are filled in) names the fault, the arguments vary with each occurrence. Each key may
log `burst` lines per `window` seconds; the first line let through after some were dropped says
how many. Installed on the service process's log handler (system/__main__.py), so it covers every
logger that could flood: broker unreachable, handler failures, dead-lettering, uvicorn's and
asyncio's connection errors. Pure apart from the clock, which is injected.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field

Key = tuple[str, int, str]


@dataclass
class _Window:
    start: float
    passed: int = 0
    dropped: int = 0


@dataclass
class RateLimitFilter(logging.Filter):
    burst: int = 10
    window: float = 10.0
    clock: Callable[[], float] = time.monotonic
    max_keys: int = 1024  # templates are few; the bound only guards against a non-constant msg
    _windows: dict[Key, _Window] = field(default_factory=dict)

    def __post_init__(self) -> None:
        logging.Filter.__init__(self)

    def filter(self, record: logging.LogRecord) -> bool:
        key = (record.name, record.levelno, str(record.msg))
        now = self.clock()
        win = self._windows.get(key)
        if win is None or now - win.start >= self.window:
            dropped = win.dropped if win is not None else 0
            if win is None and len(self._windows) >= self.max_keys:
                self._windows.clear()
            win = self._windows[key] = _Window(start=now)
            if dropped:
                _note_dropped(record, dropped)
        if win.passed >= self.burst:
            win.dropped += 1
            return False
        win.passed += 1
        return True


def _note_dropped(record: logging.LogRecord, dropped: int) -> None:
    # Appended to the formatted message, so a template with % arguments keeps working.
    record.msg = f"{record.getMessage()} [{dropped} similar lines suppressed]"
    record.args = None


def install(handler: logging.Handler, flt: RateLimitFilter | None = None) -> RateLimitFilter:
    flt = flt or RateLimitFilter()
    handler.addFilter(flt)
    return flt
