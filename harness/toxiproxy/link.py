"""One direction of one proxied connection: source bytes -> chain of toxic stages -> destination.

With no toxics the socket protocol writes straight to the destination (see connection.py) and
nothing here runs per chunk. With toxics, every stage is a task reading an inbox and pushing to
the next stage, or to the link itself, which acts as the sink. Pushing never awaits, so a stage
can be rewired (toxic added, updated, removed) while data is in flight without losing or
reordering bytes: a cancelled stage hands the chunk it holds to its output before it stops, and
whatever is still queued in its inbox is moved on after it.
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections import deque
from typing import TYPE_CHECKING, Any, Protocol

from harness.toxiproxy import rolls
from harness.toxiproxy.model import ToxicSpec

if TYPE_CHECKING:
    from harness.toxiproxy.connection import Connection, Side

log = logging.getLogger("harness.toxiproxy")

# Bytes queued inside a chain before the source stops being read. Upstream buffers up to 1024
# chunks in front of a latency toxic; 16 MiB keeps a 100 ms latency from capping throughput.
HIGH_WATER = 16 * 1024 * 1024
LOW_WATER = HIGH_WATER // 2


class Chunk:
    __slots__ = ("data", "ts")

    def __init__(self, data: bytes, ts: float) -> None:
        self.data = data
        self.ts = ts  # when it was read (loop clock): latency counts from here, as upstream


class Close:
    """End of stream. `reset` means the connection must end with a TCP RST (reset_peer)."""

    __slots__ = ("reset",)

    def __init__(self, reset: bool = False) -> None:
        self.reset = reset


Event = Chunk | Close


class Target(Protocol):
    def push(self, event: Event) -> None: ...


class Inbox:
    """An unbounded FIFO whose byte count feeds the link's read back-pressure."""

    def __init__(self, link: Link) -> None:
        self._link = link
        self._items: deque[Event] = deque()
        self._waiter: asyncio.Future[None] | None = None

    def put(self, event: Event) -> None:
        self._items.append(event)
        if isinstance(event, Chunk):
            self._link.queued += len(event.data)
        if self._waiter is not None and not self._waiter.done():
            self._waiter.set_result(None)

    def put_front(self, event: Event) -> None:
        self._items.appendleft(event)
        if isinstance(event, Chunk):
            self._link.queued += len(event.data)

    async def get(self, timeout: float | None = None) -> Event | None:
        """The next event, or None after `timeout` seconds without one."""
        # The item stays queued until this coroutine resumes: a cancellation in between loses nothing.
        while not self._items:
            self._waiter = asyncio.get_running_loop().create_future()
            try:
                if timeout is None:
                    await self._waiter
                else:
                    try:
                        await asyncio.wait_for(self._waiter, timeout)
                    except TimeoutError:
                        return None
            finally:
                self._waiter = None
        return self._take()

    def _take(self) -> Event:
        event = self._items.popleft()
        if isinstance(event, Chunk):
            self._link.queued -= len(event.data)
            self._link.maybe_resume()
        return event

    def drain(self) -> list[Event]:
        return [self._take() for _ in range(len(self._items))]


class Stage:
    """A toxic running on one link. The toxic functions in toxics.py drive it."""

    def __init__(self, link: Link, spec: ToxicSpec, rng: random.Random) -> None:
        self.link = link
        self.spec = spec
        self.rng = rng
        self.roll = rng.random()  # once per connection, direction and toxic (see rolls.py)
        self.state: dict[str, Any] = {}  # survives restarts, e.g. limit_data's byte count
        self.inbox = Inbox(link)
        self.output: Target = link
        self.finished = False
        self._task: asyncio.Task[None] | None = None

    @property
    def active(self) -> bool:
        return rolls.applies(self.roll, self.spec.toxicity)

    def start(self) -> None:
        from harness.toxiproxy.toxics import run_stage  # toxics imports this module

        if not self.finished:
            self._task = asyncio.get_running_loop().create_task(run_stage(self))
            self._task.add_done_callback(self._check_crash)

    def _check_crash(self, task: asyncio.Task[None]) -> None:
        # A toxic that crashes would otherwise leave its link silently stuck: drop the connection.
        if not task.cancelled() and task.exception() is not None:
            log.error("toxic %s crashed", self.spec.name, exc_info=task.exception())
            self.link.conn.abort()

    async def interrupt(self) -> None:
        """Stop the toxic at a safe point; the chunk it holds has gone to `output`."""
        task, self._task = self._task, None
        if task is None or task.done():
            return
        task.cancel()
        try:
            await task
        except asyncio.CancelledError:
            if asyncio.current_task().cancelling():  # type: ignore[union-attr]
                raise  # we are being cancelled ourselves, not just the stage
        except Exception:
            pass  # a crashed toxic: _check_crash has logged it and dropped the connection

    def cancel(self) -> None:
        if self._task is not None:
            self._task.cancel()

    # The toxic-facing side.
    def push(self, event: Event) -> None:
        if self.finished:
            return  # upstream's closed stub: nothing reads it any more
        self.inbox.put(event)

    async def next(self, timeout: float | None = None) -> Event | None:
        return await self.inbox.get(timeout)

    def emit(self, event: Event) -> None:
        self.output.push(event)

    def finish(self, close: Close) -> None:
        self.finished = True
        self.inbox.drain()  # whatever is still queued behind the close is dropped
        self.output.push(close)


class Link:
    """Source socket -> stages -> destination socket. It is the sink of its own chain."""

    def __init__(self, conn: Connection, direction: str, source: Side, dest: Side) -> None:
        self.conn = conn
        self.direction = direction
        self.source = source
        self.dest = dest
        self.stages: list[Stage] = []
        self.queued = 0
        self.eof = False
        self.closed = False

    def add_stage(self, spec: ToxicSpec) -> None:
        proxy = self.conn.proxy
        rng = rolls.link_rng(proxy.seed, proxy.name, self.conn.number, self.direction, spec.name)
        stage = Stage(self, spec, rng)
        # Appending at the end only redirects the last output pointer: the chunk the previous
        # stage holds goes into the new stage, exactly like upstream's AddToxic.
        if self.stages:
            self.stages[-1].output = stage
        self.stages.append(stage)
        stage.start()

    async def update_stage(self, spec: ToxicSpec) -> None:
        stage = self._find(spec.name)
        if stage is None:
            return
        await stage.interrupt()
        stage.spec = spec
        stage.start()

    async def remove_stage(self, name: str) -> None:
        stage = self._find(name)
        if stage is None:
            return
        await stage.interrupt()
        if stage not in self.stages:
            return
        if stage.spec.type == "timeout" and stage.active and not stage.finished:
            stage.finish(Close())  # upstream's Cleanup: removing a black hole closes the link
        index = self.stages.index(stage)
        downstream: Target = stage.output
        if index > 0:
            self.stages[index - 1].output = downstream
        del self.stages[index]
        for event in stage.inbox.drain():
            downstream.push(event)

    def _find(self, name: str) -> Stage | None:
        return next((s for s in self.stages if s.spec.name == name), None)

    def cancel_stages(self) -> None:
        for stage in self.stages:
            stage.cancel()

    # Input side, called by the source socket's protocol.
    def feed(self, data: bytes) -> None:
        if self.stages:
            self.stages[0].push(Chunk(data, asyncio.get_running_loop().time()))
            if self.queued > HIGH_WATER:
                self.source.hold("queue")
        else:
            self.push(Chunk(data, 0.0))

    def feed_eof(self) -> None:
        if self.eof:
            return
        self.eof = True
        if self.stages:
            self.stages[0].push(Close())
        else:
            self.push(Close())

    def maybe_resume(self) -> None:
        if self.queued < LOW_WATER:
            self.source.release("queue")

    # Sink side, called by the last stage.
    def push(self, event: Event) -> None:
        if self.closed:
            return
        if isinstance(event, Chunk):
            self.dest.write(event.data)
        else:
            self.closed = True
            self.conn.link_closed(self, event.reset)
