"""What each toxic does to the events crossing one stage, after toxics/*.go upstream.

A toxic is a coroutine over a Stage: it awaits `stage.next()`, calls `stage.emit()` for what
passes and `stage.finish(close)` to end the stream. When the stage is interrupted (toxic updated or
removed) the coroutine is cancelled; it must hand on any chunk it holds before re-raising, so
that no byte is lost (upstream does the same on its Interrupt channel).
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

from harness.toxiproxy import rolls
from harness.toxiproxy.link import Chunk, Close, Stage

Attributes = dict[str, int]
Toxic = Callable[[Stage, Attributes], Awaitable[None]]


async def run_stage(stage: Stage) -> None:
    toxic = TOXICS[stage.spec.type] if stage.active else noop
    await toxic(stage, stage.spec.attributes)


async def noop(stage: Stage, attrs: Attributes) -> None:
    while True:
        event = await stage.next()
        if isinstance(event, Close):
            return stage.finish(event)
        stage.emit(event)  # type: ignore[arg-type]


async def latency(stage: Stage, attrs: Attributes) -> None:
    loop = asyncio.get_running_loop()
    while True:
        event = await stage.next()
        if isinstance(event, Close):
            return stage.finish(event)
        assert isinstance(event, Chunk)
        delay = rolls.jittered_ms(stage.rng, attrs["latency"], attrs["jitter"]) / 1000
        # Counted from when the chunk was read, so a burst is delayed once, not once per chunk.
        sleep = delay - (loop.time() - event.ts)
        if sleep > 0:
            try:
                await asyncio.sleep(sleep)
            except asyncio.CancelledError:
                stage.emit(event)  # interrupted: pass it on undelayed, never drop it
                raise
        event.ts += sleep  # upstream's bookkeeping, so chained latencies add up
        stage.emit(event)


async def bandwidth(stage: Stage, attrs: Attributes) -> None:
    rate = attrs["rate"]  # KB/s, i.e. bytes per millisecond
    loop = asyncio.get_running_loop()
    debt = 0.0  # seconds owed; negative when a previous sleep overshot
    while True:
        event = await stage.next()
        if isinstance(event, Close):
            return stage.finish(event)
        assert isinstance(event, Chunk)
        if rate <= 0:
            # Upstream means "unlimited" here but then spins forever on empty slices.
            stage.emit(event)
            continue
        data, ts = event.data, event.ts
        debt += len(data) / rate / 1000
        slice_size = rate * 100  # what 100 ms allows: big chunks go out in 100 ms slices
        try:
            while len(data) > slice_size:
                await asyncio.sleep(0.1)
                stage.emit(Chunk(data[:slice_size], ts))
                data = data[slice_size:]
                debt -= 0.1
            start = loop.time()
            await asyncio.sleep(max(debt, 0.0))
            debt -= loop.time() - start
        except asyncio.CancelledError:
            stage.emit(Chunk(data, ts))
            raise
        stage.emit(Chunk(data, ts))


async def slow_close(stage: Stage, attrs: Attributes) -> None:
    while True:
        event = await stage.next()
        if isinstance(event, Close):
            try:
                await asyncio.sleep(attrs["delay"] / 1000)
            except asyncio.CancelledError:
                # Upstream forgets the close here and the link hangs; keep it for the next toxic.
                stage.inbox.put_front(event)
                raise
            return stage.finish(event)
        assert isinstance(event, Chunk)  # no timeout asked: next() never returns None
        stage.emit(event)


async def timeout(stage: Stage, attrs: Attributes) -> None:
    # Like upstream, the countdown restarts after every swallowed chunk: the link closes once
    # `timeout` ms pass with nothing crossing it. 0 never closes.
    wait = attrs["timeout"] / 1000 if attrs["timeout"] > 0 else None
    while True:
        event = await stage.next(wait)
        if event is None:
            return stage.finish(Close())
        if isinstance(event, Close):
            return stage.finish(event)
        # Swallowed.


async def reset_peer(stage: Stage, attrs: Attributes) -> None:
    # The first event (data or end of stream) arms it; that chunk is dropped, as upstream.
    await stage.next()
    await asyncio.sleep(attrs["timeout"] / 1000)
    stage.finish(Close(reset=True))


async def slicer(stage: Stage, attrs: Attributes) -> None:
    pause = attrs["delay"] / 1_000_000  # microseconds
    while True:
        event = await stage.next()
        if isinstance(event, Close):
            return stage.finish(event)
        assert isinstance(event, Chunk)
        cuts = rolls.slice_offsets(
            stage.rng, 0, len(event.data), attrs["average_size"], attrs["size_variation"]
        )
        for i in range(1, len(cuts), 2):
            stage.emit(Chunk(event.data[cuts[i - 1] : cuts[i]], event.ts))
            try:
                await asyncio.sleep(pause)
            except asyncio.CancelledError:
                if cuts[i] < len(event.data):
                    stage.emit(Chunk(event.data[cuts[i] :], event.ts))
                raise


async def limit_data(stage: Stage, attrs: Attributes) -> None:
    limit = attrs["bytes"]
    sent = stage.state.setdefault("sent", 0)
    while True:
        event = await stage.next()
        if isinstance(event, Close):
            return stage.finish(event)
        assert isinstance(event, Chunk)
        allowed = event.data[: max(limit - sent, 0)]
        if allowed:
            stage.emit(Chunk(allowed, event.ts))
            sent += len(allowed)
            stage.state["sent"] = sent
        if limit - sent <= 0:
            return stage.finish(Close())


TOXICS: dict[str, Toxic] = {
    "noop": noop,
    "latency": latency,
    "bandwidth": bandwidth,
    "slow_close": slow_close,
    "timeout": timeout,
    "reset_peer": reset_peer,
    "slicer": slicer,
    "limit_data": limit_data,
}
