"""Armed handler faults: the next N deliveries (of a routing key, or any) make the handler raise.

Armed only through the chaos control surface (POST /_chaos/handler-faults, which needs
SAGA_CHAOS_TOKEN). The fault is raised inside the transaction, so it rolls back, and the normal
consumer policy retries the message and dead-letters it after too many failures.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass

from system.contracts import ROUTING_KEYS


class TransientHandlerFault(Exception):
    """An injected, transient failure of a message handler."""


@dataclass
class ArmedHandlerFault:
    routing_key: str | None  # None: any delivery
    count: int  # deliveries still to fail


class HandlerFaults:
    def __init__(self) -> None:
        self.armed: list[ArmedHandlerFault] = []
        self._lock = threading.Lock()  # checked on the store threads, several at once with PostgreSQL

    def arm(self, routing_key: str | None, count: int) -> ArmedHandlerFault:
        if count < 1:
            raise ValueError(f"count must be at least 1, not {count}")
        if routing_key and routing_key not in ROUTING_KEYS:
            raise ValueError(f"unknown routing key {routing_key!r}; known: {', '.join(ROUTING_KEYS)}")
        armed = ArmedHandlerFault(routing_key or None, count)
        self.armed.append(armed)
        return armed

    def clear(self) -> None:
        self.armed.clear()

    def check(self, routing_key: str) -> None:
        """Raise TransientHandlerFault if an armed fault matches this delivery (and count it)."""
        with self._lock:
            for armed in self.armed:
                if armed.routing_key is None or armed.routing_key == routing_key:
                    armed.count -= 1
                    if armed.count <= 0:
                        self.armed.remove(armed)
                    raise TransientHandlerFault(f"injected handler fault on {routing_key}")
