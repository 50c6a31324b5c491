"""Log lines about the same fault are rate-limited per message template (injected clock)."""

from __future__ import annotations

import logging

from system.logthrottle import RateLimitFilter


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def record(msg: str, *args, name: str = "saga.messaging", level: int = logging.WARNING) -> logging.LogRecord:
    return logging.LogRecord(name, level, __file__, 1, msg, args, None)


def test_a_repeated_fault_logs_a_burst_per_window_then_says_how_many_were_dropped():
    clock = Clock()
    flt = RateLimitFilter(burst=3, window=10.0, clock=clock)
    passed = [flt.filter(record("broker unreachable at %s: %s", "amqp://x", f"try {i}")) for i in range(1000)]
    assert passed.count(True) == 3 and passed[:3] == [True] * 3
    clock.now = 10.0
    first = record("broker unreachable at %s: %s", "amqp://x", "again")
    assert flt.filter(first)
    assert first.getMessage() == "broker unreachable at amqp://x: again [997 similar lines suppressed]"
    nxt = record("broker unreachable at %s: %s", "amqp://x", "and again")
    assert flt.filter(nxt) and "suppressed" not in nxt.getMessage()


def test_templates_loggers_and_levels_are_limited_separately():
    flt = RateLimitFilter(burst=1, window=10.0, clock=Clock())
    assert flt.filter(record("dead-lettering %s (%s): %s", "m1", "k", "bad"))
    assert not flt.filter(record("dead-lettering %s (%s): %s", "m2", "k", "bad"))
    assert flt.filter(record("handling %s %s failed (attempt %d): %r", "t", "m", 1, "e"))
    assert flt.filter(record("dead-lettering %s (%s): %s", "m3", "k", "bad", name="other"))
    assert flt.filter(record("dead-lettering %s (%s): %s", "m4", "k", "bad", level=logging.ERROR))


def test_the_window_restarts_after_quiet():
    clock = Clock()
    flt = RateLimitFilter(burst=2, window=5.0, clock=clock)
    assert flt.filter(record("x")) and flt.filter(record("x"))
    clock.now = 4.9
    assert not flt.filter(record("x"))
    clock.now = 30.0
    assert flt.filter(record("x")) and flt.filter(record("x")) and not flt.filter(record("x"))


def test_on_a_handler_it_bounds_what_a_flood_writes():
    clock = Clock()
    lines: list[str] = []

    class Collect(logging.Handler):
        def emit(self, rec: logging.LogRecord) -> None:
            lines.append(self.format(rec))

    handler = Collect()
    handler.addFilter(RateLimitFilter(burst=10, window=10.0, clock=clock))
    logger = logging.getLogger("test.logthrottle.flood")
    logger.addHandler(handler)
    logger.propagate = False
    try:
        for i in range(20_000):
            clock.now = i * 0.002  # 20,000 faults in 40 s
            logger.error("connection error from %s", f"peer{i}")
    finally:
        logger.removeHandler(handler)
    assert len(lines) == 40  # 10 per 10 s window
