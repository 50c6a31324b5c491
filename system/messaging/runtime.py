"""The imperative shell around a service: broker connection, consumer, outbox relay.

- Store calls (a message's transaction, the relay's reads and marks, the timers) are handed to
  `store_calls`, the service's store threads (system/stores/threads.py): the loop never waits
  for the database itself, it goes on with other deliveries, publishes and HTTP meanwhile.
- Connects in the background with retries, so the HTTP API (reads) works while the broker is down.
- `connect_robust` restores channels, queues and the consumer after the broker comes back.
- Consumer: parse, handle (system/messaging/handling.py), then EXECUTE what the consumer policy
  (system/messaging/policy.py) decides: ack, requeue after a backoff, or dead-letter with a reason.
- Relay: publish unsent outbox rows with publisher confirms and mandatory routing; mark sent what
  the relay policy says (the confirmed rows). A crash in between re-publishes the same message_id.
  Each message carries its outbox row's `seq` (the service's commit order) in the `x-outbox-seq`
  header: a row whose publish failed goes out again after rows committed later, so bus order is
  not commit order, and the checker replays a service's replies by this figure. The body (the
  envelope) stays byte-identical on every re-publish.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any, Protocol
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import aio_pika
from aio_pika.abc import AbstractIncomingMessage, AbstractRobustConnection

from system.composition import Service
from system.config import ServiceConfig
from system.contracts import (
    OUTBOX_SEQ_HEADER,
    HandlerContext,
    Message,
    TransientFailure,
    parse_message,
    queue_name,
)
from system.deadlines import due, timer_message
from system.messaging.crashpoints import (
    AFTER_COMMIT_BEFORE_ACK,
    AFTER_PUBLISH_BEFORE_MARK_SENT,
    BEFORE_COMMIT,
    CrashPoints,
)
from system.messaging.handler_faults import HandlerFaults
from system.messaging.policy import (
    MAX_BACKOFF_S,
    Ack,
    DeadLetter,
    Decision,
    Requeue,
    attempt_number,
    relay_backoff_s,
    stall_reason,
)
from system.messaging.ports import OutboxRow, StoreUnavailable
from system.messaging.topology import declare_topology, get_exchanges
from system.stores.sqlite import utc_now
from system.tracing import NO_TRACING, DeliveryTrace, Tracing, now_ns
from system.urls import redact_url

log = logging.getLogger("saga.messaging")


class StoreCalls(Protocol):
    """Where blocking store calls run, off the event loop (system/stores/threads.py)."""

    def run(self, call: Callable[..., Any], /, *args: Any) -> Awaitable[Any]:
        """Alone, outside any other call's transaction."""
        ...

    def commit(self, call: Callable[..., Any], /, *args: Any) -> Awaitable[Any]:
        """One transaction, which may share its COMMIT with others; the result after it."""
        ...

TIMER_PERIOD_S = 0.1  # how often the order service looks for due deadlines
TIMER_BATCH = 500


def robust_url(url: str) -> str:
    """Reconnect quickly after a broker restart unless the URL already says otherwise."""
    parts = urlsplit(url)
    query = dict(parse_qsl(parts.query))
    query.setdefault("reconnect_interval", "1")
    return urlunsplit(parts._replace(query=urlencode(query)))


def amqp_message(body: bytes, message_id: str, order_id: str, headers: dict | None = None,
                 app_id: str | None = None) -> aio_pika.Message:
    """`app_id`: the publishing service's name (AMQP's own property; the recorder keeps it)."""
    return aio_pika.Message(
        body=body,
        message_id=message_id,
        correlation_id=order_id,
        content_type="application/json",
        delivery_mode=aio_pika.DeliveryMode.PERSISTENT,
        headers=headers or {},
        app_id=app_id,
    )


class ServiceHooks:
    """A service process's transaction hooks: armed handler faults, then the before_commit crash point."""

    def __init__(self, crash_points: CrashPoints, handler_faults: HandlerFaults) -> None:
        self.crash_points = crash_points
        self.handler_faults = handler_faults

    def before_commit(self, msg: Message) -> None:
        self.handler_faults.check(msg.type)
        self.crash_points.hit(BEFORE_COMMIT, msg.type)


class ProgressWatch:
    """Which deliveries are received and not settled yet, and when anything was last settled:
    what readiness needs to tell a stuck consumer (policy.stall_reason) from an idle or slow one."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self.clock = clock
        self._tokens = itertools.count()
        self._unsettled: dict[int, float] = {}  # token -> when received (insertion order = age)
        self.last_settled = clock()

    def received(self) -> int:
        token = next(self._tokens)
        self._unsettled[token] = self.clock()
        return token

    def settled(self, token: int) -> None:
        self._unsettled.pop(token, None)
        self.last_settled = self.clock()

    def reset(self) -> None:
        """The channel was lost: the broker redelivers what was unsettled, under new deliveries."""
        self._unsettled.clear()
        self.last_settled = self.clock()

    def stall(self) -> str | None:
        oldest = next(iter(self._unsettled.values()), None)
        return stall_reason(oldest, len(self._unsettled), self.last_settled, self.clock())


class MessagingRuntime:
    def __init__(
        self, config: ServiceConfig, service: Service, crash_points: CrashPoints, store_calls: StoreCalls,
        tracing: Tracing = NO_TRACING,
    ) -> None:
        self.config = config
        self.store_calls = store_calls
        self.tracing = tracing
        self.service = service
        self.crash_points = crash_points
        self.connection: AbstractRobustConnection | None = None
        self.consumer_tag: str | None = None
        self.last_error: str | None = None
        self.stats = {"handled": 0, "duplicates": 0, "dead_lettered": 0, "published": 0, "retries": 0}
        self._wake_relay = asyncio.Event()
        self._tasks: list[asyncio.Task] = []
        self._queues: dict = {}  # strong references: robust queues are restored only while alive
        self.progress = ProgressWatch()

    # -- lifecycle --------------------------------------------------------------------------
    def start(self) -> None:
        self._tasks.append(asyncio.create_task(self._connect_and_consume(), name="consumer"))
        self._tasks.append(asyncio.create_task(self._relay_forever(), name="outbox-relay"))
        if self.service.timers is not None:
            self.stats["timers_fired"] = 0
            self._tasks.append(asyncio.create_task(self._timers_forever(), name="deadline-timers"))

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        if self.connection is not None:
            await self.connection.close()

    def readiness(self) -> tuple[bool, str]:
        if self.connection is None:
            return False, f"not connected to the broker yet ({self.last_error or 'connecting'})"
        if self.connection.is_closed or not self.connection.connected.is_set():
            return False, "broker connection lost; reconnecting"
        if self.consumer_tag is None:
            return False, "consumer not started"
        relay = self._tasks[1] if len(self._tasks) > 1 else None
        if relay is None or relay.done():
            return False, "outbox relay is not running"
        stalled = self.progress.stall()
        if stalled is not None:
            return False, stalled
        return True, "ready"

    def wake_relay(self) -> None:
        self._wake_relay.set()

    # -- connection and consumer -----------------------------------------------------------
    async def _connect_and_consume(self) -> None:
        delay = 0.2
        while self.connection is None:
            try:
                connection = await aio_pika.connect_robust(robust_url(self.config.amqp_url), timeout=5)
            except Exception as exc:  # noqa: BLE001 - any failure means "try again later"
                self.last_error = f"{type(exc).__name__}: {exc}"
                log.warning("broker unreachable at %s: %s", redact_url(self.config.amqp_url), self.last_error)
                await asyncio.sleep(delay)
                delay = min(delay * 2, 2.0)
                continue
            try:
                await self._set_up(connection)
            except Exception as exc:  # noqa: BLE001
                self.last_error = f"{type(exc).__name__}: {exc}"
                log.exception("setting up the topology failed")
                await connection.close()
                await asyncio.sleep(delay)
                continue
            self.connection = connection
            connection.reconnect_callbacks.add(lambda *_: self.progress.reset())
            log.info("connected to the broker; consuming %s", queue_name(self.config.service))

    async def _set_up(self, connection: AbstractRobustConnection) -> None:
        consume_channel = await connection.channel()
        await consume_channel.set_qos(prefetch_count=self.config.prefetch)
        self._queues = await declare_topology(connection, consume_channel, self.config.style)
        self._publish_channel = await connection.channel(
            publisher_confirms=True, on_return_raises=True
        )
        self._exchange, self._dlx = await get_exchanges(self._publish_channel)
        queue = self._queues[self.config.service]
        self.consumer_tag = await queue.consume(self._on_message, no_ack=False)

    async def _on_message(self, incoming: AbstractIncomingMessage) -> None:
        token = self.progress.received()
        try:
            await self._handle_delivery(incoming)
        except Exception:  # noqa: BLE001 - left unsettled: readiness reports the stall (never silent)
            log.exception("delivery %s left unsettled", incoming.message_id)
            return
        self.progress.settled(token)

    async def _handle_delivery(self, incoming: AbstractIncomingMessage) -> None:
        received_ns = now_ns()
        consumer = self.service.consumer
        delivery_count = (incoming.headers or {}).get("x-delivery-count")  # quorum queues count
        attempt = attempt_number(delivery_count if isinstance(delivery_count, int) else None)
        try:
            msg = parse_message(incoming.body, incoming.routing_key or "")
        except Exception as exc:  # noqa: BLE001 - parse_message raises only MalformedMessage
            await self._execute(incoming, consumer.decide(exc, attempt))
            return
        trace = self.tracing.delivery(msg, incoming.headers, bool(incoming.redelivered), attempt, received_ns)
        if consumer.ack_on_receipt:
            await _ack(incoming)
        ctx = HandlerContext(now=utc_now(), decisions=self.config.decisions, attempt=attempt)
        decision: Decision | None = None
        try:
            decision = await self._handle_parsed(incoming, msg, ctx, attempt, trace)
        finally:
            trace.end(decision)

    async def _handle_parsed(self, incoming: AbstractIncomingMessage, msg: Message, ctx: HandlerContext,
                             attempt: int, trace: DeliveryTrace) -> Decision:
        consumer, handling = self.service.consumer, self.service.handling
        failure: Exception | None = None
        try:
            if handling.publish_first is not None:
                for out in await self.store_calls.run(handling.publish_first, msg, ctx):
                    await self._exchange.publish(
                        amqp_message(out.to_json(), out.message_id, out.order_id, app_id=self.config.service),
                        routing_key=out.type,
                    )
            began_ns = now_ns()
            outcome = await self.store_calls.commit(handling.commit, msg, ctx)
            trace.committed(outcome, began_ns)
        except TransientFailure as exc:  # a dependency's transient error: retried with backoff
            failure = exc
            trace.failed(exc)
            self.stats["retries"] += 1
            log.warning("handling %s %s: %s; retrying in %.2f s", msg.type, msg.message_id, exc, exc.delay_s)
        except Exception as exc:  # noqa: BLE001 - a handler bug must not stop the consumer
            failure = exc
            trace.failed(exc)
            log.error("handling %s %s failed (attempt %d): %r", msg.type, msg.message_id, attempt, exc)
        else:
            if outcome is None:
                self.stats["duplicates"] += 1
                log.info("duplicate %s %s (order %s) ignored", msg.type, msg.message_id, msg.order_id)
            else:
                self.stats["handled"] += 1
                log.info("handled %s %s (order %s): %s", msg.type, msg.message_id, msg.order_id, outcome.note)
                self.wake_relay()
            self.crash_points.hit(AFTER_COMMIT_BEFORE_ACK, msg.type)
        decision = consumer.decide(failure, attempt)
        await self._execute(incoming, decision, trace)
        return decision

    async def _execute(
        self, incoming: AbstractIncomingMessage, decision: Decision, trace: DeliveryTrace | None = None
    ) -> None:
        """Do what the consumer policy decided for this delivery."""
        if isinstance(decision, Ack):
            await _ack(incoming)
        elif isinstance(decision, Requeue):
            await asyncio.sleep(decision.delay_s)
            try:
                await incoming.nack(requeue=True)
            except Exception:  # noqa: BLE001 - the channel died: the broker redelivers anyway
                log.warning("nack failed; the broker will redeliver %s", incoming.message_id)
        elif isinstance(decision, DeadLetter):
            await self._dead_letter(incoming, decision.reason, trace.headers() if trace else {})
        # AlreadySettled: acked on receipt, nothing is left to do.

    async def _dead_letter(self, incoming: AbstractIncomingMessage, reason: str, trace_headers: dict) -> None:
        """Park a message with its reason in this service's DLQ, then ack it (never loop, never lose)."""
        headers = {
            **trace_headers,
            "x-dead-letter-reason": reason[:1000],
            "x-original-routing-key": incoming.routing_key or "",
            "x-original-message-id": incoming.message_id or "",
            "x-service": self.config.service,
        }
        log.error("dead-lettering %s (%s): %s", incoming.message_id, incoming.routing_key, reason)
        try:
            await self._dlx.publish(
                amqp_message(incoming.body, incoming.message_id or "", incoming.correlation_id or "", headers,
                             app_id=self.config.service),
                routing_key=self.config.service,
            )
        except Exception:  # noqa: BLE001 - not parked: let the broker redeliver it later
            log.exception("could not dead-letter %s; requeueing", incoming.message_id)
            await asyncio.sleep(0.5)
            try:
                await incoming.nack(requeue=True)
            except Exception:  # noqa: BLE001
                pass
            return
        self.stats["dead_lettered"] += 1
        await _ack(incoming)

    # -- outbox relay ------------------------------------------------------------------------
    async def _relay_forever(self) -> None:
        store, relay = self.service.store, self.service.relay
        backoff = relay_backoff_s(0.1, False)
        drained = False  # the last read saw every unsent row, and all of them are marked sent now
        while True:
            if self.connection is None or not self.connection.connected.is_set():
                await asyncio.sleep(0.1)
                continue
            if drained and not self._wake_relay.is_set():  # nothing committed since that read
                try:
                    await asyncio.wait_for(self._wake_relay.wait(), timeout=0.5)
                except TimeoutError:
                    pass
            # Cleared BEFORE the read: a commit that lands while the read runs (on a store
            # thread) sets it again, so its rows are read at once, not after the idle wait.
            self._wake_relay.clear()
            drained = False
            try:
                rows = await self.store_calls.run(store.unsent, relay.batch)
            except StoreUnavailable as exc:  # a shared database out of reach: try again later
                log.warning("outbox relay: %s", exc)
                await asyncio.sleep(MAX_BACKOFF_S)
                continue
            if not rows:
                drained = True
                continue
            results = await asyncio.gather(*(self._publish(r) for r in rows), return_exceptions=True)
            confirmed = [res is None for res in results]
            to_mark = relay.to_mark(rows, confirmed)
            for row in to_mark:
                self.crash_points.hit(AFTER_PUBLISH_BEFORE_MARK_SENT, row.message.type)
            marked = False
            if to_mark:
                try:
                    await self.store_calls.commit(store.mark_sent, to_mark, utc_now())
                    marked = True
                except StoreUnavailable as exc:  # published, not marked: sent again, deduplicated
                    log.warning("outbox relay: %s", exc)
            self.stats["published"] += sum(confirmed)
            failures = [res for res in results if res is not None]
            if failures:
                log.warning("outbox relay: %d of %d publishes failed: %r", len(failures), len(rows), failures[0])
                await asyncio.sleep(backoff)
            backoff = relay_backoff_s(backoff, bool(failures))
            # A short batch, all sent and marked: the read that found it was the whole backlog,
            # so another read before the next wake-up would only come back empty.
            drained = marked and len(to_mark) == len(rows) < relay.batch

    # -- deadline timers (issue #16) ------------------------------------------------------------
    async def _timers_forever(self) -> None:
        """Fire the due timers (system/deadlines.py `due`, the simulator's decision too) through
        the ordinary handling: one transaction each, idempotent by the timer message's id. Needs
        no broker: a saga times out while the broker is away, its compensations wait in the outbox."""
        assert self.service.timers is not None
        while True:
            try:
                fired = await self.store_calls.run(self.fire_due_timers)
            except StoreUnavailable as exc:
                log.warning("deadline timers: %s", exc)
                fired = 0
            except Exception:  # noqa: BLE001 - a timer bug must not stop the loop; logged, retried
                log.exception("deadline timers failed")
                fired = 0
            if fired:
                self.wake_relay()
            await asyncio.sleep(TIMER_PERIOD_S)

    def fire_due_timers(self) -> int:
        """On a store thread: reads the timers and commits each firing (stats are plain ints)."""
        assert self.service.timers is not None
        now = utc_now()
        fired = 0
        for timer in due(self.service.timers(TIMER_BATCH), now):
            msg = timer_message(timer, now)
            ctx = HandlerContext(now=now, decisions=self.config.decisions)
            outcome = self.service.handling.commit(msg, ctx)
            if outcome is not None:
                fired += 1
                self.stats["timers_fired"] += 1
                log.info("deadline of %s for order %s: %s", timer.step, timer.order_id, outcome.note)
        return fired

    async def _publish(self, row: OutboxRow) -> None:
        msg = row.message
        headers: dict = {OUTBOX_SEQ_HEADER: row.seq}
        trace = self.tracing.publish(msg, headers)  # adds `traceparent` when tracing
        try:
            await self._exchange.publish(
                amqp_message(msg.to_json(), msg.message_id, msg.order_id, headers, app_id=self.config.service),
                routing_key=msg.type,
                mandatory=True,
                timeout=10,
            )
        except BaseException as exc:
            trace.failed(exc)
            raise
        trace.ok()


async def _ack(incoming: AbstractIncomingMessage) -> None:
    try:
        await incoming.ack()
    except Exception:  # noqa: BLE001 - channel gone: the broker redelivers, the inbox absorbs it
        log.warning("ack of %s failed; it will be redelivered and deduplicated", incoming.message_id)
