"""Inventory's tables: stock per product and one reservation per order."""

from __future__ import annotations

import sqlite3
from functools import partial

from system.catalog import INITIAL_STOCK
from system.contracts import Message
from system.inventory.domain import InventoryState, Reservation, Stock
from system.stores.sqlite import SqlConnection, SqlTables

STOCK_SCHEMA = """
CREATE TABLE IF NOT EXISTS stock (
    product_id TEXT PRIMARY KEY,
    available INTEGER NOT NULL,
    reserved INTEGER NOT NULL,
    initial INTEGER NOT NULL
);
"""  # the same DDL in PostgreSQL
SCHEMA = STOCK_SCHEMA + """
CREATE TABLE IF NOT EXISTS reservations (
    order_id TEXT PRIMARY KEY,
    product_id TEXT NOT NULL,
    quantity INTEGER NOT NULL,
    status TEXT NOT NULL,
    available_seen INTEGER
);
"""
# `rowid`: SQLite's implicit row number, an explicit column in PostgreSQL (see delivery/store.py).
POSTGRES_SCHEMA = STOCK_SCHEMA + """
CREATE TABLE IF NOT EXISTS reservations (
    rowid BIGSERIAL,
    order_id TEXT PRIMARY KEY,
    product_id TEXT NOT NULL,
    quantity INTEGER NOT NULL,
    status TEXT NOT NULL,
    available_seen INTEGER
);
"""
# Columns added after the first release: (table, column, declaration). A database an older
# version created lacks them; `initialise` adds them (CREATE TABLE IF NOT EXISTS does not).
ADDED_COLUMNS = (("reservations", "available_seen", "INTEGER"),)


def add_missing_columns(conn: sqlite3.Connection) -> None:
    for table, column, declaration in ADDED_COLUMNS:
        present = {row[1] for row in conn.execute(f"PRAGMA table_info({table})")}
        if column not in present:
            conn.execute(f"ALTER TABLE {table} ADD COLUMN {column} {declaration}")


RESERVATION_COLUMNS = ", ".join(Reservation._fields)


def seed_stock(conn: SqlConnection) -> None:
    conn.executemany(
        "INSERT INTO stock (product_id, available, reserved, initial) VALUES (?,?,0,?) ON CONFLICT DO NOTHING",
        [(p, n, n) for p, n in INITIAL_STOCK.items()],
    )


def initialise(conn: sqlite3.Connection) -> None:
    add_missing_columns(conn)
    seed_stock(conn)


def load(conn: SqlConnection, msg: Message, lock: str = "") -> InventoryState:
    """`lock`: " FOR UPDATE" on PostgreSQL, where replicas reserve the same stock concurrently."""
    row = conn.execute(
        f"SELECT {RESERVATION_COLUMNS} FROM reservations WHERE order_id = ?{lock}", (msg.order_id,)
    ).fetchone()
    reservation = Reservation(**dict(row)) if row else None
    product_id = reservation.product_id if reservation else msg.payload.get("product_id")
    if not isinstance(product_id, str):  # a forged payload: no stock (as memory.py), the domain refuses it
        product_id = None
    stock_row = conn.execute(
        f"SELECT product_id, available, reserved FROM stock WHERE product_id = ?{lock}", (product_id,)
    ).fetchone()
    return InventoryState(Stock(**dict(stock_row)) if stock_row else None, reservation)


def save(conn: SqlConnection, state: InventoryState) -> None:
    if state.stock is not None:
        conn.execute(
            "UPDATE stock SET available = ?, reserved = ? WHERE product_id = ?",
            (state.stock.available, state.stock.reserved, state.stock.product_id),
        )
    if state.reservation is not None:
        r = state.reservation
        conn.execute(
            "INSERT INTO reservations (order_id, product_id, quantity, status, available_seen)"
            " VALUES (?,?,?,?,?) ON CONFLICT(order_id) DO UPDATE SET status = excluded.status",
            (r.order_id, r.product_id, r.quantity, r.status, r.available_seen),
        )


def list_stock(conn: SqlConnection) -> list[dict]:
    rows = conn.execute(
        "SELECT product_id, available, reserved, initial FROM stock ORDER BY product_id"
    ).fetchall()
    return [dict(r) for r in rows]


def list_reservations(conn: SqlConnection, order_id: str | None = None) -> list[dict]:
    if order_id:
        rows = conn.execute(f"SELECT {RESERVATION_COLUMNS} FROM reservations WHERE order_id = ?", (order_id,))
    else:
        rows = conn.execute(f"SELECT {RESERVATION_COLUMNS} FROM reservations ORDER BY rowid")
    return [dict(r) for r in rows.fetchall()]


TABLES = SqlTables(
    SCHEMA, load, save, initialise=initialise, postgres_schema=POSTGRES_SCHEMA,
    postgres_load=partial(load, lock=" FOR UPDATE"), postgres_initialise=seed_stock,
)
