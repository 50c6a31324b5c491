"""The consumer's and the relay's policies as pure decisions over plain data.

Both the aio-pika runtime (runtime.py) and the simulator EXECUTE these decisions; neither
decides for itself when to ack, retry or dead-letter a message, or which outbox rows are sent.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from system.contracts import MalformedMessage, TransientFailure
from system.messaging.ports import OutboxRow, StoreUnavailable

MAX_BACKOFF_S = 2.0


@dataclass(frozen=True, slots=True)
class Ack:
    """Done: ack the delivery."""


@dataclass(frozen=True, slots=True)
class Requeue:
    """Failed, try again: nack with requeue after `delay_s` (a capped exponential backoff)."""

    delay_s: float


@dataclass(frozen=True, slots=True)
class DeadLetter:
    """Never handle it again: park it with its reason in the service's DLQ, then ack."""

    reason: str


@dataclass(frozen=True, slots=True)
class AlreadySettled:
    """Nothing to do: the delivery was acked on receipt (only a defective policy does that)."""


Decision = Ack | Requeue | DeadLetter | AlreadySettled
ACK = Ack()
ALREADY_SETTLED = AlreadySettled()

# (what went wrong: None when the message was handled, or a duplicate; the attempt number,
#  from 1; the most attempts allowed) -> what to do with the delivery.
Settle = Callable[[Exception | None, int, int], Decision]


def backoff_s(attempt: int) -> float:
    return min(0.1 * 2**attempt, MAX_BACKOFF_S)


def settle(failure: Exception | None, attempt: int, max_attempts: int) -> Decision:
    """Ack what was handled; dead-letter what can never be; retry the rest a few times."""
    if failure is None:
        return ACK
    if isinstance(failure, MalformedMessage):
        return DeadLetter(str(failure))
    if isinstance(failure, StoreUnavailable):  # not the message's fault: never dead-letter for it
        return Requeue(MAX_BACKOFF_S)
    if attempt >= max_attempts:
        return DeadLetter(f"handler failed {attempt} times: {failure!r}")
    if isinstance(failure, TransientFailure):  # the participant's own backoff (with jitter, capped)
        return Requeue(min(failure.delay_s, MAX_BACKOFF_S))
    return Requeue(backoff_s(attempt))


@dataclass(frozen=True)
class ConsumerPolicy:
    max_attempts: int = 5  # a message that keeps failing is dead-lettered after this many tries
    ack_on_receipt: bool = False  # True only in a defective policy (ack_before_commit)
    settle: Settle = settle

    def decide(self, failure: Exception | None, attempt: int) -> Decision:
        return self.settle(failure, attempt, self.max_attempts)


def attempt_number(delivery_count: int | None) -> int:
    """This delivery's attempt, from 1, given how often it was delivered before
    (a quorum queue's x-delivery-count header; the simulated envelope's failure count)."""
    return int(delivery_count or 0) + 1


# -- consumer progress (readiness) ------------------------------------------------------------
STALL_AFTER_S = 30.0


def stall_reason(
    unsettled_since: float | None, unsettled: int, last_settled: float, now: float, limit_s: float = STALL_AFTER_S
) -> str | None:
    """Why the consumer counts as stuck, or None.

    `unsettled_since`: when the oldest delivery still neither acked, requeued nor dead-lettered
    was received (None: none is); `last_settled`: when any delivery was last settled (or the
    consumer started). Stuck means deliveries wait AND nothing was settled for `limit_s`, counted
    from the later of the two: an idle service has nothing unsettled, and a slow one settles
    something (a retry's backoff is at most MAX_BACKOFF_S), so neither can turn unready.
    """
    if unsettled_since is None or unsettled == 0:
        return None
    quiet = now - max(unsettled_since, last_settled)
    if quiet < limit_s:
        return None
    return f"consumer stalled: {unsettled} deliveries received but none settled for {quiet:.0f} s"


# -- the outbox relay ------------------------------------------------------------------------
# (the rows published in one round, whether each publish was confirmed) -> the rows to mark sent.
MarkSent = Callable[[Sequence[OutboxRow], Sequence[bool]], list[OutboxRow]]


def confirmed_rows(rows: Sequence[OutboxRow], confirmed: Sequence[bool]) -> list[OutboxRow]:
    """Only what the broker confirmed; the rest stays unsent and is published again."""
    return [row for row, ok in zip(rows, confirmed, strict=True) if ok]


def relay_backoff_s(current: float, any_failed: bool) -> float:
    """The pause before the next round: doubling while publishes fail, short again after."""
    return min(current * 2, MAX_BACKOFF_S) if any_failed else 0.1


@dataclass(frozen=True)
class RelayPolicy:
    batch: int = 200  # rows per round
    to_mark: MarkSent = confirmed_rows
