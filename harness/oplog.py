"""The client side of the history: a Jepsen operation log (invoke, then ok / fail / info).

    log = OpLog()
    op = log.invoke(process=0, f="place_order", value={"product_id": "product_1"})
    log.ok(op, {"order_id": "..."})          # known outcome: it happened
    log.fail(op, "409 conflict")             # known outcome: it did not happen
    log.info(op, "ReadTimeout")              # unknown outcome: it may have happened

An `info` is never a `fail`: a request that timed out after it was sent may have created its
order, and a checker that believed otherwise would call a lost order "never placed". Like Jepsen,
a process whose operation ended in `info` is retired (it may still be running, for all we know):
`next_process` gives the id its replacement should use.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any

import httpx

from harness.model import Operation, OpType


class OpLogError(RuntimeError):
    """A completion without its invocation, or a second completion: a bug in the caller."""


class OpLog:
    def __init__(self, clock: Callable[[], float] = time.time) -> None:
        self._clock = clock
        self._lock = threading.Lock()
        self._ops: list[Operation] = []
        self._open: dict[int, Operation] = {}  # process -> its invocation still waiting for an outcome

    def invoke(self, process: int, f: str, value: dict[str, Any] | None = None) -> Operation:
        with self._lock:
            if process in self._open:
                raise OpLogError(f"process {process} invoked {f} while {self._open[process].f} is still open")
            op = Operation(process=process, type="invoke", f=f, time=self._clock(), value=dict(value or {}))
            self._open[process] = op
            self._ops.append(op)
            return op

    def ok(self, invoked: Operation, value: dict[str, Any] | None = None) -> Operation:
        return self._complete(invoked, "ok", value, None)

    def fail(self, invoked: Operation, error: str, value: dict[str, Any] | None = None) -> Operation:
        return self._complete(invoked, "fail", value, error)

    def info(self, invoked: Operation, error: str, value: dict[str, Any] | None = None) -> Operation:
        return self._complete(invoked, "info", value, error)

    def _complete(
        self, invoked: Operation, kind: OpType, value: dict[str, Any] | None, error: str | None
    ) -> Operation:
        with self._lock:
            if self._open.get(invoked.process) is not invoked:
                raise OpLogError(f"{kind} for an operation that is not open: {invoked}")
            del self._open[invoked.process]
            # The completion carries the request too, so each line reads on its own.
            merged = {**invoked.value, **(value or {})}
            op = Operation(invoked.process, kind, invoked.f, self._clock(), merged, error)
            self._ops.append(op)
            return op

    def operations(self) -> list[Operation]:
        with self._lock:
            return list(self._ops)

    def open_operations(self) -> list[Operation]:
        """Invocations with no outcome yet (at the end of a run: the client never heard back)."""
        with self._lock:
            return list(self._open.values())

    def close_open(self, error: str = "no outcome recorded before the run ended") -> list[Operation]:
        """End every open operation as `info`: its outcome is unknown, by definition."""
        with self._lock:
            pending = list(self._open.values())
        return [self.info(op, error) for op in pending]

    def counts(self) -> dict[str, int]:
        with self._lock:
            result = {"invoke": 0, "ok": 0, "fail": 0, "info": 0}
            for op in self._ops:
                result[op.type] += 1
            return result


def next_process(process: int, workers: int) -> int:
    """Jepsen retires a process after an `info`; its worker carries on under a fresh id."""
    return process + workers


# --- classifying what an HTTP call told us (pure) --------------------------------------------

# Nothing left the client: the request cannot have had an effect.
_NOT_SENT = (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout, httpx.UnsupportedProtocol)


def outcome_of_error(exc: Exception) -> OpType:
    """`fail` only when the request provably never reached the server, else `info`."""
    return "fail" if isinstance(exc, _NOT_SENT) else "info"


def outcome_of_status(status: int) -> OpType:
    """2xx: done. 4xx: the server refused it, nothing changed. 5xx (or a proxy's 502): unknown."""
    if 200 <= status < 300:
        return "ok"
    if 400 <= status < 500:
        return "fail"
    return "info"


def describe_error(exc: Exception) -> str:
    text = str(exc).strip()
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__
