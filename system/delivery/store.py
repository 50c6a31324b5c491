"""Delivery's table: one delivery per order."""

from __future__ import annotations

from system.contracts import Message
from system.delivery.domain import Delivery
from system.stores.sqlite import SqlConnection, SqlTables

SCHEMA = """
CREATE TABLE IF NOT EXISTS deliveries (
    delivery_id TEXT PRIMARY KEY,
    order_id TEXT NOT NULL UNIQUE,
    status TEXT NOT NULL
);
"""
# `rowid`: SQLite's implicit row number, an explicit column in PostgreSQL, so the same
# `ORDER BY rowid` lists rows in insertion order on both.
POSTGRES_SCHEMA = """
CREATE TABLE IF NOT EXISTS deliveries (
    rowid BIGSERIAL,
    delivery_id TEXT PRIMARY KEY,
    order_id TEXT NOT NULL UNIQUE,
    status TEXT NOT NULL
);
"""


def load(conn: SqlConnection, msg: Message) -> Delivery | None:
    row = conn.execute(
        "SELECT delivery_id, order_id, status FROM deliveries WHERE order_id = ?", (msg.order_id,)
    ).fetchone()
    return Delivery(**dict(row)) if row else None


def save(conn: SqlConnection, delivery: Delivery | None) -> None:
    if delivery is None:
        return
    conn.execute(
        "INSERT INTO deliveries (delivery_id, order_id, status) VALUES (?,?,?)"
        " ON CONFLICT(delivery_id) DO UPDATE SET status = excluded.status",
        (delivery.delivery_id, delivery.order_id, delivery.status),
    )


def list_deliveries(conn: SqlConnection, order_id: str | None = None) -> list[dict]:
    query = "SELECT delivery_id, order_id, status FROM deliveries"
    rows = (
        conn.execute(query + " WHERE order_id = ?", (order_id,))
        if order_id
        else conn.execute(query + " ORDER BY rowid")
    )
    return [dict(r) for r in rows.fetchall()]


TABLES = SqlTables(SCHEMA, load, save, postgres_schema=POSTGRES_SCHEMA)
