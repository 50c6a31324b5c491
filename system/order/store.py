"""Order's table: the saga state and its history, one row per order."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from system.contracts import Message
from system.deadlines import SAGA_DEADLINE, Timer
from system.order.deadlines import AWAITED
from system.order.domain import HistoryEntry, Order, OrderRequest
from system.stores.sqlite import SqlConnection, SqlStore, SqlTables

SCHEMA = """
CREATE TABLE IF NOT EXISTS orders (
    order_id TEXT PRIMARY KEY,
    user_id TEXT NOT NULL,
    product_id TEXT NOT NULL,
    quantity INTEGER NOT NULL,
    amount REAL NOT NULL,
    force_payment TEXT,
    force_delivery TEXT,
    status TEXT NOT NULL,
    failure_reason TEXT,
    history TEXT NOT NULL,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL,
    idempotency_key TEXT UNIQUE,
    request_hash TEXT NOT NULL,
    deadline TEXT
);
CREATE INDEX IF NOT EXISTS orders_by_status ON orders (status);
CREATE INDEX IF NOT EXISTS orders_by_page ON orders (created_at, order_id);
"""
# COLLATE "C": pages follow byte order, as in SQLite, whatever the database's locale.
POSTGRES_SCHEMA = """
CREATE TABLE IF NOT EXISTS orders (
    order_id TEXT COLLATE "C" PRIMARY KEY,
    user_id TEXT NOT NULL,
    product_id TEXT NOT NULL,
    quantity INTEGER NOT NULL,
    amount DOUBLE PRECISION NOT NULL,
    force_payment TEXT,
    force_delivery TEXT,
    status TEXT NOT NULL,
    failure_reason TEXT,
    history TEXT NOT NULL,
    created_at TEXT COLLATE "C" NOT NULL,
    updated_at TEXT NOT NULL,
    idempotency_key TEXT UNIQUE,
    request_hash TEXT NOT NULL,
    deadline TEXT
);
CREATE INDEX IF NOT EXISTS orders_by_status ON orders (status);
CREATE INDEX IF NOT EXISTS orders_by_page ON orders (created_at, order_id);
"""


def _from_row(row: Any) -> Order:
    request = OrderRequest(
        user_id=row["user_id"],
        product_id=row["product_id"],
        quantity=row["quantity"],
        amount=row["amount"],
        force_payment=row["force_payment"],
        force_delivery=row["force_delivery"],
    )
    history = tuple(HistoryEntry(h["event"], h["at"]) for h in json.loads(row["history"]))
    return Order(
        order_id=row["order_id"],
        request=request,
        status=row["status"],
        failure_reason=row["failure_reason"],
        history=history,
        created_at=row["created_at"],
        updated_at=row["updated_at"],
        idempotency_key=row["idempotency_key"],
        deadline=row["deadline"],
    )


def get(conn: SqlConnection, order_id: str) -> Order | None:
    row = conn.execute("SELECT * FROM orders WHERE order_id = ?", (order_id,)).fetchone()
    return _from_row(row) if row else None


def load(conn: SqlConnection, msg: Message) -> Order | None:
    return get(conn, msg.order_id)


def by_idempotency_key(conn: SqlConnection, key: str) -> tuple[Order, str] | None:
    row = conn.execute("SELECT * FROM orders WHERE idempotency_key = ?", (key,)).fetchone()
    return (_from_row(row), row["request_hash"]) if row else None


def insert(conn: SqlConnection, order: Order) -> None:
    r = order.request
    conn.execute(
        "INSERT INTO orders (order_id, user_id, product_id, quantity, amount, force_payment,"
        " force_delivery, status, failure_reason, history, created_at, updated_at,"
        " idempotency_key, request_hash, deadline) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
        (
            order.order_id,
            r.user_id,
            r.product_id,
            r.quantity,
            r.amount,
            r.force_payment,
            r.force_delivery,
            order.status,
            order.failure_reason,
            _history_json(order),
            order.created_at,
            order.updated_at,
            order.idempotency_key,
            r.fingerprint(),
            order.deadline,
        ),
    )


def save(conn: SqlConnection, order: Order | None) -> None:
    if order is None:
        return
    conn.execute(
        "UPDATE orders SET status = ?, failure_reason = ?, history = ?, updated_at = ?, deadline = ?"
        " WHERE order_id = ?",
        (order.status, order.failure_reason, _history_json(order), order.updated_at, order.deadline,
         order.order_id),
    )


# Keyset paging, oldest first: (created_at, order_id) orders every row, ties of equal timestamps
# included, so a page boundary never skips or repeats an order, and orders placed while a reader
# pages through arrive at the end.
PAGE_DEFAULT, PAGE_MAX = 1000, 10_000


def page_cursor(order: Order) -> str:
    """The cursor after `order`: opaque to clients, `created_at|order_id` here."""
    return f"{order.created_at}|{order.order_id}"


def parse_cursor(cursor: str) -> tuple[str, str]:
    created_at, sep, order_id = cursor.partition("|")
    if not sep or not created_at or not order_id:
        raise ValueError(f"not a cursor this service issued: {cursor!r}")
    return created_at, order_id


def list_orders(
    conn: SqlConnection, status: str | None = None, limit: int = PAGE_DEFAULT, after: str | None = None
) -> list[Order]:
    """Up to `limit` orders after the cursor `after` (None: from the oldest), oldest first."""
    where, params = [], []
    if status:
        where.append("status = ?")
        params.append(status)
    if after:
        where.append("(created_at, order_id) > (?, ?)")
        params.extend(parse_cursor(after))
    sql = "SELECT * FROM orders" + (" WHERE " + " AND ".join(where) if where else "")
    rows = conn.execute(sql + " ORDER BY created_at, order_id LIMIT ?", (*params, limit))
    return [_from_row(r) for r in rows.fetchall()]


def _history_json(order: Order) -> str:
    return json.dumps([{"event": h.event, "at": h.at} for h in order.history])


# The durable timers (issue #16): an order's deadline is a column of its row, saved with the step.
DEADLINE_INDEX = "CREATE INDEX IF NOT EXISTS orders_by_deadline ON orders (deadline) WHERE deadline IS NOT NULL"


def initialise(conn: Any) -> None:
    """A database made before deadlines existed gets the column (and both get the index)."""
    columns = {row["name"] for row in conn.execute("PRAGMA table_info(orders)").fetchall()}
    if "deadline" not in columns:
        conn.execute("ALTER TABLE orders ADD COLUMN deadline TEXT")
    conn.execute(DEADLINE_INDEX)


def postgres_initialise(conn: SqlConnection) -> None:
    conn.execute("ALTER TABLE orders ADD COLUMN IF NOT EXISTS deadline TEXT", ())
    conn.execute(DEADLINE_INDEX, ())


def armed_timers(conn: SqlConnection, limit: int) -> list[Timer]:
    """The `limit` earliest armed deadlines (system/deadlines.py `due` picks those that fire)."""
    rows = conn.execute(
        "SELECT order_id, status, deadline FROM orders WHERE deadline IS NOT NULL ORDER BY deadline LIMIT ?",
        (limit,),
    ).fetchall()
    timers = []
    for row in rows:
        step = AWAITED.get(row["status"])
        if step is not None:
            timers.append(Timer(row["order_id"], SAGA_DEADLINE, step, row["deadline"]))
    return timers


TABLES = SqlTables(SCHEMA, load, save, insert, initialise=initialise, postgres_schema=POSTGRES_SCHEMA,
                   postgres_initialise=postgres_initialise)


class SqlOrderBook:
    """The placement port (system/order/placement.py) over the order service's SQL store."""

    def __init__(self, store: SqlStore) -> None:
        self.store = store

    def by_idempotency_key(self, key: str) -> tuple[Order, str] | None:
        return by_idempotency_key(self.store.conn, key)

    def insert_and_enqueue(self, order: Order, messages: Sequence[Message], now: str) -> None:
        self.store.insert_and_enqueue(order, messages, now)
