"""What PostgreSQL adds to the store contract: replicas of one service on one schema are kept
apart by the database (inbox key, advisory and row locks, relay leases), not by luck."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor

import pytest

from system.contracts import HandlerContext, Message
from system.decisions import DecisionConfig
from system.messaging.handling import handle_message
from system.registry import SERVICE_LOGIC
from tests.postgres import new_schema, open_store, pg_schemas  # noqa: F401 - the fixture

pytestmark = pytest.mark.usefixtures("pg_schemas")
CTX = HandlerContext("2024-01-01T00:00:00.000000Z", DecisionConfig(payment_failure_rate=0.0))


class NoHooks:
    def before_commit(self, msg: Message) -> None:
        pass


class Pause:
    """Holds the transaction open (just before commit) until released."""

    def __init__(self) -> None:
        self.inside, self.release = threading.Event(), threading.Event()

    def before_commit(self, msg: Message) -> None:
        self.inside.set()
        assert self.release.wait(10)


def replicas(service: str, n: int = 2):
    schema = new_schema()
    return [open_store(SERVICE_LOGIC[service].sql, schema=schema) for _ in range(n)]


def test_two_replicas_handling_the_same_message_commit_it_once():
    a, b = replicas("payment")
    decide = SERVICE_LOGIC["payment"].decide
    m = Message("m1", "payment.process", "o1", {"user_id": "u", "amount": 5.0, "force": "succeed"}, "t", None)
    pause = Pause()
    with ThreadPoolExecutor(2) as pool:
        first = pool.submit(handle_message, a, decide, m, CTX, hooks=pause)
        assert pause.inside.wait(10)
        second = pool.submit(handle_message, b, decide, m, CTX, hooks=NoHooks())  # waits on the inbox key
        pause.release.set()
        assert first.result(10) is not None
        assert second.result(10) is None  # the duplicate, seen once the first committed
    assert a.backlog() == 1
    assert len(a.conn.execute("SELECT * FROM payments").fetchall()) == 1


def test_replicas_reserving_the_same_stock_lose_no_update():
    stores = replicas("inventory", 4)
    decide = SERVICE_LOGIC["inventory"].decide

    def replica(k: int) -> None:  # one connection per replica, as in a service process
        for i in range(k, 60, len(stores)):
            m = Message(f"r{i}", "inventory.reserve", f"o{i}", {"product_id": "product_3", "quantity": 1})
            handle_message(stores[k], decide, m, CTX, hooks=NoHooks())

    with ThreadPoolExecutor(len(stores)) as pool:
        list(pool.map(replica, range(len(stores))))  # 60 orders of 1 unit against 50 in stock
    stock = stores[0].conn.execute("SELECT available, reserved FROM stock WHERE product_id = 'product_3'").fetchone()
    held = stores[0].conn.execute("SELECT COUNT(*) AS n FROM reservations WHERE status = 'reserved'").fetchone()["n"]
    assert (stock["available"], stock["reserved"], held) == (0, 50, 50)


def test_two_relays_lease_disjoint_rows_and_a_dead_relays_rows_come_back():
    a, b = replicas("payment")
    with a.transaction() as tx:
        tx.enqueue([Message(f"m{i}", "payment.completed", "o", {}) for i in range(5)], "t")
    mine = a.unsent(3)
    theirs = b.unsent(10)
    assert [r.seq for r in mine] == [1, 2, 3] and [r.seq for r in theirs] == [4, 5]
    assert [r.seq for r in a.unsent(10)] == [1, 2, 3]  # its own lease: retried at once
    a.mark_sent(mine[:1], "t")
    # a dies holding rows 2-3: once its lease expires, b publishes them again.
    b.conn.execute("UPDATE outbox SET lease_until = now() - interval '1 second' WHERE leased_by = ?", (a.owner,))
    assert [r.seq for r in b.unsent(10)] == [2, 3, 4, 5]
    assert b.backlog() == 4


def test_a_replica_starting_beside_a_busy_sibling_gives_way_instead_of_deadlocking():
    """The start's statements lock tables even when there is nothing to create (CREATE INDEX IF
    NOT EXISTS holds a SHARE lock on the outbox), and its seed waits for a stock row a sibling
    is updating; the sibling then writes its outbox row. Without bounded waits one of the two is
    the deadlock's victim: the restarted replica dies at start, or the sibling's message fails."""
    import psycopg

    from system.stores.postgres import PgConnection, create_schema
    from tests.postgres import URL

    tables = SERVICE_LOGIC["inventory"].sql
    sibling = open_store(tables)  # the schema exists, seeded
    busy = PgConnection(URL, sibling.conn.schema)
    starting: list[BaseException | None] = []

    def start() -> None:
        try:
            create_schema(PgConnection(URL, sibling.conn.schema), tables)
            starting.append(None)
        except BaseException as exc:  # noqa: BLE001 - reported by the assertion below
            starting.append(exc)

    try:
        with busy.transaction():
            busy.execute("UPDATE stock SET available = available WHERE product_id = ?", ("product_1",))
            replica = threading.Thread(target=start)
            replica.start()
            replica.join(0.5)  # it holds the outbox's SHARE lock and waits for the stock row
            busy.execute("INSERT INTO outbox (message_id, routing_key, order_id, body, created_at) "
                         "VALUES (?, ?, ?, ?, ?)", ("m1", "inventory.reserved", "o1", b"{}", "t"))
        replica.join(30)
    except psycopg.errors.DeadlockDetected as exc:
        pytest.fail(f"the sibling's transaction was the deadlock's victim: {exc}")
    finally:
        busy.close()
    assert starting == [None], starting
