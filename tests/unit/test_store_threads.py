"""Store calls off the event loop (system/stores/threads.py) and SQLite's group commit.

What must hold: a grouped commit's result is delivered only after the group committed; one
call that fails undoes only itself; a group SQLite lost fails every call in it; a read (`run`)
never runs inside a group, so it never sees writes a crash could still roll back; PostgreSQL's
threads each get their own connection.
"""

from __future__ import annotations

import asyncio
import sqlite3
import threading
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import pytest

from system.contracts import HandlerContext, Message
from system.decisions import DecisionConfig
from system.messaging.handling import handle_message
from system.registry import SERVICE_LOGIC
from system.stores.select import commit_group_of
from system.stores.sqlite import GroupLost, SqliteStore, commit_group, transaction
from system.stores.threads import StoreThreads
from tests.postgres import pg_schemas  # noqa: F401 - the fixture

CTX = HandlerContext("2024-01-01T00:00:00.000000Z", DecisionConfig(payment_failure_rate=0.0))


class NoHooks:
    def before_commit(self, msg: Message) -> None:
        pass


def payment(i: int) -> Message:
    return Message(f"m{i}", "payment.process", f"o{i}", {"user_id": "u", "amount": 5.0, "force": "succeed"}, "t", None)


def table(tmp_path: Path) -> sqlite3.Connection:
    conn = sqlite3.connect(tmp_path / "t.sqlite3", isolation_level=None, check_same_thread=False)
    conn.execute("CREATE TABLE t (k TEXT PRIMARY KEY)")
    return conn


def insert(conn: sqlite3.Connection, key: str) -> Callable[[], str]:
    def call() -> str:
        with transaction(conn):
            conn.execute("INSERT INTO t VALUES (?)", (key,))
        return key
    return call


def keys(conn: sqlite3.Connection) -> list[str]:
    return sorted(r[0] for r in conn.execute("SELECT k FROM t"))


def test_a_group_commits_every_call_and_a_failing_one_undoes_only_itself(tmp_path):
    conn = table(tmp_path)
    results = commit_group(conn, [insert(conn, "a"), insert(conn, "a"), insert(conn, "b")])
    assert results[0] == "a" and results[2] == "b"
    assert isinstance(results[1], sqlite3.IntegrityError)  # the same key again: its savepoint only
    assert keys(conn) == ["a", "b"]
    assert not conn.in_transaction


def test_a_group_whose_commit_fails_fails_every_call_and_keeps_nothing(tmp_path):
    conn = table(tmp_path)

    def drop_the_transaction() -> None:
        conn.execute("ROLLBACK")  # as SQLite does by itself after an I/O error or a full disk

    results = commit_group(conn, [insert(conn, "a"), drop_the_transaction, insert(conn, "b")])
    assert all(isinstance(r, GroupLost) for r in results)
    assert keys(conn) == []


def test_handle_message_in_a_group_commits_state_and_outbox_together(tmp_path):
    store = SqliteStore.open(tmp_path / "payment.sqlite3", SERVICE_LOGIC["payment"].sql)
    decide = SERVICE_LOGIC["payment"].decide
    calls = [lambda m=m: handle_message(store, decide, m, CTX, hooks=NoHooks())
             for m in (payment(1), payment(1), payment(2))]
    first, duplicate, second = commit_group(store.conn, calls)
    assert first is not None and second is not None
    assert duplicate is None  # the inbox saw the first copy inside the same group
    assert store.backlog() == 2


class Recording:
    """A commit group that records the groups it was given, then commits them as SQLite would."""

    def __init__(self, conn: sqlite3.Connection) -> None:
        self.conn = conn
        self.groups: list[int] = []

    def __call__(self, calls: Sequence[Callable[[], Any]]) -> list[Any]:
        self.groups.append(len(calls))
        return commit_group(self.conn, calls)


def test_commits_queued_behind_a_busy_thread_share_one_commit_and_reads_run_alone(tmp_path):
    conn = table(tmp_path)
    group = Recording(conn)
    threads = StoreThreads()
    threads.open(SqliteStore(conn, SERVICE_LOGIC["payment"].sql), 1, "test", group)
    gate = threading.Event()
    seen_in_transaction: list[bool] = []

    def read() -> list[str]:
        seen_in_transaction.append(conn.in_transaction)
        return keys(conn)

    async def scenario() -> list[Any]:
        blocker = asyncio.ensure_future(threads.run(gate.wait, 5))
        await asyncio.sleep(0.05)  # the thread is now busy with the blocker
        first = [asyncio.ensure_future(threads.commit(insert(conn, k))) for k in "abc"]
        reading = asyncio.ensure_future(threads.run(read))
        later = [asyncio.ensure_future(threads.commit(insert(conn, k))) for k in "de"]
        await asyncio.sleep(0.05)
        gate.set()
        return await asyncio.gather(blocker, *first, reading, *later)

    try:
        results = asyncio.run(scenario())
    finally:
        threads.close()
    assert results[1:4] == ["a", "b", "c"] and results[5:] == ["d", "e"]
    assert results[4] == ["a", "b", "c"]  # committed before the read, which ran between groups
    assert seen_in_transaction == [False]
    assert group.groups == [3, 2]


def test_a_commit_with_nothing_queued_behind_it_is_its_own_transaction(tmp_path):
    conn = table(tmp_path)
    group = Recording(conn)
    threads = StoreThreads()
    threads.open(SqliteStore(conn, SERVICE_LOGIC["payment"].sql), 1, "test", group)

    async def scenario() -> list[str]:
        return [await threads.commit(insert(conn, k)) for k in "ab"]

    try:
        assert asyncio.run(scenario()) == ["a", "b"]
        assert keys(conn) == ["a", "b"]
    finally:
        threads.close()
    assert group.groups == []


def test_an_exception_reaches_the_caller_of_its_call_only(tmp_path):
    conn = table(tmp_path)
    threads = StoreThreads()
    store = SqliteStore(conn, SERVICE_LOGIC["payment"].sql)
    threads.open(store, 1, "test", commit_group_of(store))

    async def scenario() -> list[Any]:
        return list(await asyncio.gather(threads.commit(insert(conn, "a")), threads.commit(insert(conn, "a")),
                                         return_exceptions=True))

    try:
        ok, failed = asyncio.run(scenario())
    finally:
        threads.close()
    assert ok == "a" and isinstance(failed, sqlite3.IntegrityError)


def test_grouped_commits_need_exactly_one_thread(tmp_path):
    conn = table(tmp_path)
    with pytest.raises(ValueError, match="one thread"):
        StoreThreads().open(SqliteStore(conn, SERVICE_LOGIC["payment"].sql), 2, "test", Recording(conn))


@pytest.mark.usefixtures("pg_schemas")
def test_postgres_store_threads_each_have_their_own_connection():
    from tests.postgres import open_store

    store = open_store(SERVICE_LOGIC["payment"].sql)
    assert commit_group_of(store) is None  # PostgreSQL commits each call on its own
    threads = StoreThreads()
    threads.open(store, 3, "test")
    inside = threading.Barrier(3)

    def backend_in_a_transaction() -> int:
        with store.conn.transaction():
            pid = int(store.conn.execute("SELECT pg_backend_pid() AS pid").fetchone()["pid"])
            inside.wait(5)  # all three transactions are open at once
        return pid

    async def scenario() -> list[int]:
        return list(await asyncio.gather(*(threads.run(backend_in_a_transaction) for _ in range(3))))

    try:
        pids = asyncio.run(scenario())
    finally:
        threads.close()
    assert len(set(pids)) == 3

