"""SQLite plumbing shared by every service: WAL, one transaction per message, inbox and outbox.

A message is handled in ONE transaction: the inbox row (a duplicate stops here), the state
change, and the outgoing messages in the outbox. Commit, then ack. The outbox relay publishes
afterwards and marks rows sent only when the broker confirmed them.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from system.contracts import Message

COMMON_SCHEMA = """
CREATE TABLE IF NOT EXISTS inbox (
    message_id TEXT PRIMARY KEY,
    routing_key TEXT NOT NULL,
    order_id TEXT,
    received_at TEXT NOT NULL
);
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


def utc_now() -> str:
    return datetime.now(UTC).isoformat(timespec="microseconds").replace("+00:00", "Z")


def open_database(path: Path, schema: str) -> sqlite3.Connection:
    """One connection per service process; autocommit mode so transactions are explicit."""
    path.parent.mkdir(parents=True, exist_ok=True)
    conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False, timeout=10)
    conn.row_factory = sqlite3.Row
    conn.execute("PRAGMA journal_mode=WAL")
    # FULL: a commit survives power loss, not only a process crash (which NORMAL already does).
    conn.execute("PRAGMA synchronous=FULL")
    conn.executescript(COMMON_SCHEMA + schema)
    return conn


@contextmanager
def transaction(conn: sqlite3.Connection) -> Iterator[sqlite3.Connection]:
    conn.execute("BEGIN IMMEDIATE")
    try:
        yield conn
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    conn.execute("COMMIT")


def claim_inbox(conn: sqlite3.Connection, msg: Message, now: str) -> bool:
    """Record that `msg` is being handled; False if it was handled before (a duplicate)."""
    cursor = conn.execute(
        "INSERT OR IGNORE INTO inbox (message_id, routing_key, order_id, received_at) VALUES (?,?,?,?)",
        (msg.message_id, msg.type, msg.order_id, now),
    )
    return cursor.rowcount == 1


def enqueue(conn: sqlite3.Connection, messages: tuple[Message, ...] | list[Message], now: str) -> None:
    # OR IGNORE: a message id already in the outbox is the same message (ids derive from causes).
    conn.executemany(
        "INSERT OR IGNORE INTO outbox (message_id, routing_key, order_id, body, created_at)"
        " VALUES (?,?,?,?,?)",
        [(m.message_id, m.type, m.order_id, m.to_json(), now) for m in messages],
    )


@dataclass(frozen=True)
class OutboxRow:
    seq: int
    message_id: str
    routing_key: str
    order_id: str
    body: bytes


def unsent(conn: sqlite3.Connection, limit: int = 100) -> list[OutboxRow]:
    rows = conn.execute(
        "SELECT seq, message_id, routing_key, order_id, body FROM outbox"
        " WHERE sent_at IS NULL ORDER BY seq LIMIT ?",
        (limit,),
    ).fetchall()
    return [OutboxRow(r["seq"], r["message_id"], r["routing_key"], r["order_id"], r["body"]) for r in rows]


def mark_sent(conn: sqlite3.Connection, seqs: list[int], now: str) -> None:
    conn.executemany("UPDATE outbox SET sent_at = ? WHERE seq = ?", [(now, s) for s in seqs])


def outbox_backlog(conn: sqlite3.Connection) -> int:
    return conn.execute("SELECT COUNT(*) FROM outbox WHERE sent_at IS NULL").fetchone()[0]
