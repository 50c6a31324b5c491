"""A topic exchange with one work queue per service, at-least-once, in memory.

Like RabbitMQ with manual acks: a delivered message stays unacked until the consumer acks it;
if the consumer dies, everything it held goes back to the head of the queue, flagged
redelivered. Every publish is what the recorder's tap queue (bound to `#`) would see.
"""

from __future__ import annotations

import heapq
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, replace

from harness.model import DeadLetter, FaultEvent, RecordedMessage
from harness.sim.clock import EventLog, VirtualClock
from harness.sim.faults import FaultInjector
from system.contracts import (
    ALL_ROUTING_KEYS,
    SERVICES,
    Message,
    dead_letter_queue_name,
    queue_name,
)
from system.styles import ORCHESTRATED, Style


@dataclass(eq=False, slots=True)  # eq=False: two copies of one message are still two deliveries
class Envelope:
    message: Message
    redelivered: bool = False
    failures: int = 0  # handler failures so far (a quorum queue's x-delivery-count)
    taken: bool = False  # its handler has started (and, under publish_before_commit, may still run)


class SimQueue:
    __slots__ = ("name", "ready", "unacked", "taken")

    def __init__(self, name: str) -> None:
        self.name = name
        self.ready: deque[Envelope] = deque()
        self.unacked: deque[Envelope] = deque()  # delivered to the consumer (its prefetch window)
        self.taken = 0  # how many unacked deliveries a handler has started on


class SimBroker:
    def __init__(
        self,
        clock: VirtualClock,
        log: EventLog,
        injector: FaultInjector,
        new_id: Callable[[], str],
        faults: list[FaultEvent],
        style: Style = ORCHESTRATED,
    ) -> None:
        self.clock = clock
        self.log = log
        self.injector = injector
        self.new_id = new_id
        self.faults = faults
        self.queues = {s: SimQueue(queue_name(s)) for s in SERVICES}
        bindings = style.bindings
        self.routes = {rk: [self.queues[s] for s in SERVICES if rk in bindings[s]] for rk in ALL_ROUTING_KEYS}
        self.dead_letters: dict[str, list[DeadLetter]] = {s: [] for s in SERVICES}
        self.recorded: list[RecordedMessage] = []
        # Copies published under a NEW message_id by the dupnew nemesis: copy id -> original id.
        self.injected: dict[str, str] = {}
        self.delayed: list[tuple[int, int, SimQueue, Envelope]] = []  # a heap: (arrival tick, seq, ...)
        self._delay_seq = 0
        self.duplicates = 0

    # -- publishing --------------------------------------------------------------------------
    def publish(self, msg: Message, by: str, seq: int | None = None) -> None:
        """`seq`: the outbox row's, as the real relay's `x-outbox-seq` header carries it (None:
        not published from an outbox, e.g. publish_before_commit's direct publish)."""
        self._route(msg, by, seq, by)
        if self.injector.republish_new_id(msg.type):
            copy = replace(msg, message_id=self.new_id())
            self.injected[copy.message_id] = msg.message_id
            self.fault("dupnew", msg.type, original=msg.message_id, copy=copy.message_id)
            self._route(copy, "nemesis", seq, by)  # the real duplicator copies the headers and app_id too

    def _route(self, msg: Message, by: str, seq: int | None = None, app_id: str | None = None) -> None:
        # (time, routing_key, message_id, order_id, redelivered, causation_id, payload, outbox_seq,
        # app_id), positional: hot path
        self.recorded.append(
            RecordedMessage(
                self.clock.now(), msg.type, msg.message_id, msg.order_id, False, msg.causation_id, msg.payload, seq,
                app_id,
            )
        )
        self.log.emit(f"publish {by} {msg.type} {msg.message_id} {msg.order_id}")
        for queue in self.routes[msg.type]:
            self._enqueue(queue, Envelope(msg))

    def _enqueue(self, queue: SimQueue, envelope: Envelope) -> None:
        steps = self.injector.delay_steps(envelope.message.type)
        if not steps:
            queue.ready.append(envelope)
            return
        self._delay_seq += 1
        heapq.heappush(self.delayed, (self.clock.tick + steps, self._delay_seq, queue, envelope))
        self.fault("delay", envelope.message.type, message_id=envelope.message.message_id, steps=steps)

    # -- delayed copies ----------------------------------------------------------------------
    def release_due(self) -> None:
        while self.delayed and self.delayed[0][0] <= self.clock.tick:
            _, _, queue, envelope = heapq.heappop(self.delayed)
            queue.ready.append(envelope)
            self.log.emit(f"arrive {queue.name} {envelope.message.message_id}")

    def next_release(self) -> int | None:
        return self.delayed[0][0] if self.delayed else None

    # -- consuming ---------------------------------------------------------------------------
    def has_work(self, service: str) -> bool:
        queue = self.queues[service]
        return bool(queue.ready) or len(queue.unacked) > queue.taken

    def next_delivery(self, service: str, prefetch: int) -> Envelope | None:
        """Fill the consumer's prefetch window, then hand it the oldest delivery not yet started."""
        queue = self.queues[service]
        ready, unacked, injector = queue.ready, queue.unacked, self.injector
        while ready and len(unacked) < prefetch:
            pick = injector.reorder_pick(len(ready))
            if pick:
                envelope = ready[pick]
                del ready[pick]
            else:
                envelope = ready.popleft()
            unacked.append(envelope)
            if injector.duplicate(envelope.message.type):
                self.duplicates += 1
                self.fault("duplicate", envelope.message.type, message_id=envelope.message.message_id)
                self._enqueue(queue, Envelope(envelope.message, redelivered=True))
        for envelope in unacked:  # in the correct system, the first one: handlers finish in one step
            if not envelope.taken:
                envelope.taken = True
                queue.taken += 1
                return envelope
        return None

    def ack(self, service: str, envelope: Envelope) -> None:
        queue = self.queues[service]
        unacked = queue.unacked
        if unacked and unacked[0] is envelope:
            unacked.popleft()
        else:
            unacked.remove(envelope)
        if envelope.taken:
            envelope.taken = False
            queue.taken -= 1

    def nack_requeue(self, service: str, envelope: Envelope) -> None:
        self.ack(service, envelope)
        envelope.redelivered = True
        envelope.failures += 1
        self.queues[service].ready.appendleft(envelope)

    def dead_letter(self, service: str, envelope: Envelope, reason: str) -> None:
        self.ack(service, envelope)
        msg = envelope.message
        self.dead_letters[service].append(
            DeadLetter(dead_letter_queue_name(service), msg.type, msg.message_id, reason, msg.order_id)
        )
        self.log.emit(f"dead-letter {service} {msg.type} {msg.message_id} {reason}")

    def consumer_died(self, service: str) -> int:
        """The connection is gone: every unacked delivery goes back to the head of the queue."""
        queue = self.queues[service]
        count = len(queue.unacked)
        while queue.unacked:
            envelope = queue.unacked.pop()
            envelope.redelivered, envelope.taken = True, False
            queue.ready.appendleft(envelope)
        queue.taken = 0
        return count

    # -- reading -----------------------------------------------------------------------------
    def busy(self) -> bool:
        return bool(self.delayed) or any(q.ready or q.unacked for q in self.queues.values())

    def depths(self) -> dict[str, int]:
        """Messages ready + unacked per queue, work queues and DLQs, as the management API counts."""
        depths: dict[str, int] = {}
        in_delay: dict[str, int] = {}
        for _, _, queue, _ in self.delayed:
            in_delay[queue.name] = in_delay.get(queue.name, 0) + 1
        for service, queue in self.queues.items():
            depths[queue.name] = len(queue.ready) + len(queue.unacked) + in_delay.get(queue.name, 0)
            depths[dead_letter_queue_name(service)] = len(self.dead_letters[service])
        return depths

    def fault(self, kind: str, target: str, **detail: object) -> None:
        now = self.clock.now()
        self.faults.append(FaultEvent(kind, target, now, now, detail))
        self.log.emit(f"fault {kind} {target} {' '.join(map(str, detail.values()))}")
