"""One simulated service: the messaging shell of system/messaging/{runtime,handling}.py, in memory.

Consumer: take a delivery, handle it in one transaction (inbox claim, a duplicate stops there;
load, the REAL domain `handle`, save, outbox rows), commit, ack. Relay: publish unsent outbox
rows, then mark them sent. Crash points are the real ones; a crash loses what a SIGKILL loses.
The infrastructure defects change the order of commit, ack and publish exactly as runtime.py does.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from typing import Any

from harness.model import FaultEvent
from harness.sim.broker import Envelope, SimBroker
from harness.sim.clock import EventLog, VirtualClock
from harness.sim.faults import FaultInjector
from harness.sim.stores import ServiceStore
from system.contracts import HandlerContext, Message, Outcome
from system.decisions import DecisionConfig
from system.delivery import domain as delivery_domain
from system.inventory import domain as inventory_domain
from system.messaging.crashpoints import (
    AFTER_COMMIT_BEFORE_ACK,
    AFTER_PUBLISH_BEFORE_MARK_SENT,
    BEFORE_COMMIT,
)
from system.order import domain as order_domain
from system.payment import domain as payment_domain

# The functions the real services run (system/<service>/logic.py wires the same ones).
DOMAINS: dict[str, Callable[[Any, Message, HandlerContext], Outcome]] = {
    "order": order_domain.handle,
    "inventory": inventory_domain.handle,
    "payment": payment_domain.handle,
    "delivery": delivery_domain.handle,
}
RELAY_BATCH = 200  # runtime.py reads up to 200 unsent rows per round


class Crashed(BaseException):
    """A crash point fired: the process is gone. BaseException, so no handler can swallow it."""

    def __init__(self, point: str) -> None:
        super().__init__(point)
        self.point = point


class SimService:
    def __init__(
        self,
        name: str,
        store: ServiceStore,
        broker: SimBroker,
        clock: VirtualClock,
        log: EventLog,
        injector: FaultInjector,
        decisions: DecisionConfig,
        defects: frozenset[str],
        new_id: Callable[[], str],
        faults: list[FaultEvent],
        prefetch: int = 32,
        max_attempts: int = 5,
    ) -> None:
        self.name = name
        self.store = store
        self.broker = broker
        self.clock = clock
        self.log = log
        self.injector = injector
        self.decisions = decisions
        self.defects = defects
        self.new_id = new_id
        self.faults = faults
        self.prefetch = prefetch
        self.max_attempts = max_attempts
        self.decide = DOMAINS[name]
        self.up = True
        self._down: tuple[float, str] | None = None
        # publish_before_commit only: handlers that published and have not committed yet.
        self.pending: list[tuple[Envelope, Message, HandlerContext]] = []
        # Every finished transaction, in order, when a test wants to replay them against SQLite.
        self.journal: list[tuple[Any, ...]] | None = None
        self.stats = {"handled": 0, "duplicates": 0, "crashes": 0, "published": 0, "lost": 0}
        self._ack_first = "ack_before_commit" in defects
        self._no_outbox = "publish_before_commit" in defects
        self._no_dedup = "no_inbox_dedup" in defects

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
        self.log.emit(f"deliver {self.name} {msg.type} {msg.message_id} {int(envelope.redelivered)}")
        if self._ack_first:
            self._ack(envelope)
        ctx = HandlerContext(now=self.clock.iso(), decisions=self.decisions, defects=self.defects)
        if self._no_outbox:
            try:
                self._publish_first(msg, ctx)
            except Exception as exc:  # noqa: BLE001 - as below
                self._handler_failed(envelope, exc)
                return
            # The real handler awaits the publish here, and the consumer runs other deliveries
            # meanwhile (a reply to what was just published, even): the commit is a later step.
            self.pending.append((envelope, msg, ctx))
            return
        self._commit_and_ack(envelope, msg, ctx, use_outbox=True)

    def finish_pending(self) -> None:
        """publish_before_commit: the oldest published-but-uncommitted handler commits and acks."""
        envelope, msg, ctx = self.pending.pop(0)
        try:
            self._commit_and_ack(envelope, msg, ctx, use_outbox=False)
        except Crashed as crash:
            self.crash(crash.point)

    def _commit_and_ack(self, envelope: Envelope, msg: Message, ctx: HandlerContext, use_outbox: bool) -> None:
        try:
            duplicate = self._transaction(msg, ctx, use_outbox)
        except Exception as exc:  # noqa: BLE001 - a handler bug must not stop the consumer (runtime.py)
            self._handler_failed(envelope, exc)
            return
        self.stats["duplicates" if duplicate else "handled"] += 1
        self._crash_point(AFTER_COMMIT_BEFORE_ACK, msg.type)
        if not self._ack_first:
            self._ack(envelope)

    def _transaction(self, msg: Message, ctx: HandlerContext, use_outbox: bool) -> bool:
        """handling.handle_message: True when the inbox says it was handled before."""
        store = self.store
        if msg.message_id in store.inbox and not self._no_dedup:
            self.log.emit(f"duplicate {self.name} {msg.message_id}")
            if self.journal is not None:
                self.journal.append((self.name, msg, ctx, use_outbox))
            return True
        outcome = self.decide(store.load(msg), msg, ctx)
        self._crash_point(BEFORE_COMMIT, msg.type)  # still inside the transaction: nothing written
        store.commit(msg, outcome.state, outcome.messages if use_outbox else ())
        self.log.emit(f"commit {self.name} {msg.message_id} {outcome.note}")
        if self.journal is not None:
            self.journal.append((self.name, msg, ctx, use_outbox))
        return False

    def _publish_first(self, msg: Message, ctx: HandlerContext) -> None:
        """The `publish_before_commit` defect: decide and publish under fresh ids, no outbox."""
        decided = self.decide(self.store.load(msg), msg, ctx)
        for out in decided.messages:
            self.broker.publish(replace(out, message_id=self.new_id()), self.name)
            self.stats["published"] += 1

    def _handler_failed(self, envelope: Envelope, exc: Exception) -> None:
        self.log.emit(f"handler-failed {self.name} {envelope.message.message_id} {exc!r}")
        if self._ack_first:  # already acked: nothing left to retry
            self.stats["lost"] += 1
            return
        attempts = envelope.failures + 1
        if attempts >= self.max_attempts:
            self.broker.dead_letter(self.name, envelope, f"handler failed {attempts} times: {exc!r}")
        else:
            self.broker.nack_requeue(self.name, envelope)

    def _ack(self, envelope: Envelope) -> None:
        self.broker.ack(self.name, envelope)
        self.log.emit(f"ack {self.name} {envelope.message.message_id}")

    # -- outbox relay --------------------------------------------------------------------------
    def relay(self) -> None:
        rows = self.store.unsent()[:RELAY_BATCH]
        try:
            for row in rows:
                self.broker.publish(row.message, self.name)
            for i, row in enumerate(rows):
                # A schedule counts every row's hit, as the real crash point does; the dice roll
                # once per round, or a large backlog would crash nearly every round, forever.
                self._crash_point(AFTER_PUBLISH_BEFORE_MARK_SENT, row.message.type, dice=i == 0)
        except Crashed as crash:
            self.crash(crash.point)  # published, not marked: re-published after the restart
            return
        self.store.mark_sent(rows)
        self.stats["published"] += len(rows)
        self.log.emit(f"mark-sent {self.name} {len(rows)}")

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
        fault = self.open_fault()
        if fault is not None:
            self.faults.append(replace(fault, end=self.clock.now()))
            self._down = None
        self.log.emit(f"restart {self.name}")
