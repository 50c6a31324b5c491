"""The SQLite adapter of the store port: what every service runs on (WAL, synchronous=FULL).

A message is handled in ONE transaction: the inbox row (a duplicate stops here), the state
change, and the outgoing messages in the outbox. Commit, then ack. The outbox relay publishes
afterwards and marks rows sent only when the broker confirmed them.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Protocol

from system.contracts import Message
from system.messaging.ports import MessageStore, OutboxRow, UniqueViolation

INBOX_SCHEMA = """
CREATE TABLE IF NOT EXISTS inbox (
    message_id TEXT PRIMARY KEY,
    routing_key TEXT NOT NULL,
    order_id TEXT,
    received_at TEXT NOT NULL
);
"""  # the same DDL in PostgreSQL
COMMON_SCHEMA = INBOX_SCHEMA + """
CREATE TABLE IF NOT EXISTS outbox (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    message_id TEXT NOT NULL UNIQUE,
    routing_key TEXT NOT NULL,
    order_id TEXT NOT NULL,
    body BLOB NOT NULL,
    created_at TEXT NOT NULL,
    sent_at TEXT
);
CREATE INDEX IF NOT EXISTS outbox_unsent ON outbox (seq) WHERE sent_at IS NULL;
"""


class SqlConnection(Protocol):
    """What a service's table functions use of a connection: sqlite3's, or the PostgreSQL
    adapter's (system/stores/postgres.py), which takes the same `?` placeholders. Rows are read by
    column name (`row["status"]`, `dict(row)`), which both give."""

    def execute(self, sql: str, parameters: Any = ..., /) -> Any: ...

    def executemany(self, sql: str, parameters: Any, /) -> Any: ...


class SqlStore(MessageStore, Protocol):
    """A SQL adapter of the store port (SQLite's or PostgreSQL's): also its connection, which
    the services' read routes and the order book use, and close."""

    @property
    def conn(self) -> Any: ...

    def close(self) -> None: ...


@dataclass(frozen=True)
class SqlTables:
    """A service's own tables: their schema and how its state is read and written.

    The statements are shared by both SQL adapters; only the DDL differs (`postgres_schema`),
    and where PostgreSQL must lock what it reads (`postgres_load`: SQLite's BEGIN IMMEDIATE
    already serialises every writer, concurrent replicas on PostgreSQL need FOR UPDATE).
    """

    schema: str
    load: Callable[[SqlConnection, Message], Any]
    save: Callable[[SqlConnection, Any], None]
    insert: Callable[[SqlConnection, Any], None] | None = None  # a new aggregate (orders)
    initialise: Callable[[sqlite3.Connection], None] | None = None  # seed rows (stock), old columns
    postgres_schema: str = ""  # the same tables in PostgreSQL's DDL
    postgres_load: Callable[[SqlConnection, Message], Any] | None = None  # None: `load`
    postgres_initialise: Callable[[SqlConnection], None] | None = None  # None: nothing to seed


def utc_now() -> str:
    return datetime.now(UTC).isoformat(timespec="microseconds").replace("+00:00", "Z")


def open_database(path: Path, tables: SqlTables) -> sqlite3.Connection:
    """One connection per service process; autocommit mode so transactions are explicit."""
    path.parent.mkdir(parents=True, exist_ok=True)
    conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False, timeout=10)
    conn.row_factory = sqlite3.Row
    conn.execute("PRAGMA journal_mode=WAL")
    # FULL: a commit survives power loss, not only a process crash (which NORMAL already does).
    conn.execute("PRAGMA synchronous=FULL")
    conn.executescript(COMMON_SCHEMA + tables.schema)
    if tables.initialise:
        tables.initialise(conn)
    return conn


@contextmanager
def transaction(conn: sqlite3.Connection) -> Iterator[sqlite3.Connection]:
    """One transaction; inside a group commit (`commit_group`), a savepoint of the group's."""
    if conn.in_transaction:
        with _savepoint(conn):
            yield conn
        return
    conn.execute("BEGIN IMMEDIATE")
    try:
        yield conn
    except BaseException:
        if conn.in_transaction:  # SQLite may have rolled it back itself (an I/O error)
            conn.execute("ROLLBACK")
        raise
    conn.execute("COMMIT")


@contextmanager
def _savepoint(conn: sqlite3.Connection) -> Iterator[None]:
    conn.execute("SAVEPOINT one_call")
    try:
        yield
    except BaseException:
        if conn.in_transaction:
            conn.execute("ROLLBACK TO one_call")
            conn.execute("RELEASE one_call")
        raise
    conn.execute("RELEASE one_call")


class GroupLost(Exception):
    """SQLite rolled a group commit's transaction back by itself (an I/O error, a full disk):
    every call in the group is undone, none is committed."""


def commit_group(conn: sqlite3.Connection, calls: Sequence[Callable[[], Any]]) -> list[Any]:
    """Several transactions (system/stores/threads.py `commit`) in ONE SQLite transaction, each
    call a savepoint: one fsync for all of them instead of one each. A call that raises undoes
    only its own savepoint and gets its exception back; the others commit. If the group's
    COMMIT fails, or SQLite drops the transaction midway, every call gets that error: nothing
    of the group is committed, so none of its messages may be acked."""
    results: list[Any] = []
    conn.execute("BEGIN IMMEDIATE")
    try:
        for call in calls:
            try:
                results.append(call())
            except Exception as exc:  # noqa: BLE001 - this call's own failure, handed back to it
                results.append(exc)
            if not conn.in_transaction:
                raise GroupLost("SQLite rolled the group's transaction back") from (
                    results[-1] if isinstance(results[-1], Exception) else None)
        conn.execute("COMMIT")
    except Exception as exc:  # noqa: BLE001 - every call of the group fails with it
        if conn.in_transaction:
            conn.execute("ROLLBACK")
        return [exc] * len(calls)
    return results


def enqueue(conn: SqlConnection, messages: Sequence[Message], now: str) -> None:
    # DO NOTHING: a message id already in the outbox is the same message (ids derive from causes).
    conn.executemany(
        "INSERT INTO outbox (message_id, routing_key, order_id, body, created_at)"
        " VALUES (?,?,?,?,?) ON CONFLICT DO NOTHING",
        [(m.message_id, m.type, m.order_id, m.to_json(), now) for m in messages],
    )


def outbox_backlog(conn: SqlConnection) -> int:
    return int(conn.execute("SELECT COUNT(*) AS n FROM outbox WHERE sent_at IS NULL").fetchone()["n"])


class SqlTransaction:
    """One transaction of either SQL adapter: the statements are the same on both (a second
    replica inserting the same inbox key on PostgreSQL waits for the first, then finds it)."""

    def __init__(self, conn: SqlConnection, tables: SqlTables, load: Callable[[SqlConnection, Message], Any]) -> None:
        self.conn = conn
        self.tables = tables
        self._load = load

    def claim_inbox(self, msg: Message, now: str) -> bool:
        cursor = self.conn.execute(
            "INSERT INTO inbox (message_id, routing_key, order_id, received_at) VALUES (?,?,?,?)"
            " ON CONFLICT DO NOTHING",
            (msg.message_id, msg.type, msg.order_id, now),
        )
        return bool(cursor.rowcount == 1)

    def load(self, msg: Message) -> Any:
        return self._load(self.conn, msg)

    def save(self, state: Any) -> None:
        self.tables.save(self.conn, state)

    def enqueue(self, messages: Sequence[Message], now: str) -> None:
        enqueue(self.conn, messages, now)


class SqliteStore:
    """The store port over one SQLite connection (the service process owns it)."""

    def __init__(self, conn: sqlite3.Connection, tables: SqlTables) -> None:
        self.conn = conn
        self.tables = tables

    @classmethod
    def open(cls, path: Path, tables: SqlTables) -> SqliteStore:
        return cls(open_database(path, tables), tables)

    @contextmanager
    def transaction(self) -> Iterator[SqlTransaction]:
        with transaction(self.conn):
            yield SqlTransaction(self.conn, self.tables, self.tables.load)

    def insert_and_enqueue(self, state: Any, messages: Sequence[Message], now: str) -> None:
        if self.tables.insert is None:
            raise TypeError("this service's tables take no inserts")
        try:
            with transaction(self.conn):
                self.tables.insert(self.conn, state)
                enqueue(self.conn, messages, now)
        except sqlite3.IntegrityError as exc:
            raise UniqueViolation(str(exc)) from exc

    def unsent(self, limit: int) -> list[OutboxRow]:
        rows = self.conn.execute(
            "SELECT seq, body FROM outbox WHERE sent_at IS NULL ORDER BY seq LIMIT ?", (limit,)
        ).fetchall()
        return [OutboxRow(r["seq"], Message(**json.loads(r["body"]))) for r in rows]

    def mark_sent(self, rows: Sequence[OutboxRow], now: str) -> None:
        with transaction(self.conn):
            self.conn.executemany("UPDATE outbox SET sent_at = ? WHERE seq = ?", [(now, r.seq) for r in rows])

    def backlog(self) -> int:
        return outbox_backlog(self.conn)

    def close(self) -> None:
        self.conn.close()
