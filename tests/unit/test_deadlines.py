"""Step deadlines (issue #16): the one decision, the durable timer on every store adapter (a
restart of the order service keeps it), firing through the messaging core (idempotent), and a
reply racing its deadline. PostgreSQL schemas here are saga_deadlines_*, dropped afterwards."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from system.config import ConfigError, step_timeouts
from system.contracts import (
    INVENTORY_RELEASE,
    INVENTORY_RESERVED,
    HandlerContext,
    Message,
    caused_by,
)
from system.deadlines import SAGA_DEADLINE, StepTimeouts, Timer, add_seconds, due, timer_message
from system.decisions import DecisionConfig
from system.messaging.handling import handle_message
from system.order import domain
from system.order.deadlines import handle
from system.order.memory import MemoryOrderBook, OrderTables
from system.order.placement import Placed, place
from system.order.store import TABLES, SqlOrderBook, armed_timers
from system.stores.memory import MemoryStore
from system.stores.sqlite import SqliteStore
from tests.postgres import URL, reachable

T0 = "2024-01-01T00:00:00.000000Z"
TIMEOUTS = StepTimeouts(3.0)
REQUEST = domain.OrderRequest("u1", "product_1", 2, 19.99)


def ctx(now: str) -> HandlerContext:
    return HandlerContext(now, DecisionConfig(timeouts=TIMEOUTS))


class NoHooks:
    def before_commit(self, msg: Message) -> None:
        pass


def test_the_decision_fires_at_and_after_the_deadline_never_before():
    timer = Timer("o1", SAGA_DEADLINE, "payment", add_seconds(T0, 3))
    assert due([timer], add_seconds(T0, 2.999999)) == []
    assert due([timer], add_seconds(T0, 3)) == [timer]
    assert due([timer], add_seconds(T0, 3.5)) == [timer]


def test_step_timeout_settings():
    assert not step_timeouts({}).enabled
    both = step_timeouts({"SAGA_STEP_TIMEOUT": "3", "SAGA_STEP_TIMEOUT_PAYMENT": "7.5"})
    assert (both.for_step("inventory"), both.for_step("payment"), both.total()) == (3.0, 7.5, 13.5)
    with pytest.raises(ConfigError):
        step_timeouts({"SAGA_STEP_TIMEOUT": "-1"})


class Adapter:
    """An order store of one kind, that can be 'restarted' (closed and opened again)."""

    def __init__(self, kind: str, tmp_path: Path) -> None:
        self.kind, self.tmp_path = kind, tmp_path
        self.schema = f"saga_deadlines_{uuid.uuid4().hex[:10]}"
        self.memory = MemoryStore(OrderTables())
        self.store: Any = self._open()

    def _open(self) -> Any:
        if self.kind == "sqlite":
            return SqliteStore.open(self.tmp_path / "order.sqlite3", TABLES)
        if self.kind == "postgres":
            from system.stores.postgres import PgStore

            return PgStore.open(URL, self.schema, TABLES)
        return self.memory  # the simulator's: a restart keeps its committed tables

    def restart(self) -> None:
        if self.kind != "memory":
            self.store.close()
        self.store = self._open()

    def book(self) -> Any:
        return MemoryOrderBook(self.store) if self.kind == "memory" else SqlOrderBook(self.store)

    def armed(self) -> list[Timer]:
        return self.store.tables.armed_timers(10) if self.kind == "memory" else armed_timers(self.store.conn, 10)

    def close(self) -> None:
        if self.kind == "postgres":
            from system.stores.postgres import drop_schema

            self.store.close()
            drop_schema(URL, self.schema)
        elif self.kind == "sqlite":
            self.store.close()


@pytest.fixture(params=["sqlite", "postgres", "memory"])
def adapter(request, tmp_path: Path) -> Iterator[Adapter]:
    if request.param == "postgres" and (why := reachable()):
        pytest.skip(why)
    made = Adapter(request.param, tmp_path)
    yield made
    made.close()


def test_the_deadline_is_committed_with_the_step_survives_a_restart_and_fires_once(adapter: Adapter):
    placed = place(adapter.book(), "o1", REQUEST, None, T0, timeouts=TIMEOUTS)
    assert isinstance(placed, Placed) and placed.order.deadline == add_seconds(T0, 3)
    reserved = Message("r1", INVENTORY_RESERVED, "o1", {"product_id": "product_1", "quantity": 2}, T0, "c")
    assert handle_message(adapter.store, handle, reserved, ctx(add_seconds(T0, 1)), hooks=NoHooks()) is not None
    adapter.restart()  # the order service crashed and came back: the timer is in its row
    (timer,) = adapter.armed()
    assert timer == Timer("o1", SAGA_DEADLINE, "payment", add_seconds(T0, 4))
    now = add_seconds(T0, 4)
    assert due(adapter.armed(), add_seconds(T0, 3.9)) == []
    outcome = handle_message(adapter.store, handle, timer_message(timer, now), ctx(now), hooks=NoHooks())
    assert outcome is not None and outcome.state.status == "failed"
    assert outcome.state.failure_reason == "timeout:payment" and "timeout:payment" in [h.event for h in outcome.state.history]
    assert [m.type for m in outcome.messages] == ["payment.refund", INVENTORY_RELEASE]
    # Fired again (another replica, a crash after commit): the same message, a duplicate.
    assert handle_message(adapter.store, handle, timer_message(timer, now), ctx(now), hooks=NoHooks()) is None
    assert adapter.armed() == []
    # A late reply never revives the saga.
    late = caused_by(Message("p", "payment.process", "o1", {}, T0, "r1"), "payment.completed", {}, now)
    after = handle_message(adapter.store, handle, late, ctx(add_seconds(now, 1)), hooks=NoHooks())
    assert after is not None and after.state.status == "failed" and after.messages == ()


def test_a_reply_that_commits_first_disarms_its_deadline():
    store = MemoryStore(OrderTables())
    place(MemoryOrderBook(store), "o1", REQUEST, None, T0, timeouts=TIMEOUTS)
    (timer,) = store.tables.armed_timers(10)
    at = timer.at
    reply = Message("r1", INVENTORY_RESERVED, "o1", {"product_id": "product_1", "quantity": 2}, at, "c")
    outcome = handle_message(store, handle, reply, ctx(at), hooks=NoHooks())
    assert outcome is not None and outcome.state.status == "inventory_reserved"
    fired = handle_message(store, handle, timer_message(timer, at), ctx(at), hooks=NoHooks())
    assert fired is not None and fired.messages == () and fired.state.status == "inventory_reserved"
    assert [t.step for t in store.tables.armed_timers(10)] == ["payment"]


# -- retries of transient gateway errors -------------------------------------------------------
def test_a_flaky_gateway_is_retried_with_growing_capped_spacing_and_charges_once():
    from system.contracts import TransientFailure
    from system.decisions import RETRY_CAP_S, first_good_attempt, retry_delay_s
    from system.payment import domain as payment

    dice = DecisionConfig(seed=7, payment_failure_rate=0.0, payment_transient_failure_rate=0.6, max_retries=3)
    order_id = next(o for o in (f"o{i}" for i in range(200)) if first_good_attempt(dice, o, None) == 3)
    command = Message("m1", "payment.process", order_id, {"user_id": "u", "amount": 5.0}, T0, "c")
    for attempt in (1, 2):
        with pytest.raises(TransientFailure) as failed:
            payment.handle(None, command, HandlerContext(T0, dice, attempt))
        assert failed.value.delay_s == retry_delay_s(dice, order_id, attempt)
    charged = payment.handle(None, command, HandlerContext(T0, dice, 3))
    assert charged.state.status == "completed" and charged.messages[0].payload["retries"] == 2
    delays = charged.messages[0].payload["retry_delays_s"]
    assert delays == sorted(delays) and all(d <= RETRY_CAP_S for d in delays)
    again = payment.handle(charged.state, command, HandlerContext(T0, dice, 4))  # a redelivery
    assert again.state == charged.state and again.messages[0].type == "payment.completed"


def test_a_gateway_down_for_every_allowed_attempt_declines_the_payment():
    from system.decisions import first_good_attempt, payment_fails
    from system.payment import domain as payment

    dice = DecisionConfig(seed=1, payment_failure_rate=0.0, payment_transient_failure_rate=0.9, max_retries=1)
    order_id = next(o for o in (f"o{i}" for i in range(200)) if first_good_attempt(dice, o, None) is None)
    assert payment_fails(dice, order_id, None)  # what the checker's dice say too
    declined = payment.handle(None, Message("m1", "payment.process", order_id, {"user_id": "u", "amount": 5.0}, T0, "c"),
                              HandlerContext(T0, dice, 2))
    assert declined.state.status == "failed" and declined.messages[0].payload["reason"] == "gateway_unavailable"
