"""The store port's contract, run against every adapter: SQLite (the services' default),
PostgreSQL (SAGA_STORE=postgresql://..., each test in a schema of its own, saga_pg_*, dropped
afterwards) and in-memory (the simulator)."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest

from system.contracts import HandlerContext, Message
from system.decisions import DecisionConfig
from system.messaging.handling import handle_message
from system.messaging.ports import MessageStore, UniqueViolation
from system.order import domain
from system.order.memory import MemoryOrderBook
from system.order.placement import OrderBook, Placed, place
from system.order.store import SqlOrderBook
from system.registry import SERVICE_LOGIC
from system.stores.memory import MemoryStore
from system.stores.sqlite import SqliteStore
from tests.postgres import pg_schemas  # noqa: F401 - the fixture

REQUEST = domain.OrderRequest("u1", "product_1", 2, 19.99)
CTX = HandlerContext("2024-01-01T00:00:00.000000Z", DecisionConfig(payment_failure_rate=0.0))


def make_store(kind: str, service: str, tmp_path: Path) -> MessageStore:
    logic = SERVICE_LOGIC[service]
    if kind == "sqlite":
        return SqliteStore.open(tmp_path / f"{service}.sqlite3", logic.sql)
    if kind == "postgres":
        from tests.postgres import open_store

        return open_store(logic.sql, tmp_path)
    return MemoryStore(logic.memory())


def order_book(kind: str, store: MessageStore) -> OrderBook:
    if kind in ("sqlite", "postgres"):
        return SqlOrderBook(store)  # type: ignore[arg-type]
    return MemoryOrderBook(store)  # type: ignore[arg-type]


@pytest.fixture(params=["sqlite", "postgres", "memory"])
def kind(request) -> str:
    if request.param == "postgres":
        request.getfixturevalue("pg_schemas")
    return request.param


def msg(n: int, key: str = "payment.process", order_id: str = "o1") -> Message:
    return Message(f"m{n}", key, order_id, {"user_id": "u1", "amount": 5.0, "force": "succeed"}, "t", None)


class NoHooks:
    def before_commit(self, msg: Message) -> None:
        pass


class Boom(Exception):
    pass


class Failing:
    def before_commit(self, msg: Message) -> None:
        raise Boom("inside the transaction")


def test_the_inbox_claims_a_message_once(kind, tmp_path):
    store = make_store(kind, "payment", tmp_path)
    with store.transaction() as tx:
        assert tx.claim_inbox(msg(1), "t") is True
    with store.transaction() as tx:
        assert tx.claim_inbox(msg(1), "t") is False
        assert tx.claim_inbox(msg(2), "t") is True


def test_a_transaction_that_raises_leaves_nothing_behind(kind, tmp_path):
    store = make_store(kind, "payment", tmp_path)
    decide = SERVICE_LOGIC["payment"].decide
    with pytest.raises(Boom):
        handle_message(store, decide, msg(1), CTX, hooks=Failing())
    assert store.backlog() == 0 and store.unsent(10) == []
    with store.transaction() as tx:
        assert tx.load(msg(1)) is None  # no payment row
        assert tx.claim_inbox(msg(1), "t") is True  # no inbox row either


def test_handle_message_commits_state_and_outbox_then_absorbs_the_duplicate(kind, tmp_path):
    store = make_store(kind, "payment", tmp_path)
    decide = SERVICE_LOGIC["payment"].decide
    outcome = handle_message(store, decide, msg(1), CTX, hooks=NoHooks())
    assert outcome is not None and outcome.state.status == "completed"
    assert [r.message for r in store.unsent(10)] == list(outcome.messages)
    assert handle_message(store, decide, msg(1), CTX, hooks=NoHooks()) is None
    assert store.backlog() == 1
    with store.transaction() as tx:
        assert tx.load(msg(1)) == outcome.state


def test_the_outbox_ignores_a_message_id_it_holds_and_keeps_order(kind, tmp_path):
    store = make_store(kind, "payment", tmp_path)
    a, b, c = msg(1), msg(2), msg(3)
    with store.transaction() as tx:
        tx.enqueue([a, b], "t")
    with store.transaction() as tx:
        tx.enqueue([b, c], "t")  # b again: the same message
    assert [r.message for r in store.unsent(10)] == [a, b, c]
    assert [r.message for r in store.unsent(2)] == [a, b]
    assert store.backlog() == 3


def test_mark_sent_takes_rows_out_of_unsent_in_any_order(kind, tmp_path):
    store = make_store(kind, "payment", tmp_path)
    with store.transaction() as tx:
        tx.enqueue([msg(1), msg(2), msg(3)], "t")
    first, second, third = store.unsent(10)
    store.mark_sent([second], "t")  # a publish of the first row failed: it stays unsent
    assert store.unsent(10) == [first, third] and store.backlog() == 2
    store.mark_sent([first, third], "t")
    assert store.unsent(10) == [] and store.backlog() == 0


def test_upserts_keep_what_was_first_written(kind, tmp_path):
    store = make_store(kind, "inventory", tmp_path)
    reserve = Message("r1", "inventory.reserve", "o1", {"product_id": "product_3", "quantity": 5})
    decide = SERVICE_LOGIC["inventory"].decide
    handle_message(store, decide, reserve, CTX, hooks=NoHooks())
    with store.transaction() as tx:
        state = tx.load(reserve)
        assert (state.stock.available, state.reservation.quantity) == (45, 5)
        # A later write of the reservation changes its status only (ON CONFLICT ... SET status).
        tx.save(state._replace(reservation=state.reservation._replace(quantity=99, status="released")))
    with store.transaction() as tx:
        assert (tx.load(reserve).reservation.quantity, tx.load(reserve).reservation.status) == (5, "released")


def test_a_rejected_reservation_keeps_its_evidence_through_both_adapters(kind, tmp_path):
    store = make_store(kind, "inventory", tmp_path)
    refuse = Message("r1", "inventory.reserve", "o1", {"product_id": "product_3", "quantity": 51})
    handle_message(store, SERVICE_LOGIC["inventory"].decide, refuse, CTX, hooks=NoHooks())
    with store.transaction() as tx:
        state = tx.load(refuse)
        assert state.reservation == ("o1", "product_3", 51, "rejected", 50)
        tx.save(state._replace(reservation=state.reservation._replace(status="released", available_seen=7)))
    with store.transaction() as tx:
        assert tx.load(refuse).reservation.available_seen == 50  # status only: the figure stays


def test_an_inventory_database_from_before_the_evidence_column_still_opens(tmp_path):
    import sqlite3

    from system.inventory import store as inventory_store

    path = tmp_path / "inventory.sqlite3"
    old = sqlite3.connect(path)
    old.executescript(
        "CREATE TABLE reservations (order_id TEXT PRIMARY KEY, product_id TEXT NOT NULL,"
        " quantity INTEGER NOT NULL, status TEXT NOT NULL);"
        "INSERT INTO reservations VALUES ('o-old', 'product_3', 60, 'rejected');")
    old.commit()
    old.close()
    store = SqliteStore.open(path, SERVICE_LOGIC["inventory"].sql)
    conn = store.conn  # type: ignore[attr-defined]
    assert inventory_store.list_reservations(conn) == [
        {"order_id": "o-old", "product_id": "product_3", "quantity": 60, "status": "rejected", "available_seen": None}]
    refuse = Message("r1", "inventory.reserve", "o1", {"product_id": "product_3", "quantity": 51})
    handle_message(store, SERVICE_LOGIC["inventory"].decide, refuse, CTX, hooks=NoHooks())
    assert inventory_store.list_reservations(conn, "o1")[0]["available_seen"] == 50
    SqliteStore.open(path, SERVICE_LOGIC["inventory"].sql)  # opening again adds nothing twice


def test_insert_and_enqueue_is_one_operation_refused_whole_on_a_taken_key(kind, tmp_path):
    store = make_store(kind, "order", tmp_path)
    first = domain.place_order("o1", REQUEST, "t", "key-1")
    store.insert_and_enqueue(first.state, first.messages, "t")
    again = domain.place_order("o2", REQUEST, "t", "key-1")
    with pytest.raises(UniqueViolation):
        store.insert_and_enqueue(again.state, again.messages, "t")
    assert [r.message for r in store.unsent(10)] == list(first.messages)


# -- POST /orders over both adapters: place, replay, conflict, and the race ---------------------
def test_placement_places_replays_and_refuses_a_different_body(kind, tmp_path):
    book = order_book(kind, make_store(kind, "order", tmp_path))
    placed = place(book, "o1", REQUEST, "key-1", "t")
    assert isinstance(placed, Placed) and placed.order.status == "pending"
    assert place(book, "o2", REQUEST, "key-1", "t") == domain.Replay(placed.order)
    conflict = place(book, "o3", replace(REQUEST, quantity=3), "key-1", "t")
    assert isinstance(conflict, domain.Conflict) and conflict.order.order_id == "o1"
    assert isinstance(place(book, "o4", REQUEST, None, "t"), Placed)  # no key: always a new order


class RacingBook:
    """A concurrent request with the same key commits between our lookup and our insert."""

    def __init__(self, book: OrderBook, winner: domain.OrderRequest) -> None:
        self.book, self.winner, self.raced = book, winner, False

    def by_idempotency_key(self, key):
        if not self.raced:
            self.raced = True
            won = domain.place_order("winner", self.winner, "t", key)
            self.book.insert_and_enqueue(won.state, won.messages, "t")
            return None  # what we read before the winner committed
        return self.book.by_idempotency_key(key)

    def insert_and_enqueue(self, order, messages, now):
        self.book.insert_and_enqueue(order, messages, now)


@pytest.mark.parametrize(("winner", "expected"), [(REQUEST, domain.Replay), (replace(REQUEST, amount=1.0), domain.Conflict)])
def test_placement_losing_a_race_for_its_key_answers_as_for_a_retry(kind, tmp_path, winner, expected):
    book = RacingBook(order_book(kind, make_store(kind, "order", tmp_path)), winner)
    result = place(book, "loser", REQUEST, "key-1", "t")
    assert isinstance(result, expected) and result.order.order_id == "winner"

