"""Inventory's tables: stock per product and one reservation per order."""

from __future__ import annotations

import sqlite3

from system.catalog import INITIAL_STOCK
from system.contracts import Message
from system.inventory.domain import InventoryState, Reservation, Stock
from system.stores.sqlite import SqlTables

SCHEMA = """
CREATE TABLE IF NOT EXISTS stock (
    product_id TEXT PRIMARY KEY,
    available INTEGER NOT NULL,
    reserved INTEGER NOT NULL,
    initial INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS reservations (
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


def seed_stock(conn: sqlite3.Connection) -> None:
    conn.executemany(
        "INSERT OR IGNORE INTO stock (product_id, available, reserved, initial) VALUES (?,?,0,?)",
        [(p, n, n) for p, n in INITIAL_STOCK.items()],
    )


def initialise(conn: sqlite3.Connection) -> None:
    add_missing_columns(conn)
    seed_stock(conn)


def load(conn: sqlite3.Connection, msg: Message) -> InventoryState:
    row = conn.execute(
        f"SELECT {RESERVATION_COLUMNS} FROM reservations WHERE order_id = ?", (msg.order_id,)
    ).fetchone()
    reservation = Reservation(**dict(row)) if row else None
    product_id = reservation.product_id if reservation else msg.payload.get("product_id")
    if not isinstance(product_id, str):  # a forged payload: no stock (as memory.py), the domain refuses it
        product_id = None
    stock_row = conn.execute(
        "SELECT product_id, available, reserved FROM stock WHERE product_id = ?", (product_id,)
    ).fetchone()
    return InventoryState(Stock(**dict(stock_row)) if stock_row else None, reservation)


def save(conn: sqlite3.Connection, state: InventoryState) -> None:
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


def list_stock(conn: sqlite3.Connection) -> list[dict]:
    rows = conn.execute(
        "SELECT product_id, available, reserved, initial FROM stock ORDER BY product_id"
    ).fetchall()
    return [dict(r) for r in rows]


def list_reservations(conn: sqlite3.Connection, order_id: str | None = None) -> list[dict]:
    if order_id:
        rows = conn.execute(f"SELECT {RESERVATION_COLUMNS} FROM reservations WHERE order_id = ?", (order_id,))
    else:
        rows = conn.execute(f"SELECT {RESERVATION_COLUMNS} FROM reservations ORDER BY rowid")
    return [dict(r) for r in rows.fetchall()]


TABLES = SqlTables(SCHEMA, load, save, initialise=initialise)
