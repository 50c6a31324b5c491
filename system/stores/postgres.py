"""The PostgreSQL adapter of the store port (`SAGA_STORE=postgresql://...`): several replicas of
a service share one schema, and the database, not luck, keeps them from stepping on each other.

- Inbox: `message_id` is the primary key and the claim is `INSERT ... ON CONFLICT DO NOTHING`.
  A second replica claiming the same message waits on the first one's uncommitted row, then
  finds it (a duplicate) or, if the first rolled back (a crash), claims it itself.
- State: before a message's state is read, a transaction-scoped advisory lock on (service,
  order_id) is taken, so two replicas handling messages of the same order (a copy under a new
  id, a late reply) run one after the other even when the row does not exist yet; rows several
  orders share (inventory's stock) are read `FOR UPDATE` (`SqlTables.postgres_load`).
- Outbox relay: `unsent` leases rows to this process (`leased_by`, `lease_until`) in one
  UPDATE over a `FOR UPDATE SKIP LOCKED` sub-select, so concurrent relays take disjoint rows and
  never wait on each other; a relay that dies leaves its lease to expire (LEASE), and another
  replica publishes the rows again under the same message_id, which the receivers' inboxes absorb.
- `seq` is a BIGSERIAL: allocation order. Transactions that lock the same stock row allocate
  their outbox seqs after the lock, so per product seq order is commit order, which is what the
  checker's replay of inventory's replies (`x-outbox-seq`) needs.

A schema per service (`saga_<service>`), created with its tables by the service at start, under
an advisory lock so replicas starting together do not race on the DDL. Statements are the
SQLite adapter's (`?` placeholders are rewritten once per statement text); only the DDL differs.
The driver is synchronous; its calls run on the service's store threads (system/stores/threads.py),
each with its own connection, never on the event loop.
"""

from __future__ import annotations

import json
import os
import random
import re
import threading
import time
import uuid
import zlib
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any
from urllib.parse import quote, unquote, urlsplit

import psycopg
from psycopg.rows import dict_row

from system.contracts import Message
from system.messaging.ports import OutboxRow, StoreUnavailable, UniqueViolation
from system.stores.sqlite import INBOX_SCHEMA, SqlTables, SqlTransaction, enqueue, outbox_backlog
from system.urls import redact_url

COMMON_SCHEMA = INBOX_SCHEMA + """
CREATE TABLE IF NOT EXISTS outbox (
    seq BIGSERIAL PRIMARY KEY,
    message_id TEXT NOT NULL UNIQUE,
    routing_key TEXT NOT NULL,
    order_id TEXT NOT NULL,
    body BYTEA NOT NULL,
    created_at TEXT NOT NULL,
    sent_at TEXT,
    leased_by TEXT,
    lease_until TIMESTAMPTZ
);
CREATE INDEX IF NOT EXISTS outbox_unsent ON outbox (seq) WHERE sent_at IS NULL;
"""

LEASE_S = 15  # longer than a publish may take (its confirm timeout is 10 s)
SCHEMA_LOCK = 0x5A6A  # the advisory lock held while a schema is created
SCHEMA_LOCK_WAIT_MS = 200  # a start's longest wait for a table or row lock (create_schema)
SCHEMA_RETRY_S = 60.0  # how long a start keeps giving way before it fails
_IDENTIFIER = re.compile(r"^[a-z_][a-z0-9_]{0,62}$")


def is_postgres_url(url: str | None) -> bool:
    return bool(url) and str(url).startswith(("postgresql://", "postgres://"))


def schema_name(service: str) -> str:
    return f"saga_{service}"


def connect(url: str, *, timeout: int = 2) -> psycopg.Connection[dict[str, Any]]:
    """One autocommit connection (transactions are explicit) with short timeouts: a database
    behind a cut link raises within seconds instead of holding a store thread for minutes."""
    return psycopg.connect(
        url, autocommit=True, row_factory=dict_row, connect_timeout=timeout,
        keepalives=1, keepalives_idle=5, keepalives_interval=2, keepalives_count=2,
        tcp_user_timeout=10_000,
    )


class PgConnection:
    """A psycopg connection per thread that takes the SQLite adapter's statements, reconnects
    between transactions after a lost link, and says StoreUnavailable when the database cannot
    be reached. One per thread: a service's store calls run on several threads at once
    (system/stores/threads.py), and a transaction is a connection's, so each thread has its own."""

    def __init__(self, url: str, schema: str) -> None:
        if not _IDENTIFIER.match(schema):
            raise ValueError(f"not a plain schema name: {schema!r}")
        self.url, self.schema = url, schema
        self._local = threading.local()  # .conn, .in_transaction: this thread's
        self._opened: list[psycopg.Connection[dict[str, Any]]] = []  # every thread's, to close
        self._lock = threading.Lock()
        self._statements: dict[str, str] = {}

    def _connection(self) -> psycopg.Connection[dict[str, Any]]:
        conn: psycopg.Connection[dict[str, Any]] | None = getattr(self._local, "conn", None)
        if conn is None or conn.closed or conn.broken:
            if getattr(self._local, "in_transaction", False):
                raise StoreUnavailable("the database connection was lost inside a transaction")
            try:
                conn = connect(self.url)
                conn.execute(f'SET search_path TO "{self.schema}"')
            except psycopg.OperationalError as exc:
                raise StoreUnavailable(f"PostgreSQL unreachable: {exc}".strip()) from None
            self._local.conn = conn
            with self._lock:
                self._opened = [c for c in self._opened if not c.closed] + [conn]
        return conn

    def _statement(self, sql: str) -> str:
        statement = self._statements.get(sql)
        if statement is None:  # our statements hold no literal ? or %
            statement = self._statements[sql] = sql.replace("%", "%%").replace("?", "%s")
        return statement

    def _unavailable(self, exc: psycopg.OperationalError) -> Exception:
        conn = getattr(self._local, "conn", None)
        if conn is None or conn.closed or conn.broken:
            return StoreUnavailable(f"PostgreSQL connection lost: {exc}".strip())
        return exc

    def execute(self, sql: str, parameters: Any = None, /) -> psycopg.Cursor[dict[str, Any]]:
        conn = self._connection()
        try:
            if parameters is None:  # DDL: several statements, no placeholders
                return conn.execute(sql.encode())
            return conn.execute(self._statement(sql), parameters)
        except psycopg.OperationalError as exc:
            raise self._unavailable(exc) from exc

    def executemany(self, sql: str, parameters: Any, /) -> psycopg.Cursor[dict[str, Any]]:
        cursor = self._connection().cursor()
        try:
            cursor.executemany(self._statement(sql), parameters)
        except psycopg.OperationalError as exc:
            raise self._unavailable(exc) from exc
        return cursor

    @contextmanager
    def transaction(self) -> Iterator[PgConnection]:
        conn = self._connection()
        self._local.in_transaction = True
        try:
            with conn.transaction():
                yield self
        except psycopg.OperationalError as exc:
            raise self._unavailable(exc) from exc
        finally:
            self._local.in_transaction = False

    def close(self) -> None:
        """Close every thread's connection (the threads are done: StoreThreads.close)."""
        with self._lock:
            opened, self._opened = self._opened, []
        for conn in opened:
            conn.close()


def create_schema(conn: PgConnection, tables: SqlTables) -> None:
    """The service's schema and tables, and its seed rows; idempotent, one replica at a time.

    Its statements lock tables even when there is nothing to create (CREATE INDEX IF NOT EXISTS
    holds a SHARE lock on the outbox till commit, ALTER TABLE an exclusive one) and the seed
    waits for a row a sibling is updating: a replica restarted beside busy siblings would
    deadlock with them, and the database would abort one side, its start or a sibling's message.
    So every wait is bounded below deadlock_timeout (1 s by default) and the start gives way:
    it rolls back, releasing what it held, and tries again."""
    deadline = time.monotonic() + SCHEMA_RETRY_S
    while True:
        try:
            with conn.transaction():
                conn.execute("SELECT pg_advisory_xact_lock(?)", (SCHEMA_LOCK,))  # waits its turn, unbounded
                conn.execute(f"SET LOCAL lock_timeout = '{SCHEMA_LOCK_WAIT_MS}ms'")
                conn.execute(f'CREATE SCHEMA IF NOT EXISTS "{conn.schema}"')
                conn.execute(f'SET search_path TO "{conn.schema}"')
                conn.execute(COMMON_SCHEMA + tables.postgres_schema)
                if tables.postgres_initialise:
                    tables.postgres_initialise(conn)
            return
        except (psycopg.errors.LockNotAvailable, psycopg.errors.DeadlockDetected):
            if time.monotonic() > deadline:
                raise
            time.sleep(random.uniform(0.05, 0.2))  # apart from a sibling restarted at the same moment


class PgTransaction(SqlTransaction):
    def __init__(self, conn: PgConnection, tables: SqlTables, lock_space: int) -> None:
        super().__init__(conn, tables, tables.postgres_load or tables.load)
        self.lock_space = lock_space

    def load(self, msg: Message) -> Any:
        # Held until commit: every message of this order, on any replica, waits its turn.
        self.conn.execute("SELECT pg_advisory_xact_lock(?, hashtext(?))", (self.lock_space, msg.order_id))
        return super().load(msg)


class PgStore:
    """The store port over one service's schema, shared by all its replicas."""

    def __init__(self, conn: PgConnection, tables: SqlTables) -> None:
        self.conn = conn
        self.tables = tables
        self.owner = f"{os.getpid()}-{uuid.uuid4().hex[:8]}"  # this relay's name on its leases
        self.lock_space = zlib.crc32(conn.schema.encode()) & 0x7FFFFFFF

    @classmethod
    def open(cls, url: str, schema: str, tables: SqlTables) -> PgStore:
        conn = PgConnection(url, schema)
        create_schema(conn, tables)
        return cls(conn, tables)

    @contextmanager
    def transaction(self) -> Iterator[PgTransaction]:
        with self.conn.transaction():
            yield PgTransaction(self.conn, self.tables, self.lock_space)

    def insert_and_enqueue(self, state: Any, messages: Sequence[Message], now: str) -> None:
        if self.tables.insert is None:
            raise TypeError("this service's tables take no inserts")
        try:
            with self.conn.transaction():
                self.tables.insert(self.conn, state)
                enqueue(self.conn, messages, now)
        except psycopg.errors.UniqueViolation as exc:
            raise UniqueViolation(str(exc)) from exc

    def unsent(self, limit: int) -> list[OutboxRow]:
        """Lease up to `limit` of the oldest unsent rows that no other live relay holds (ours
        again included: a row whose publish failed is retried at once, as with SQLite)."""
        rows = self.conn.execute(
            "UPDATE outbox SET leased_by = ?, lease_until = now() + ? * interval '1 second'"
            " WHERE seq IN (SELECT seq FROM outbox WHERE sent_at IS NULL"
            "   AND (lease_until IS NULL OR lease_until < now() OR leased_by = ?)"
            "   ORDER BY seq LIMIT ? FOR UPDATE SKIP LOCKED)"
            " RETURNING seq, body",
            (self.owner, LEASE_S, self.owner, limit),
        ).fetchall()
        rows.sort(key=lambda r: r["seq"])
        return [OutboxRow(r["seq"], Message(**json.loads(r["body"]))) for r in rows]

    def mark_sent(self, rows: Sequence[OutboxRow], now: str) -> None:
        self.conn.execute(
            "UPDATE outbox SET sent_at = ?, leased_by = NULL, lease_until = NULL WHERE seq = ANY(?)",
            (now, [r.seq for r in rows]),
        )

    def backlog(self) -> int:
        return outbox_backlog(self.conn)

    def close(self) -> None:
        self.conn.close()


def drop_schema(url: str, schema: str) -> None:
    """Remove a schema and everything in it (tests, fresh instances)."""
    if not _IDENTIFIER.match(schema):
        raise ValueError(f"not a plain schema name: {schema!r}")
    with connect(url) as conn:
        conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'.encode())


def database_of(url: str) -> str:
    return unquote(urlsplit(url).path.lstrip("/")) or "postgres"


def with_database(url: str, database: str) -> str:
    return urlsplit(url)._replace(path="/" + quote(database, safe="")).geturl()


def ensure_database(url: str) -> bool:
    """Create the URL's database if it is missing (connecting to `postgres` on the same server);
    True if it was created. StoreUnavailable if the server cannot be reached."""
    name = database_of(url)
    if not _IDENTIFIER.match(name):
        raise ValueError(f"not a plain database name: {name!r}")
    try:
        with connect(with_database(url, "postgres")) as conn:
            if conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,)).fetchone():
                return False
            try:
                conn.execute(f'CREATE DATABASE "{name}"'.encode())
            except psycopg.errors.DuplicateDatabase:
                return False
            return True
    except psycopg.OperationalError as exc:
        raise StoreUnavailable(f"PostgreSQL unreachable at {redact_url(url)}: {exc}".strip()) from None


def drop_database(url: str) -> None:
    """Drop the URL's database with every schema in it (fresh instances); quiet if absent."""
    name = database_of(url)
    if not _IDENTIFIER.match(name) or name == "postgres":
        raise ValueError(f"will not drop database {name!r}")
    try:
        with connect(with_database(url, "postgres")) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'.encode())
    except psycopg.OperationalError as exc:
        raise StoreUnavailable(f"PostgreSQL unreachable at {redact_url(url)}: {exc}".strip()) from None
