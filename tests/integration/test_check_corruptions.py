"""`saga-harness check` alone (no recording) on a settled system: exit 1 naming the invariant after
any single corruption of the services' stores, exit 0 again once it is undone (issue #12).

Its own fresh instance (SAGA_TEST_INSTANCE + "-check", ports SAGA_TEST_PORT_BASE + 500): the
corruptions must not leak into the session's shared system. On SAGA_STORE's engine (SQLite
files, or the instance's PostgreSQL database) and with SAGA_REPLICAS's processes, as the session.
"""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
from collections.abc import Callable, Iterator
from contextlib import closing
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from harness.client import SagaClient
from harness.pytest_plugin import TEST_PORT_BASE
from harness.runner.instance import fresh_isolated_env
from harness.runner.local import LocalSystem
from system.stores.postgres import PgConnection, is_postgres_url, schema_name

SAGA_HARNESS = str(Path(sys.executable).with_name("saga-harness"))


@dataclass
class Settled:
    env: dict[str, str]
    ids: dict[str, str]  # outcome -> order_id

    def sql(self, service: str, statement: str, *args: Any) -> list[tuple]:
        return self.query(service, statement, *args)[1]

    def query(self, service: str, statement: str, *args: Any) -> tuple[list[str], list[tuple]]:
        """(column names, rows) of one statement on the service's store: its SQLite file, or
        with SAGA_STORE=postgresql://... its schema in the instance's database."""
        url = self.env.get("SAGA_STORE")
        if is_postgres_url(url):
            conn = PgConnection(str(url), schema_name(service))
            try:
                cursor = conn.execute(statement, args)
                if cursor.description is None:
                    return [], []
                return [d.name for d in cursor.description], [tuple(r.values()) for r in cursor.fetchall()]
            finally:
                conn.close()
        path = Path(self.env["SAGA_HOME"]) / "data" / f"{service}.sqlite3"
        with closing(sqlite3.connect(path, isolation_level=None)) as con:
            cursor = con.execute(statement, args)
            return [d[0] for d in cursor.description or ()], cursor.fetchall()

    def check(self) -> tuple[int, set[str]]:
        done = subprocess.run([SAGA_HARNESS, "check", "--json"], env=self.env, capture_output=True, text=True,
                              timeout=60)
        verdicts = json.loads(done.stdout)["verdicts"]
        return done.returncode, {v["name"] for v in verdicts if v["valid"] is False}


@pytest.fixture(scope="module")
def settled() -> Iterator[Settled]:
    name = os.environ.get("SAGA_TEST_INSTANCE", "test") + "-check"
    env = fresh_isolated_env(name, int(os.environ.get("SAGA_TEST_PORT_BASE", TEST_PORT_BASE)) + 500)
    system = LocalSystem(env=env, say=lambda line: None)
    system.up(timeout=90)
    try:
        ids = {}
        with SagaClient(system.endpoints()) as client:
            for outcome, force in (("completed", {"payment": "succeed", "delivery": "succeed"}),
                                   ("payment_failed", {"payment": "fail"}),
                                   ("delivery_failed", {"payment": "succeed", "delivery": "fail"})):
                ids[outcome] = client.place_order("product_1", 2, 25.0, user_id="u-1", force=force).json()["order_id"]
            ids["insufficient_inventory"] = client.place_order("product_3", 100, 5.0, user_id="u-1").json()["order_id"]
            client.wait_terminal(list(ids.values()), timeout=30)
        world = Settled(env, ids)
        assert world.check() == (0, set())
        yield world
    finally:
        system.down()


def _rewrite_as_refused(w: Settled) -> Callable[[], None]:
    """A payment failure rewritten with the shorter, legal insufficient_inventory history."""
    order_id = w.ids["payment_failed"]
    ((history, reason),) = w.sql("order", "SELECT history, failure_reason FROM orders WHERE order_id=?", order_id)
    first = json.loads(history)[0]
    shorter = json.dumps([first, {**first, "event": "inventory.failed"}])
    w.sql("order", "UPDATE orders SET history=?, failure_reason='insufficient_inventory' WHERE order_id=?",
          shorter, order_id)
    return lambda: w.sql("order", "UPDATE orders SET history=?, failure_reason=? WHERE order_id=?",
                         history, reason, order_id)


def _vanish(w: Settled) -> Callable[[], None]:
    """The order row of a compensated saga disappears; its payment and reservation stay."""
    order_id = w.ids["payment_failed"]
    columns, (row,) = w.query("order", "SELECT * FROM orders WHERE order_id=?", order_id)
    w.sql("order", "DELETE FROM orders WHERE order_id=?", order_id)
    return lambda: w.sql("order", f"INSERT INTO orders ({','.join(columns)}) VALUES ({','.join('?' * len(columns))})",
                         *row)


def _update(service: str, do: str, undo: str, subject: str) -> Callable[[Settled], Callable[[], None]]:
    """One statement and its inverse on `subject`: the order of that outcome, or a product id."""
    def corrupt(w: Settled) -> Callable[[], None]:
        key = w.ids.get(subject, subject)
        w.sql(service, do, key)
        return lambda: w.sql(service, undo, key)
    return corrupt


CORRUPTIONS = {
    "a payment charged to another user": (
        _update("payment", "UPDATE payments SET user_id='u-2' WHERE order_id=?",
                "UPDATE payments SET user_id='u-1' WHERE order_id=?", "completed"), "cross_service_agreement"),
    "a refunded payment with refunded_amount 0": (
        _update("payment", "UPDATE payments SET refunded_amount=0 WHERE order_id=?",
                "UPDATE payments SET refunded_amount=amount WHERE order_id=?", "delivery_failed"),
        "cross_service_agreement"),
    "an order stored with another amount than it was charged": (
        _update("order", "UPDATE orders SET amount=26.0 WHERE order_id=?",
                "UPDATE orders SET amount=25.0 WHERE order_id=?", "completed"), "cross_service_agreement"),
    "a reservation of another quantity": (
        _update("inventory", "UPDATE reservations SET quantity=3 WHERE order_id=?",
                "UPDATE reservations SET quantity=2 WHERE order_id=?", "payment_failed"), "cross_service_agreement"),
    "an order row vanished after compensation": (_vanish, "cross_service_agreement"),
    "a failed order rewritten with a shorter history and another reason": (_rewrite_as_refused, "outcome_justified"),
    "opening stock lowered together with available": (
        _update("inventory", "UPDATE stock SET initial=initial-10, available=available-10 WHERE product_id=?",
                "UPDATE stock SET initial=initial+10, available=available+10 WHERE product_id=?", "product_2"),
        "cross_service_agreement"),
}


@pytest.mark.parametrize("story", list(CORRUPTIONS))
def test_check_alone_catches_a_store_corruption_and_passes_once_undone(settled: Settled, story: str):
    corrupt, invariant = CORRUPTIONS[story]
    undo = corrupt(settled)
    try:
        code, broken = settled.check()
    finally:
        undo()
    assert code == 1 and invariant in broken, (code, broken)
    assert settled.check() == (0, set())
