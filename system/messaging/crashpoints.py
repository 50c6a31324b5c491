"""Named crash points: places inside the service where a chaos run can make it die by SIGKILL.

Disarmed unless the chaos control surface armed them (and that surface needs SAGA_CHAOS_TOKEN).
SIGKILL, not an exception: nothing in the process gets a chance to tidy up, exactly as in a
power cut or an OOM kill.
"""

from __future__ import annotations

import logging
import os
import signal
import threading
from dataclasses import dataclass

BEFORE_COMMIT = "before_commit"
AFTER_COMMIT_BEFORE_ACK = "after_commit_before_ack"
AFTER_PUBLISH_BEFORE_MARK_SENT = "after_publish_before_mark_sent"
CRASH_POINTS = (BEFORE_COMMIT, AFTER_COMMIT_BEFORE_ACK, AFTER_PUBLISH_BEFORE_MARK_SENT)

log = logging.getLogger("saga.crashpoints")


@dataclass
class ArmedPoint:
    point: str
    routing_key: str | None = None  # only messages with this key trigger it; None: any
    skip: int = 0  # let this many matching hits pass first


class CrashPoints:
    def __init__(self) -> None:
        self.armed: dict[str, ArmedPoint] = {}
        # before_commit is hit on the store threads, several at once with PostgreSQL: a point
        # armed with `skip` must let exactly that many hits pass.
        self._lock = threading.Lock()

    def arm(self, point: str, routing_key: str | None = None, skip: int = 0) -> ArmedPoint:
        if point not in CRASH_POINTS:
            raise ValueError(f"unknown crash point {point!r}; known: {', '.join(CRASH_POINTS)}")
        armed = ArmedPoint(point, routing_key, max(0, skip))
        self.armed[point] = armed
        return armed

    def disarm_all(self) -> None:
        self.armed.clear()

    def hit(self, point: str, routing_key: str) -> None:
        with self._lock:
            armed = self.armed.get(point)
            if armed is None or (armed.routing_key and armed.routing_key != routing_key):
                return
            if armed.skip > 0:
                armed.skip -= 1
                return
        log.warning("crash point %s reached on %s: SIGKILL", point, routing_key)
        for handler in logging.getLogger().handlers:
            handler.flush()
        os.kill(os.getpid(), signal.SIGKILL)
        # As PID 1 (a container without an init) the kernel ignores our own SIGKILL: die anyway.
        os._exit(137)
