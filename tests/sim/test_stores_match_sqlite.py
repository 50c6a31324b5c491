"""The in-memory store adapter behaves like the SQLite one under the very same core.

Every transaction a simulated run finished is replayed, in order, through the same composed
services (system/composition.py, the same defects) on the SQLite adapter, the placements through
the same POST /orders logic; the tables the services' GET endpoints would serve must come out
identical, row for row, and so must the inboxes and outboxes.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from harness.sim import simulate
from system.composition import Service, compose, placement
from system.contracts import Message
from system.delivery import store as delivery_store
from system.inventory import store as inventory_store
from system.order import store as order_store
from system.order.view import order_view
from system.payment import store as payment_store
from system.registry import SERVICE_LOGIC
from system.stores.sqlite import SqliteStore
from tests.sim.helpers import config


class NoHooks:
    def before_commit(self, msg: Message) -> None:
        pass


def _replay(journal: list, data_dir: Path, defects: frozenset) -> dict[str, Service]:
    services = {
        name: compose(
            name, SqliteStore.open(data_dir / f"{name}.sqlite3", logic.sql), NoHooks(),
            defects=defects, new_id=lambda: "unused",
        )
        for name, logic in SERVICE_LOGIC.items()
    }
    place = placement(defects)
    book = order_store.SqlOrderBook(services["order"].store)  # type: ignore[arg-type]
    for entry in journal:
        if entry[0] == "place":  # POST /orders
            _, order_id, request, key, now = entry
            place(book, order_id, request, key, now)
            continue
        name, msg, ctx = entry
        services[name].handling.commit(msg, ctx)
    return services


@pytest.mark.parametrize(
    ("faults", "defects"),
    [
        ("all", ""),
        ("dup=0.3,reorder,crash=0.05,delay,retry=0.3", ""),
        ("handler_error=0.1,publish_fail=0.1,dupnew=0.05,crash", ""),
        ("dup=0.3,dupnew=0.1", "no_inbox_dedup,refund_not_idempotent,release_not_idempotent"),
        ("dupnew=0.2", "unstable_payment_decision,compensation_repeated_on_copy"),
        ("dup,crash", "publish_before_commit"),
        ("retry=0.3", "api_stores_other_field,reserve_off_by_one,relabelled_outcome"),
    ],
)
def test_simulated_tables_equal_sqlite_tables_after_the_same_transactions(tmp_path, faults, defects):
    journal: list = []
    cfg = config(seed=4, orders=40, faults=faults, defects=defects)
    result = simulate(cfg, journal=journal)
    services = _replay(journal, tmp_path, cfg.defects)
    conns = {name: s.store.conn for name, s in services.items()}  # type: ignore[attr-defined]
    state, world = result.state, result.world
    assert world is not None
    assert state.orders == [order_view(o) for o in order_store.list_orders(conns["order"], limit=10_000)]
    assert state.inventory == inventory_store.list_stock(conns["inventory"])
    assert state.reservations == inventory_store.list_reservations(conns["inventory"])
    assert state.payments == payment_store.list_payments(conns["payment"])
    assert state.deliveries == delivery_store.list_deliveries(conns["delivery"])
    for name, conn in conns.items():
        store = world.services[name].store
        outbox = [r[0] for r in conn.execute("SELECT message_id FROM outbox ORDER BY seq")]
        assert outbox == [row.message.message_id for row in store.outbox.rows], name
        inbox = {r[0] for r in conn.execute("SELECT message_id FROM inbox")}
        assert inbox == store.inbox, name
        conn.close()
