"""One simulated service: the REAL messaging core (system/composition.py, handling.py,
policy.py) over the in-memory store adapter, executed step by step.

This module only executes: it takes a delivery from the simulated broker, runs the composed
handling, and does what the consumer policy decided (ack, requeue, dead-letter); the relay
publishes unsent rows and marks what the relay policy says. It defines no transaction, retry or
dead-letter rule of its own. Crash points are the real ones; a crash loses what a SIGKILL loses.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, cast

from harness.model import FaultEvent
from harness.sim.broker import Envelope, SimBroker
from harness.sim.clock import EventLog, VirtualClock
from harness.sim.faults import FaultInjector
from system.composition import compose
from system.contracts import HandlerContext, Message, TransientFailure
from system.deadlines import Timer, due, timer_message
from system.decisions import DecisionConfig
from system.defects import Defect
from system.messaging.crashpoints import (
    AFTER_COMMIT_BEFORE_ACK,
    AFTER_PUBLISH_BEFORE_MARK_SENT,
    BEFORE_COMMIT,
)
from system.messaging.handler_faults import TransientHandlerFault
from system.messaging.policy import Ack, AlreadySettled, DeadLetter, Requeue, attempt_number
from system.order.defects import ForgetfulTimers
from system.order.memory import OrderTables
from system.registry import ServiceLogic
from system.stores.memory import MemoryStore


class Crashed(BaseException):
    """A crash point fired: the process is gone. BaseException, so no handler can swallow it."""

    def __init__(self, point: str) -> None:
        super().__init__(point)
        self.point = point


class SimHooks:
    """The simulator's transaction hooks: injected handler errors, then the before_commit crash point."""

    __slots__ = ("name", "injector", "broker")

    def __init__(self, name: str, injector: FaultInjector, broker: SimBroker) -> None:
        self.name, self.injector, self.broker = name, injector, broker

    def before_commit(self, msg: Message) -> None:
        injector = self.injector
        if injector.handler_error(self.name, msg.type):
            self.broker.fault("handler_error", self.name, message_id=msg.message_id)
            raise TransientHandlerFault(f"injected handler fault on {msg.type}")
        if injector.crash_at(self.name, BEFORE_COMMIT, msg.type):
            raise Crashed(BEFORE_COMMIT)


class SimService:
    def __init__(
        self,
        logic: ServiceLogic,
        broker: SimBroker,
        clock: VirtualClock,
        log: EventLog,
        injector: FaultInjector,
        decisions: DecisionConfig,
        defects: frozenset[Defect],
        new_id: Callable[[], str],
        faults: list[FaultEvent],
        prefetch: int = 32,
        max_attempts: int = 5,
        style: str = "orchestration",
    ) -> None:
        self.name = name = logic.name
        self.tables: Any = logic.memory()
        self.store: MemoryStore[Any] = MemoryStore(self.tables)
        self.timers: Callable[[int], list[Timer]] | None = None
        if name == "order" and decisions.timeouts.enabled:  # the order service owns the deadlines
            armed = cast(OrderTables, self.tables).armed_timers
            self.timers = armed
            if Defect.DEADLINE_LOST_ON_RESTART in defects:
                self.timers = ForgetfulTimers(armed, lambda: decisions.timeouts, clock.iso)
        self.service = compose(
            name, self.store, SimHooks(name, injector, broker),
            defects=defects, new_id=new_id, max_attempts=max_attempts, style=style, timers=self.timers,
        )
        self.handling, self.consumer, self.relay_policy = (
            self.service.handling, self.service.consumer, self.service.relay
        )
        # Bound once: these run for every delivery.
        self._commit, self._publish_first = self.handling.commit, self.handling.publish_first
        self._decide, self._emit = self.consumer.decide, log.emit
        self.broker = broker
        self.clock = clock
        self.log = log
        self.injector = injector
        self.decisions = decisions
        self.faults = faults
        self.prefetch = prefetch
        self.up = True
        self._down: tuple[float, str] | None = None
        # publish_before_commit only: handlers that published and have not committed yet.
        self.pending: list[tuple[Envelope, Message, HandlerContext]] = []
        # Every finished transaction, in order, when a test wants to replay them against SQLite.
        self.journal: list[tuple[Any, ...]] | None = None
        self.stats = {"handled": 0, "duplicates": 0, "crashes": 0, "published": 0, "lost": 0, "retries": 0}
        if self.timers is not None:
            self.stats["timers_fired"] = 0

    # -- deadline timers (issue #16): the services' decision, under the virtual clock ----------
    def next_deadline(self) -> str | None:
        """The earliest armed deadline, if this service owns any (the order service)."""
        return self.tables.next_deadline() if self.timers is not None else None

    def fire_timers(self) -> None:
        """What the order service's timer loop does (system/messaging/runtime.py), at virtual now:
        `due` decides, each due timer is one transaction through the composed handling."""
        assert self.timers is not None
        now = self.clock.iso()
        for timer in due(self.timers(500), now):
            msg = timer_message(timer, now)
            self._emit(f"timer {self.name} {timer.order_id} {timer.step}")
            try:
                outcome = self._commit(msg, HandlerContext(now, self.decisions))
            except Crashed as crash:
                self.crash(crash.point)
                return
            except Exception as exc:  # noqa: BLE001 - as the runtime: logged, tried again next round
                self._emit(f"timer-failed {self.name} {timer.order_id} {exc!r}")
                continue
            if outcome is not None:
                self.stats["timers_fired"] += 1
                self._emit(f"commit {self.name} {msg.message_id} {outcome.note}")
            if self.journal is not None:
                self.journal.append((self.name, msg, HandlerContext(now, self.decisions)))
            if self.injector.crash_at(self.name, AFTER_COMMIT_BEFORE_ACK, msg.type):  # fired, then died
                self.crash(AFTER_COMMIT_BEFORE_ACK)
                return

    # -- consumer ----------------------------------------------------------------------------
    def handle_next(self) -> None:
        envelope = self.broker.next_delivery(self.name, self.prefetch)
        if envelope is None:
            return
        try:
            self._on_message(envelope)
        except Crashed as crash:
            self.crash(crash.point)

    def _on_message(self, envelope: Envelope) -> None:
        msg = envelope.message
        self._emit(f"deliver {self.name} {msg.type} {msg.message_id} {int(envelope.redelivered)}")
        if self.consumer.ack_on_receipt:
            self._ack(envelope)
        ctx = HandlerContext(self.clock.iso(), self.decisions, envelope.failures + 1)
        publish_first = self._publish_first
        if publish_first is not None:
            try:
                direct = publish_first(msg, ctx)
            except Exception as exc:  # noqa: BLE001 - as in _commit_and_settle
                self._settle(envelope, exc)
                return
            for out in direct:
                self.broker.publish(out, self.name)
                self.stats["published"] += 1
            # The real handler awaits the publish here, and the consumer runs other deliveries
            # meanwhile (a reply to what was just published, even): the commit is a later step.
            self.pending.append((envelope, msg, ctx))
            return
        self._commit_and_settle(envelope, msg, ctx)

    def finish_pending(self) -> None:
        """publish_before_commit: the oldest published-but-uncommitted handler commits and acks."""
        envelope, msg, ctx = self.pending.pop(0)
        try:
            self._commit_and_settle(envelope, msg, ctx)
        except Crashed as crash:
            self.crash(crash.point)

    def _commit_and_settle(self, envelope: Envelope, msg: Message, ctx: HandlerContext) -> None:
        try:
            outcome = self._commit(msg, ctx)
        except Exception as exc:  # noqa: BLE001 - a handler bug must not stop the consumer (runtime.py)
            self._settle(envelope, exc)
            return
        if outcome is None:
            self.stats["duplicates"] += 1
            self._emit(f"duplicate {self.name} {msg.message_id}")
        else:
            self.stats["handled"] += 1
            self._emit(f"commit {self.name} {msg.message_id} {outcome.note}")
        if self.journal is not None:
            self.journal.append((self.name, msg, ctx))
        if self.injector.crash_at(self.name, AFTER_COMMIT_BEFORE_ACK, msg.type):
            raise Crashed(AFTER_COMMIT_BEFORE_ACK)
        self._settle(envelope, None)

    def _settle(self, envelope: Envelope, failure: Exception | None) -> None:
        """Execute what the consumer policy decides for this delivery."""
        if failure is not None:
            self._emit(f"handler-failed {self.name} {envelope.message.message_id} {failure!r}")
            if isinstance(failure, TransientFailure):
                self.stats["retries"] += 1
        decision = self._decide(failure, attempt_number(envelope.failures))
        if isinstance(decision, Ack):
            self._ack(envelope)
        elif isinstance(decision, Requeue):
            self.broker.nack_requeue(self.name, envelope)  # virtual time: no wait for the backoff
        elif isinstance(decision, DeadLetter):
            self.broker.dead_letter(self.name, envelope, decision.reason)
        if failure is not None and isinstance(decision, Ack | AlreadySettled):
            self.stats["lost"] += 1  # acked although its handler failed: nothing will retry it

    def _ack(self, envelope: Envelope) -> None:
        self.broker.ack(self.name, envelope)
        self._emit(f"ack {self.name} {envelope.message.message_id}")

    # -- outbox relay --------------------------------------------------------------------------
    def relay(self) -> None:
        rows = self.store.unsent(self.relay_policy.batch)
        broker, injector, name = self.broker, self.injector, self.name
        confirmed: list[bool] = []
        for row in rows:
            if injector.publish_fails(row.message.type):  # not confirmed: as if lost on the way
                broker.fault("publish_fail", row.message.type, message_id=row.message.message_id)
                confirmed.append(False)
            else:
                broker.publish(row.message, name, row.seq)  # seq: the x-outbox-seq header
                confirmed.append(True)
        to_mark = self.relay_policy.to_mark(rows, confirmed)
        try:
            for i, row in enumerate(to_mark):
                # A schedule counts every row's hit, as the real crash point does; the dice roll
                # once per round, or a large backlog would crash nearly every round, forever.
                self._crash_point(AFTER_PUBLISH_BEFORE_MARK_SENT, row.message.type, dice=i == 0)
        except Crashed as crash:
            self.crash(crash.point)  # published, not marked: re-published after the restart
            return
        self.store.mark_sent(to_mark, "")
        self.stats["published"] += sum(confirmed)
        self.log.emit(f"mark-sent {self.name} {len(to_mark)}")

    # -- process life ----------------------------------------------------------------------------
    def _crash_point(self, point: str, routing_key: str, dice: bool = True) -> None:
        if self.injector.crash_at(self.name, point, routing_key, dice):
            raise Crashed(point)

    def crash(self, point: str) -> None:
        """SIGKILL: committed state stays, unacked deliveries go back to the queue."""
        self.up = False
        self.pending.clear()  # uncommitted: gone with the process
        self._down = (self.clock.now(), point)
        self.stats["crashes"] += 1
        returned = self.broker.consumer_died(self.name)
        self.log.emit(f"crash {self.name} {point} {returned}")

    def open_fault(self) -> FaultEvent | None:
        """The crash this service has not restarted from yet (a run cut short), if any."""
        if self._down is None:
            return None
        since, point = self._down
        return FaultEvent("kill" if point == "kill" else "crash", self.name, since, None, {"point": point})

    def restart(self) -> None:
        self.up = True
        if isinstance(self.timers, ForgetfulTimers):
            self.timers.restarted()
        if self._down is not None:  # the open fault (open_fault()), now closed
            since, point = self._down
            kind = "kill" if point == "kill" else "crash"
            self.faults.append(FaultEvent(kind, self.name, since, self.clock.now(), {"point": point}))
            self._down = None
        self._emit(f"restart {self.name}")
