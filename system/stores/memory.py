"""The in-memory adapter of the store port: the simulator's stores, and fast tests'.

Same semantics as the SQLite adapter, as plain Python objects. Writes are buffered and applied
only when the transaction commits, so a transaction that raises (or a crash point inside it)
leaves nothing behind. One transaction at a time: the simulator is single-threaded, and the
transaction object is reused (this is the simulator's hot path).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from itertools import islice
from types import TracebackType
from typing import Any, Generic, Protocol, TypeVar

from system.contracts import Message
from system.messaging.ports import OutboxRow


class MemoryTables(Protocol):
    """A service's own tables in memory: the same rows and upserts as its SQLite store."""

    def load(self, msg: Message) -> Any: ...

    def save(self, state: Any) -> None:
        """Apply a committed state; raise UniqueViolation (before changing anything) if refused."""
        ...

    def insert(self, state: Any) -> None:
        """A new aggregate (orders only); UniqueViolation before changing anything if refused."""
        ...


T = TypeVar("T", bound=MemoryTables)

_NOTHING = object()


class Outbox:
    """The outbox table: rows in seq order, which are sent, and how many are not."""

    __slots__ = ("rows", "sent", "ids", "first_unsent", "unsent")

    def __init__(self) -> None:
        self.rows: list[OutboxRow] = []
        self.sent: list[bool] = []  # by seq - 1
        self.ids: set[str] = set()
        self.first_unsent = 0  # every row before it is sent
        self.unsent = 0  # the backlog, a plain attribute the simulator's scheduler reads

    def append(self, messages: Sequence[Message]) -> None:
        rows, ids, sent = self.rows, self.ids, self.sent
        for m in messages:
            # INSERT OR IGNORE: an id already in the outbox is the same message.
            if m.message_id not in ids:
                ids.add(m.message_id)
                rows.append(OutboxRow(len(rows) + 1, m))
                sent.append(False)
                self.unsent += 1


class MemoryTransaction:
    """The one open transaction of a MemoryStore (reused: one at a time). It holds what it
    writes to, not the store, so a store and its contents are freed as soon as they are unused
    (no reference cycle for the cyclic collector to find)."""

    __slots__ = ("_inbox", "_tables", "_outbox", "open", "claimed", "state", "messages", "load")

    def __init__(self, inbox: set[str], tables: MemoryTables, outbox: Outbox) -> None:
        self._inbox, self._tables, self._outbox = inbox, tables, outbox
        self.open = False
        self.claimed: str | None = None
        self.state: Any = _NOTHING
        self.messages: Sequence[Message] = ()
        # Reads go straight to the committed tables (a transaction never reads its own writes).
        self.load: Callable[[Message], Any] = tables.load

    def claim_inbox(self, msg: Message, now: str) -> bool:
        self.claimed = msg.message_id
        return msg.message_id not in self._inbox

    def save(self, state: Any) -> None:
        self.state = state

    def enqueue(self, messages: Sequence[Message], now: str) -> None:
        self.messages = messages

    def __enter__(self) -> MemoryTransaction:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        claimed, state, messages = self.claimed, self.state, self.messages
        self.claimed, self.state, self.messages = None, _NOTHING, ()
        self.open = False
        if kind is not None:
            return  # rolled back: the buffers are simply dropped
        if state is not _NOTHING:
            self._tables.save(state)  # first: a refused write raises before anything changed
        if claimed is not None:
            self._inbox.add(claimed)
        if messages:
            self._outbox.append(messages)


class MemoryStore(Generic[T]):
    """The store port over a service's in-memory tables, plus its inbox and outbox."""

    def __init__(self, tables: T) -> None:
        self.tables = tables
        self.inbox: set[str] = set()
        self.outbox = Outbox()
        self._tx = MemoryTransaction(self.inbox, tables, self.outbox)

    def transaction(self) -> MemoryTransaction:
        tx = self._tx
        if tx.open:
            raise RuntimeError("a transaction is already open on this store")
        tx.open = True
        return tx

    def insert_and_enqueue(self, state: Any, messages: Sequence[Message], now: str) -> None:
        self.tables.insert(state)  # raises before anything changed when the key is taken
        self.outbox.append(messages)

    def unsent(self, limit: int) -> list[OutboxRow]:
        outbox = self.outbox
        rows, first = outbox.rows, outbox.first_unsent
        if outbox.unsent == len(rows) - first:  # no row after the first unsent one is sent
            return rows[first : first + limit]
        sent = outbox.sent
        unsent = (r for r in islice(rows, first, None) if not sent[r.seq - 1])
        return list(islice(unsent, limit))

    def mark_sent(self, rows: Sequence[OutboxRow], now: str) -> None:
        outbox = self.outbox
        sent = outbox.sent
        for row in rows:
            if not sent[row.seq - 1]:
                sent[row.seq - 1] = True
                outbox.unsent -= 1
        first, end = outbox.first_unsent, len(sent)
        while first < end and sent[first]:
            first += 1
        outbox.first_unsent = first

    def backlog(self) -> int:
        return self.outbox.unsent
