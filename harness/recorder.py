"""The bus side of the history: a tap queue bound to `#` on `saga_events` that logs every message.

    recorder = Recorder(endpoints.amqp_url)
    recorder.start()            # returns once the tap is bound: nothing published after is missed
    ...
    recorder.drain()            # wait until the tap has nothing left to deliver
    recorder.stop()
    recorder.messages()         # [RecordedMessage], in arrival order

The tap runs on the harness's own connection (never through a Toxiproxy link, so network faults
on the services do not blind it), in a background thread with its own event loop, so sync code
(pytest-bdd steps, the chaos runner's threads) can use it.

Two queue modes. The default is a classic exclusive auto-delete queue: it vanishes with the
recorder and can never be left behind. It cannot survive a broker restart, though: while the tap
is gone, messages the services publish are not copied to it. `durable=True` declares a durable
classic queue instead (with `x-expires`, so a recorder that dies leaves nothing behind for long):
persistent messages wait in it across a broker restart and nothing is missed. The chaos runner
uses it whenever an experiment restarts the broker. Either way, `gaps()` lists when the recorder's
connection was down.
"""

from __future__ import annotations

import asyncio
import json
import threading
import time
import uuid
from collections.abc import Awaitable, Callable, Mapping
from concurrent.futures import Future
from typing import Any

import aio_pika
from aio_pika.abc import AbstractIncomingMessage, AbstractRobustConnection

from harness.model import RecordedMessage
from system.contracts import EXCHANGE, OUTBOX_SEQ_HEADER

TAP_EXPIRES_MS = 10 * 60 * 1000  # a durable tap nobody consumes from disappears after this
DUPLICATE_HEADER = "x-chaos-duplicate"  # set by the duplicator on the copies it publishes


def recorded_from(
    body: bytes,
    routing_key: str,
    *,
    message_id: str | None,
    correlation_id: str | None,
    redelivered: bool,
    at: float,
    headers: Mapping[str, Any] | None = None,
    app_id: str | None = None,
) -> RecordedMessage:
    """Pure: one delivery -> one RecordedMessage. A body that is not an envelope is kept too
    (poison messages are part of what happened); its order_id is the correlation id, if any.
    `outbox_seq` comes from the `x-outbox-seq` header (an int; anything else: None)."""
    envelope: dict[str, Any] = {}
    try:
        decoded = json.loads(body)
        if isinstance(decoded, dict):
            envelope = decoded
    except (UnicodeDecodeError, ValueError):
        pass
    payload = envelope.get("payload")
    causation = envelope.get("causation_id")
    return RecordedMessage(
        time=at,
        routing_key=routing_key,
        message_id=str(message_id or envelope.get("message_id") or ""),
        order_id=str(envelope.get("order_id") or correlation_id or ""),
        redelivered=redelivered,
        causation_id=str(causation) if causation else None,
        payload=payload if isinstance(payload, dict) else {},
        outbox_seq=outbox_seq(headers),
        app_id=app_id or None,
    )


def outbox_seq(headers: Mapping[str, Any] | None) -> int | None:
    """The publisher's commit order from a delivery's headers, if it carries a proper one."""
    seq = (headers or {}).get(OUTBOX_SEQ_HEADER)
    return seq if isinstance(seq, int) and not isinstance(seq, bool) else None


class Tap:
    """A queue bound to `saga_events`, consumed on a private loop in a background thread.

    `on_message(incoming)` runs on that loop for every delivery; the tap acks it afterwards.
    Subclasses (the recorder, the duplicator) only decide what to do with each message.
    """

    prefix = "harness.tap"

    def __init__(
        self,
        amqp_url: str,
        *,
        binding_keys: tuple[str, ...] = ("#",),
        durable: bool = False,
        prefetch: int = 500,
    ) -> None:
        self.amqp_url = amqp_url
        self.binding_keys = binding_keys
        self.durable = durable
        self.prefetch = prefetch
        self.queue_name = f"{self.prefix}.{uuid.uuid4().hex[:12]}"
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._connection: AbstractRobustConnection | None = None
        self._channel: Any = None
        self._queue: Any = None  # strong reference: robust queues are restored only while alive
        self._consumer_tag: str | None = None
        self._last_delivery = 0.0
        self._lost_at: float | None = None
        self._gaps: list[tuple[float, float | None]] = []
        self._gaps_lock = threading.Lock()
        self._closing = False

    # -- lifecycle (called from any thread) ----------------------------------------------------
    def start(self, timeout: float = 15.0) -> None:
        ready: Future[None] = Future()
        self._thread = threading.Thread(target=self._run_loop, args=(ready,), name=type(self).__name__, daemon=True)
        self._thread.start()
        try:
            ready.result(timeout)
        except BaseException:
            loop, self._loop = self._loop, None
            if loop is not None and not loop.is_closed():
                try:
                    loop.call_soon_threadsafe(loop.stop)
                except RuntimeError:  # closed meanwhile by its own thread
                    pass
            self._thread.join(timeout)
            raise

    def stop(self, timeout: float = 10.0) -> None:
        if self._loop is None or self._thread is None or self._loop.is_closed():
            return
        try:
            self.call(self._shutdown(), timeout)
        finally:
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(timeout)
            self._loop = None

    def call(self, coro: Awaitable[Any], timeout: float = 10.0) -> Any:
        """Run a coroutine on the tap's loop from another thread and wait for its result."""
        assert self._loop is not None, "tap not started"
        return asyncio.run_coroutine_threadsafe(coro, self._loop).result(timeout)  # type: ignore[arg-type]

    def _run_loop(self, ready: Future[None]) -> None:
        loop = asyncio.new_event_loop()
        self._loop = loop
        asyncio.set_event_loop(loop)

        async def boot() -> None:
            try:
                await self._open()
            except BaseException as exc:  # noqa: BLE001 - handed to the thread that called start()
                ready.set_exception(exc)
                loop.stop()
                return
            ready.set_result(None)

        loop.create_task(boot())
        try:
            loop.run_forever()
        finally:
            loop.run_until_complete(loop.shutdown_asyncgens())
            loop.close()

    async def _open(self) -> None:
        # reconnect_interval: after a broker restart, be back before the services are.
        connection = await aio_pika.connect_robust(self.amqp_url, timeout=10, reconnect_interval=0.5)
        connection.close_callbacks.add(self._on_lost)
        connection.reconnect_callbacks.add(self._on_restored)
        self._connection = connection
        self._channel = await connection.channel()
        await self._channel.set_qos(prefetch_count=self.prefetch)
        exchange = await self._channel.declare_exchange(EXCHANGE, aio_pika.ExchangeType.TOPIC, durable=True)
        if self.durable:
            queue = await self._channel.declare_queue(
                self.queue_name, durable=True, arguments={"x-expires": TAP_EXPIRES_MS}
            )
        else:
            queue = await self._channel.declare_queue(self.queue_name, exclusive=True, auto_delete=True)
        for key in self.binding_keys:
            await queue.bind(exchange, routing_key=key)
        self._queue = queue
        await self.on_open()
        self._consumer_tag = await queue.consume(self._deliver, no_ack=False)

    async def on_open(self) -> None:
        """Hook: more set-up on the tap's connection (the duplicator opens its publisher here)."""

    async def _shutdown(self) -> None:
        self._closing = True
        await self.on_close()
        if self._queue is not None and self.durable:
            try:
                await self._queue.cancel(self._consumer_tag)
                await self._queue.delete(if_unused=False, if_empty=False)
            except Exception:  # noqa: BLE001 - x-expires removes it anyway
                pass
        if self._connection is not None:
            await self._connection.close()

    async def on_close(self) -> None:
        """Hook: tidy up before the connection closes."""

    async def _deliver(self, incoming: AbstractIncomingMessage) -> None:
        self._last_delivery = time.monotonic()
        try:
            await self.on_message(incoming)
        finally:
            try:
                await incoming.ack()
            except Exception:  # noqa: BLE001 - the channel died; a durable tap redelivers it
                pass

    async def on_message(self, incoming: AbstractIncomingMessage) -> None:
        raise NotImplementedError

    # -- connection watch ------------------------------------------------------------------------
    def _on_lost(self, *_: Any) -> None:
        if self._closing:  # our own stop(), not a lost connection
            return
        with self._gaps_lock:
            if self._lost_at is None:
                self._lost_at = time.time()

    def _on_restored(self, *_: Any) -> None:
        with self._gaps_lock:
            if self._lost_at is not None:
                self._gaps.append((self._lost_at, time.time()))
                self._lost_at = None

    def gaps(self) -> list[tuple[float, float | None]]:
        """(lost, restored) windows of the tap's connection; restored is None while still down."""
        with self._gaps_lock:
            current = [(self._lost_at, None)] if self._lost_at is not None else []
            return list(self._gaps) + current

    # -- draining -------------------------------------------------------------------------------
    async def _depth(self) -> int:
        channel = await self._connection.channel()  # type: ignore[union-attr]
        try:
            declared = await channel.declare_queue(self.queue_name, passive=True)
            return int(declared.declaration_result.message_count or 0)
        finally:
            await channel.close()

    def drain(self, timeout: float = 10.0, idle: float = 0.3, poll: float = 0.1) -> bool:
        """Wait until the tap queue is empty and nothing arrived for `idle` seconds."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                depth = self.call(self._depth(), timeout=5)
            except Exception:  # noqa: BLE001 - reconnecting: try again until the deadline
                depth = -1
            if depth == 0 and time.monotonic() - self._last_delivery >= idle:
                return True
            time.sleep(poll)
        return False


class Recorder(Tap):
    """Records every message on `saga_events`, including the redelivered flag."""

    prefix = "harness.recorder"

    def __init__(self, amqp_url: str, *, durable: bool = False, clock: Callable[[], float] = time.time) -> None:
        super().__init__(amqp_url, durable=durable)
        self._clock = clock
        self._lock = threading.Lock()
        self._messages: list[RecordedMessage] = []

    async def on_message(self, incoming: AbstractIncomingMessage) -> None:
        message = recorded_from(
            incoming.body,
            incoming.routing_key or "",
            message_id=incoming.message_id,
            correlation_id=incoming.correlation_id,
            redelivered=bool(incoming.redelivered),
            at=self._clock(),
            headers=incoming.headers,
            app_id=incoming.app_id,
        )
        with self._lock:
            self._messages.append(message)

    def messages(self) -> list[RecordedMessage]:
        with self._lock:
            return list(self._messages)

    def __len__(self) -> int:
        with self._lock:
            return len(self._messages)

    def __enter__(self) -> Recorder:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()
