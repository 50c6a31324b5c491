"""The ports of the messaging core: what it needs from a store, and from fault injection.

The core (handling.py, policy.py) sees only these; system/stores/ holds the adapters (SQLite for
the services, in-memory for the simulator and fast tests). Nothing here names a database, so a
PostgreSQL adapter is one more class with these methods.
"""

from __future__ import annotations

from collections.abc import Sequence
from contextlib import AbstractContextManager
from typing import Any, NamedTuple, Protocol

from system.contracts import Message


class UniqueViolation(Exception):
    """A write refused because a unique key (e.g. an Idempotency-Key) is already taken."""


class StoreUnavailable(Exception):
    """The store cannot be reached (a database across the network); nothing was changed by the
    operation that raised. The caller retries later; the message was not handled."""


class OutboxRow(NamedTuple):  # a tuple: the simulator makes one per message it sends
    """A message waiting in the outbox; `seq` orders the rows and names one to mark sent."""

    seq: int
    message: Message


class StoreTransaction(Protocol):
    """One open transaction of one service: everything in it commits together or not at all."""

    def claim_inbox(self, msg: Message, now: str) -> bool:
        """Record that `msg` is being handled; False if it was handled before (a duplicate)."""
        ...

    def load(self, msg: Message) -> Any:
        """The slice of the service's state that `msg` concerns (what its domain handler takes)."""
        ...

    def save(self, state: Any) -> None: ...

    def enqueue(self, messages: Sequence[Message], now: str) -> None:
        """Outbox rows; an id already in the outbox is the same message and is ignored."""
        ...


class MessageStore(Protocol):
    def transaction(self) -> AbstractContextManager[StoreTransaction]: ...

    def insert_and_enqueue(self, state: Any, messages: Sequence[Message], now: str) -> None:
        """A new aggregate and its first messages, one transaction; UniqueViolation if taken."""
        ...

    def unsent(self, limit: int) -> list[OutboxRow]:
        """The oldest rows not marked sent yet, at most `limit`. A store shared by replicas
        hands each row to one relay at a time (PostgreSQL: a lease taken with SKIP LOCKED)."""
        ...

    def mark_sent(self, rows: Sequence[OutboxRow], now: str) -> None: ...

    def backlog(self) -> int:
        """How many outbox rows are not marked sent."""
        ...


class TransactionHooks(Protocol):
    """Fault injection inside a transaction, just before its commit.

    It may raise (a transient handler fault: the transaction rolls back and the consumer policy
    retries) or end the process (a crash point). The correct system's hooks do nothing unless
    the chaos surface armed them.
    """

    def before_commit(self, msg: Message) -> None: ...
