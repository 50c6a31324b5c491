"""Issue #16's acceptance on the real system, in both saga styles: SAGA_STEP_TIMEOUT=3 and the
payment service cut off from the broker (its Toxiproxy link disabled). Orders end `failed` with
`timeout:payment` within seconds; once the link is back every late charge is refunded and every
reservation released, and `saga-harness check` passes (every invariant, the deadline ones too).

Each style runs on a fresh instance of its own (SAGA_TEST_PORT_BASE + 200 / + 400: offsets no other
suite instance uses). `make test`
runs the session's style (SAGA_STYLE) only; `make test-deadlines` both (SAGA_TEST_BOTH_STYLES=1).
The time to terminal of each order is printed (`pytest -s`) and written to $SAGA_DEADLINE_FIGURES if set.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import pytest

from harness.client import SagaClient
from harness.faults.network import NetworkFaults
from harness.invariants import check_all
from harness.model import History, passed
from harness.pytest_plugin import TEST_PORT_BASE
from harness.recorder import Recorder
from harness.runner.local import LocalSystem
from harness.toxiproxy.client import ToxiproxyClient
from harness.waiting import wait_until
from system.contracts import ORDER_PLACED, ORDER_TIMED_OUT, TIMEOUT_TRACES
from system.deadlines import seconds_between
from system.styles import STYLES, env_style
from tests.integration.helpers import place, trace

STEP_TIMEOUT = 3.0
ORDERS = 5
SUCCEED = {"payment": "succeed", "delivery": "succeed"}

pytestmark = [pytest.mark.fault, pytest.mark.slow]


@pytest.fixture(scope="module", params=STYLES)
def deadline_system(request: pytest.FixtureRequest) -> Iterator[tuple[str, LocalSystem]]:
    if os.environ.get("SAGA_TARGET", "local") != "local":
        pytest.skip("needs an instance of its own, started with SAGA_STEP_TIMEOUT")
    if request.param != env_style().name and os.environ.get("SAGA_TEST_BOTH_STYLES") != "1":
        pytest.skip("the other style: make test-deadlines runs both")
    from harness.runner.instance import fresh_isolated_env

    style = request.param
    name = f"{os.environ.get('SAGA_TEST_INSTANCE', 'test')}_deadlines_{style[:5]}"
    port_base = int(os.environ.get("SAGA_TEST_PORT_BASE", TEST_PORT_BASE)) + (200, 400)[STYLES.index(style)]
    env = {**fresh_isolated_env(name, port_base), "SAGA_STYLE": style, "SAGA_STEP_TIMEOUT": str(STEP_TIMEOUT)}
    system = LocalSystem(env=env, say=lambda line: None)
    system.up(chaos=True, timeout=90)
    try:
        yield style, system
    finally:
        if os.environ.get("SAGA_KEEP_RUNNING") != "1":
            system.down()


def test_payment_cut_off_orders_time_out_and_every_late_charge_is_undone(deadline_system):
    style, system = deadline_system
    endpoints = system.endpoints()
    faults = NetworkFaults(ToxiproxyClient(endpoints.toxiproxy_url))
    with Recorder(endpoints.amqp_url) as recorder, SagaClient(endpoints) as client:
        # Cut off: open connections drop, new ones are refused.
        faults.partition_now("payment")
        try:
            wait_until(lambda: client.ready("payment"), lambda r: not r[0], 20,
                       what="payment to report its broker link down")
            placed_at: dict[str, float] = {}

            def one(i: int) -> str:
                order_id = place(client, product_id="product_1", quantity=1, amount=10.0 + i, force=SUCCEED)
                placed_at[order_id] = time.monotonic()
                return order_id

            with ThreadPoolExecutor(ORDERS) as pool:
                ids = list(pool.map(one, range(ORDERS)))
            ended_at: dict[str, float] = {}

            def all_ended() -> dict[str, dict]:
                orders = {o["order_id"]: o for o in client.orders() if o["order_id"] in ids}
                for order_id, order in orders.items():
                    if order["status"] in ("completed", "failed"):
                        ended_at.setdefault(order_id, time.monotonic())
                return orders

            final = wait_until(all_ended, lambda os_: len(ended_at) == len(ids), 4 * STEP_TIMEOUT + 10,
                               what="every order to end while payment is cut off", poll=0.05)
            # While still cut off: every order failed by its payment deadline, with the timeout in its history.
            for order_id in ids:
                order = final[order_id]
                assert (order["status"], order["failure_reason"]) == ("failed", "timeout:payment"), order
                assert trace(order) == TIMEOUT_TRACES["timeout:payment"], order
            seen_by_client = {i: round(ended_at[i] - placed_at[i], 3) for i in ids}
            by_order_row = {i: round(seconds_between(final[i]["created_at"], final[i]["history"][-1]["at"]), 3)
                            for i in ids}
        finally:
            faults.heal_all()
        # After heal: the late charges happen and are refunded, the reservations are released.
        wait_until(lambda: client.read_state(include_broker=True), _undone(ids), 60,
                   what="every late charge refunded and the system quiescent", poll=0.5)
        time.sleep(1.0)  # late answers still on their way land before the recording ends
        recorder.drain()
        messages = recorder.messages()
        state = client.read_state(include_broker=True)
    figures = {"style": style, "step_timeout_s": STEP_TIMEOUT, "orders": ORDERS,
               "time_to_terminal_client_s": seen_by_client, "time_to_terminal_row_s": by_order_row}
    print(json.dumps(figures))
    if out := os.environ.get("SAGA_DEADLINE_FIGURES"):
        with open(out, "a") as f:
            f.write(json.dumps(figures) + "\n")
    assert all(STEP_TIMEOUT <= t <= STEP_TIMEOUT + 2 for t in by_order_row.values()), by_order_row
    payments = [p for p in state.payments if p["order_id"] in ids]
    charged_late = [p for p in payments if p["status"] == "refunded" and p["refunded_amount"] == p["amount"]]
    assert len(charged_late) + sum(p["status"] == "cancelled" for p in payments) == ORDERS, payments
    assert all(r["status"] == "released" for r in state.reservations if r["order_id"] in ids)
    if style == "choreography":  # the order service's second (and last) message: only on a timeout
        by_order_service = [m.routing_key for m in messages if m.app_id == "order" and not m.redelivered]
        assert sorted(set(by_order_service)) == [ORDER_PLACED, ORDER_TIMED_OUT]
        assert len(by_order_service) == 2 * ORDERS
    decisions = _decisions(system)
    verdicts = check_all(History(messages=messages, style=style), state, order_ids=ids, decisions=decisions)
    assert all(passed(v) for v in verdicts), [(v.name, v.valid, v.counterexamples[:2]) for v in verdicts
                                               if not passed(v)]
    assert next(v for v in verdicts if v.name == "no_effect_after_timeout").valid is True
    assert next(v for v in verdicts if v.name == "bounded_termination").valid is True
    # ...and the command line's check, as an operator runs it on this instance.
    check = subprocess.run([sys.executable, "-m", "harness.cli", "check", "--style", style], env=system.env,
                           capture_output=True, text=True, timeout=120)
    assert check.returncode == 0, check.stdout + check.stderr


def _undone(ids: list[str]):
    def done(state) -> bool:
        payments = {p["order_id"]: p for p in state.payments if p["order_id"] in ids}
        held = [r for r in state.reservations if r["order_id"] in ids and r["status"] == "reserved"]
        settled = all(p["status"] in ("refunded", "cancelled") for p in payments.values()) and len(payments) == len(ids)
        return settled and not held and not any(state.queues.values())
    return done


def _decisions(system: LocalSystem):
    from harness.dice import decisions_from_env

    return decisions_from_env(system.env)
