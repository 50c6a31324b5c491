"""The in-memory stores behave like the services' SQLite stores.

Every transaction a simulated run finished is replayed, in order, through the REAL
`handling.handle_message` on real SQLite databases (system/<service>/store.py and logic.py);
the tables the services' GET endpoints would serve must come out identical, row for row.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from harness.sim import simulate
from system.delivery import logic as delivery_logic
from system.delivery import store as delivery_store
from system.inventory import logic as inventory_logic
from system.inventory import store as inventory_store
from system.messaging.crashpoints import CrashPoints
from system.messaging.handling import handle_message
from system.order import logic as order_logic
from system.order import store as order_store
from system.order.api import order_view
from system.payment import logic as payment_logic
from system.payment import store as payment_store
from system.storage import enqueue, open_database, transaction
from tests.sim.helpers import config

LOGIC = {
    "order": order_logic.LOGIC,
    "inventory": inventory_logic.LOGIC,
    "payment": payment_logic.LOGIC,
    "delivery": delivery_logic.LOGIC,
}


def _replay(journal: list, data_dir: Path) -> dict:
    conns = {}
    for name, logic in LOGIC.items():
        conns[name] = open_database(data_dir / f"{name}.sqlite3", logic.schema)
        if logic.initialise:
            logic.initialise(conns[name])
    for entry in journal:
        if entry[0] == "place":  # POST /orders: the order and its first command, one transaction
            _, order, messages, now = entry
            with transaction(conns["order"]):
                order_store.insert(conns["order"], order)
                enqueue(conns["order"], messages, now)
            continue
        name, msg, ctx, use_outbox = entry
        handle_message(conns[name], LOGIC[name], msg, ctx, CrashPoints(), use_outbox=use_outbox)
    return conns


@pytest.mark.parametrize(
    ("faults", "defects"),
    [
        ("all", ""),
        ("dup=0.3,reorder,crash=0.05,delay", ""),
        ("dup=0.3,dupnew=0.1", "no_inbox_dedup,refund_not_idempotent,release_not_idempotent"),
        ("dupnew=0.2", "unstable_payment_decision"),
        ("dup,crash", "publish_before_commit"),
    ],
)
def test_simulated_tables_equal_sqlite_tables_after_the_same_transactions(tmp_path, faults, defects):
    journal: list = []
    result = simulate(config(seed=4, orders=40, faults=faults, defects=defects), journal=journal)
    conns = _replay(journal, tmp_path)
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
        assert outbox == [row.message.message_id for row in store.outbox], name
        inbox = {r[0] for r in conn.execute("SELECT message_id FROM inbox")}
        assert inbox == store.inbox, name
        conn.close()
