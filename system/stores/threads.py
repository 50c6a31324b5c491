"""Where a service process's store calls run: on threads of their own, never on the event loop.

Every call a service makes to its store (a message's transaction, the relay's reads and marks,
the deadline timers, the HTTP routes' reads and the order's placement) is synchronous code: the
messaging core (handling.py) is shared with the simulator and has no asyncio in it. Run on the
event loop, each such call stopped the whole process for its database work: with PostgreSQL a
message costs 7-9 round trips, with SQLite a commit's fsync, and py-spy put most of a service's
time there (docs/design.md, issue #17). Here the loop queues the call for a store thread and
goes on with the broker and HTTP while the database works.

Two kinds of call:
- `run`: alone, outside any other call's transaction (reads, the relay, the timers). A read
  never sees another call's uncommitted writes: the relay must not publish a row that a crash
  could still roll back.
- `commit`: one transaction that may share its COMMIT with the commits queued behind it, when
  the store can group them (`commit_group`; SQLite: each call a savepoint of one transaction).
  Its result is delivered only after the group committed, so "ack after commit" and "201 after
  commit" hold as before, and a group costs one fsync instead of one per message.

- SQLite: ONE thread (the service's one connection is used by that thread only; SQLite has one
  writer anyway), commits grouped. Calls run in the order they were made.
- PostgreSQL: `threads` threads (SAGA_STORE_THREADS), each with its own connection (PgConnection
  keeps one per thread), one transaction per commit: up to that many transactions of a process
  are in flight at once, kept apart by the database locks that keep replicas apart (inbox key,
  order lock, stock rows), so N threads are no different from N replicas to the database.
"""

from __future__ import annotations

import asyncio
import queue
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import partial
from typing import Any, ParamSpec, TypeVar

from system.stores.sqlite import SqlStore

P = ParamSpec("P")
T = TypeVar("T")

# Runs several commits in one transaction; each call's result or exception, in order.
CommitGroup = Callable[[Sequence[Callable[[], Any]]], list[Any]]
MAX_GROUP = 64  # commits sharing one COMMIT at most: bounds the wait of the first in a group
_STOP = object()


@dataclass
class _Call:
    call: Callable[[], Any]
    groupable: bool
    future: asyncio.Future
    loop: asyncio.AbstractEventLoop


def _deliver(future: asyncio.Future, result: Any) -> None:
    if future.cancelled():  # its task was cancelled (shutdown): nobody waits for it any more
        return
    if isinstance(result, BaseException):
        future.set_exception(result)
    else:
        future.set_result(result)


def _settle(item: _Call, result: Any) -> None:
    try:
        item.loop.call_soon_threadsafe(_deliver, item.future, result)
    except RuntimeError:  # the loop is closed: the process is stopping, nobody waits
        pass


def _outcome(call: Callable[[], Any]) -> Any:
    try:
        return call()
    except BaseException as exc:  # noqa: BLE001 - handed to the caller; the thread must live on
        return exc


class StoreThreads:
    """A service's store and the threads its calls run on; opened when the process starts."""

    def __init__(self) -> None:
        self._store: SqlStore | None = None
        self._queue: queue.SimpleQueue[Any] = queue.SimpleQueue()
        self._threads: list[threading.Thread] = []
        self._commit_group: CommitGroup | None = None

    def open(self, store: SqlStore, threads: int, name: str, commit_group: CommitGroup | None = None) -> None:
        if threads < 1:
            raise ValueError(f"a store needs at least one thread, not {threads}")
        if commit_group is not None and threads != 1:
            raise ValueError("grouped commits share one connection: one thread")
        self._store, self._commit_group = store, commit_group
        self._threads = [threading.Thread(target=self._serve, name=f"{name}-store-{i + 1}", daemon=True)
                         for i in range(threads)]
        for thread in self._threads:
            thread.start()

    @property
    def store(self) -> SqlStore:
        if self._store is None:
            raise RuntimeError("the store is not open yet (the service is starting)")
        return self._store

    async def run(self, call: Callable[P, T], *args: P.args, **kwargs: P.kwargs) -> T:
        """`call(*args, **kwargs)` alone on a store thread; its result or its exception."""
        result: T = await self._submit(partial(call, *args, **kwargs), groupable=False)
        return result

    async def commit(self, call: Callable[P, T], *args: P.args, **kwargs: P.kwargs) -> T:
        """A call that is one transaction, which may share its COMMIT with the next ones."""
        result: T = await self._submit(partial(call, *args, **kwargs), groupable=True)
        return result

    async def _submit(self, call: Callable[[], Any], groupable: bool) -> Any:
        if not self._threads:
            raise RuntimeError("the store is not open yet (the service is starting)")
        loop = asyncio.get_running_loop()
        future = loop.create_future()
        self._queue.put(_Call(call, groupable, future, loop))
        return await future

    def _serve(self) -> None:
        carried: Any = None  # a call taken while filling a group, which does not belong in it
        while True:
            item = carried if carried is not None else self._queue.get()
            carried = None
            if item is _STOP:
                self._queue.put(_STOP)  # for the next thread
                return
            if not item.groupable or self._commit_group is None:
                _settle(item, _outcome(item.call))
                continue
            group = [item]
            while len(group) < MAX_GROUP:
                try:
                    following = self._queue.get_nowait()
                except queue.Empty:
                    break
                if following is _STOP or not following.groupable:
                    carried = following
                    break
                group.append(following)
            if len(group) == 1:  # nothing waiting: its own transaction, as without grouping
                _settle(item, _outcome(item.call))
                continue
            results = _outcome(partial(self._commit_group, [g.call for g in group]))
            if isinstance(results, BaseException):
                results = [results] * len(group)
            for member, result in zip(group, results, strict=True):
                _settle(member, result)

    def close(self, timeout: float = 15.0) -> None:
        """Let the calls queued so far finish, then close the store (every thread's connection)."""
        if self._threads:
            self._queue.put(_STOP)
            for thread in self._threads:
                thread.join(timeout)  # a call stuck on a cut link gives up within the driver's timeouts
        if self._store is not None:
            self._store.close()
