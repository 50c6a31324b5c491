"""Payment's table: payments, looked up by order."""

from __future__ import annotations

from system.contracts import Message
from system.payment.domain import Payment
from system.stores.sqlite import SqlConnection, SqlTables

SCHEMA = """
CREATE TABLE IF NOT EXISTS payments (
    payment_id TEXT PRIMARY KEY,
    order_id TEXT NOT NULL,
    user_id TEXT NOT NULL,
    amount REAL NOT NULL,
    status TEXT NOT NULL,
    refunded_amount REAL NOT NULL DEFAULT 0
);
CREATE INDEX IF NOT EXISTS payments_by_order ON payments (order_id);
"""
# `rowid`: SQLite's implicit row number, an explicit column in PostgreSQL (see delivery/store.py).
POSTGRES_SCHEMA = """
CREATE TABLE IF NOT EXISTS payments (
    rowid BIGSERIAL,
    payment_id TEXT PRIMARY KEY,
    order_id TEXT NOT NULL,
    user_id TEXT NOT NULL,
    amount DOUBLE PRECISION NOT NULL,
    status TEXT NOT NULL,
    refunded_amount DOUBLE PRECISION NOT NULL DEFAULT 0
);
CREATE INDEX IF NOT EXISTS payments_by_order ON payments (order_id, rowid);
"""

_COLUMNS = "payment_id, order_id, user_id, amount, status, refunded_amount"


def load(conn: SqlConnection, msg: Message) -> Payment | None:
    # The latest payment of the order; there is only ever one unless a defect is switched on.
    row = conn.execute(
        f"SELECT {_COLUMNS} FROM payments WHERE order_id = ? ORDER BY rowid DESC LIMIT 1",
        (msg.order_id,),
    ).fetchone()
    return Payment(**dict(row)) if row else None


def save(conn: SqlConnection, payment: Payment | None) -> None:
    if payment is None:
        return
    conn.execute(
        f"INSERT INTO payments ({_COLUMNS}) VALUES (?,?,?,?,?,?)"
        " ON CONFLICT(payment_id) DO UPDATE SET status = excluded.status,"
        " refunded_amount = excluded.refunded_amount",
        (
            payment.payment_id,
            payment.order_id,
            payment.user_id,
            payment.amount,
            payment.status,
            payment.refunded_amount,
        ),
    )


def list_payments(conn: SqlConnection, order_id: str | None = None) -> list[dict]:
    query = f"SELECT {_COLUMNS} FROM payments"
    rows = (
        conn.execute(query + " WHERE order_id = ? ORDER BY rowid", (order_id,))
        if order_id
        else conn.execute(query + " ORDER BY rowid")
    )
    return [dict(r) for r in rows.fetchall()]


TABLES = SqlTables(SCHEMA, load, save, postgres_schema=POSTGRES_SCHEMA)
