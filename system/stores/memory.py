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


class MemoryTransaction:
    __slots__ = ("_store", "claimed", "state", "messages", "load")

    def __init__(self, store: MemoryStore[Any]) -> None:
        self._store = store
        self.claimed: str | None = None
        self.state: Any = _NOTHING
        self.messages: Sequence[Message] = ()
        # Reads go straight to the committed tables (a transaction never reads its own writes).
        self.load: Callable[[Message], Any] = store.tables.load

    def claim_inbox(self, msg: Message, now: str) -> bool:
        self.claimed = msg.message_id
        return msg.message_id not in self._store.inbox

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
        self._store._open = False
        if kind is not None:
            return  # rolled back: the buffers are simply dropped
        store = self._store
        if state is not _NOTHING:
            store.tables.save(state)  # first: a refused write raises before anything changed
        if claimed is not None:
            store.inbox.add(claimed)
        if messages:
            store.enqueue(messages)


class MemoryStore(Generic[T]):
    """The store port over a service's in-memory tables, plus its inbox and outbox."""

    def __init__(self, tables: T) -> None:
        self.tables = tables
        self.inbox: set[str] = set()
        self.outbox: list[OutboxRow] = []
        self._sent: list[bool] = []
        self._outbox_ids: set[str] = set()
        self._first_unsent = 0  # every row before it is sent
        self.unsent_rows = 0  # backlog(), also as a plain attribute for the simulator's scheduler
        self._open = False
        self._tx = MemoryTransaction(self)

    def transaction(self) -> MemoryTransaction:
        if self._open:
            raise RuntimeError("a transaction is already open on this store")
        self._open = True
        return self._tx

    def insert_and_enqueue(self, state: Any, messages: Sequence[Message], now: str) -> None:
        self.tables.insert(state)  # raises before anything changed when the key is taken
        self.enqueue(messages)

    def enqueue(self, messages: Sequence[Message]) -> None:
        outbox, ids, sent = self.outbox, self._outbox_ids, self._sent
        for m in messages:
            # INSERT OR IGNORE: an id already in the outbox is the same message.
            if m.message_id not in ids:
                ids.add(m.message_id)
                outbox.append(OutboxRow(len(outbox) + 1, m))
                sent.append(False)
                self.unsent_rows += 1

    def unsent(self, limit: int) -> list[OutboxRow]:
        first = self._first_unsent
        if self.unsent_rows == len(self.outbox) - first:  # no row after the first unsent one is sent
            return self.outbox[first : first + limit]
        sent = self._sent
        rows = (r for r in islice(self.outbox, first, None) if not sent[r.seq - 1])
        return list(islice(rows, limit))

    def mark_sent(self, rows: Sequence[OutboxRow], now: str) -> None:
        sent = self._sent
        for row in rows:
            if not sent[row.seq - 1]:
                sent[row.seq - 1] = True
                self.unsent_rows -= 1
        first, end = self._first_unsent, len(sent)
        while first < end and sent[first]:
            first += 1
        self._first_unsent = first

    def backlog(self) -> int:
        return self.unsent_rows
