"""Opt-in defects of the messaging shell, as wrappers around the store, the handling and the
policies (see system/defects.py). The correct core never looks at a defect."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import replace
from typing import Any

from system.contracts import HandlerContext, MalformedMessage, Message, Outcome
from system.messaging.handling import Handler, Handling, handle_message
from system.messaging.policy import (
    ACK,
    ALREADY_SETTLED,
    ConsumerPolicy,
    Decision,
    RelayPolicy,
)
from system.messaging.ports import MessageStore, OutboxRow, StoreTransaction, TransactionHooks


class _TransactionWrapper:
    def __init__(self, tx: StoreTransaction, *, dedup: bool, outbox: bool) -> None:
        self.tx, self.dedup, self.outbox = tx, dedup, outbox

    def claim_inbox(self, msg: Message, now: str) -> bool:
        first_time = self.tx.claim_inbox(msg, now)  # the row is still written
        return first_time or not self.dedup

    def load(self, msg: Message) -> Any:
        return self.tx.load(msg)

    def save(self, state: Any) -> None:
        self.tx.save(state)

    def enqueue(self, messages: Sequence[Message], now: str) -> None:
        if self.outbox:
            self.tx.enqueue(messages, now)


class _StoreWrapper:
    """A store whose transactions ignore what the inbox says, or write no outbox rows."""

    def __init__(self, store: MessageStore, *, dedup: bool = True, outbox: bool = True) -> None:
        self.store, self.dedup, self.outbox = store, dedup, outbox

    @contextmanager
    def transaction(self) -> Iterator[StoreTransaction]:
        with self.store.transaction() as tx:
            yield _TransactionWrapper(tx, dedup=self.dedup, outbox=self.outbox)

    def insert_and_enqueue(self, state: Any, messages: Sequence[Message], now: str) -> None:
        self.store.insert_and_enqueue(state, messages, now)

    def unsent(self, limit: int) -> list[OutboxRow]:
        return self.store.unsent(limit)

    def mark_sent(self, rows: Sequence[OutboxRow], now: str) -> None:
        self.store.mark_sent(rows, now)

    def backlog(self) -> int:
        return self.store.backlog()


def without_inbox_dedup(store: MessageStore) -> MessageStore:
    """no_inbox_dedup: the inbox row is written, but a duplicate is handled again."""
    return _StoreWrapper(store, dedup=False)


def publishing_before_commit(
    store: MessageStore, decide: Handler, hooks: TransactionHooks, new_id: Callable[[], str]
) -> Handling:
    """publish_before_commit: decide, publish the replies at once under fresh ids, THEN commit
    the state (and no outbox rows)."""
    no_outbox = _StoreWrapper(store, outbox=False)

    def publish_first(msg: Message, ctx: HandlerContext) -> tuple[Message, ...]:
        with store.transaction() as tx:  # a read: it claims and writes nothing
            decided = decide(tx.load(msg), msg, ctx)
        return tuple(replace(m, message_id=new_id()) for m in decided.messages)

    def commit(msg: Message, ctx: HandlerContext) -> Outcome | None:
        return handle_message(no_outbox, decide, msg, ctx, hooks=hooks)

    return Handling(commit, publish_first)


def acking_on_receipt(policy: ConsumerPolicy) -> ConsumerPolicy:
    """ack_before_commit: ack as soon as a message is parsed; whatever happens next, it is gone."""
    base = policy.settle

    def settle(failure: Exception | None, attempt: int, max_attempts: int) -> Decision:
        if isinstance(failure, MalformedMessage):
            return base(failure, attempt, max_attempts)  # refused before the early ack
        return ALREADY_SETTLED

    return replace(policy, ack_on_receipt=True, settle=settle)


def acking_and_dropping_on_error(policy: ConsumerPolicy) -> ConsumerPolicy:
    """ack_and_drop_on_handler_error: a message whose handler raised is acked: no retry, no DLQ."""
    base = policy.settle

    def settle(failure: Exception | None, attempt: int, max_attempts: int) -> Decision:
        if failure is not None and not isinstance(failure, MalformedMessage):
            return ACK
        return base(failure, attempt, max_attempts)

    return replace(policy, settle=settle)


def marking_unconfirmed_sent(relay: RelayPolicy) -> RelayPolicy:
    """relay_marks_unconfirmed_sent: every published row is marked sent, confirmed or not."""

    def to_mark(rows: Sequence[OutboxRow], confirmed: Sequence[bool]) -> list[OutboxRow]:
        return list(rows)

    return replace(relay, to_mark=to_mark)
