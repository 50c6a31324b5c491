"""The services ride through real TCP faults on their AMQP links (through Toxiproxy)."""

import time
from concurrent.futures import ThreadPoolExecutor

import pytest

from harness.faults.network import NetworkFaults
from harness.invariants import check_all
from harness.model import History, passed
from harness.toxiproxy.client import ToxiproxyClient
from harness.waiting import wait_until
from system.styles import env_style
from tests.integration.helpers import place

SUCCEED = {"payment": "succeed", "delivery": "succeed"}


@pytest.fixture
def faults(saga_target):
    if not saga_target.endpoints.toxiproxy_url:
        pytest.skip("the target has no Toxiproxy")
    nf = NetworkFaults(ToxiproxyClient(saga_target.endpoints.toxiproxy_url))
    yield nf
    nf.heal_all()


def _batch(client, n: int, **kwargs) -> list[str]:
    with ThreadPoolExecutor(8) as pool:
        return list(pool.map(lambda i: place(client, product_id="product_1", quantity=1, amount=5.0 + i, **kwargs), range(n)))


def _consistent(client, ids: list[str]) -> None:
    verdicts = check_all(History(), client.read_state(include_broker=False), order_ids=set(ids),
                         only=["stock_conserved", "availability_non_negative", "no_orphan_reservation",
                               "completed_order_charged_once", "failed_order_not_charged",
                               "nobody_charged_twice", "orders_terminal", "trace_legal"])
    broken = {v.name: v.counterexamples[:3] for v in verdicts if not passed(v)}
    assert not broken, broken


def test_sagas_complete_with_200ms_latency_on_every_link(saga_client, faults):
    with faults.latency("all", ms=200, stream="both"):
        started = time.monotonic()
        ids = _batch(saga_client, 6, force=SUCCEED)
        final = saga_client.wait_terminal(ids, timeout=90)
        took = time.monotonic() - started
    assert all(final[i]["status"] == "completed" for i in ids), final
    # The latency was really there: each message on the success path crosses two slowed links
    # (publisher's, receiver's) at >= 200 ms: six messages in the orchestration, four in a choreography.
    assert took > 0.4 * len(env_style().bus_traces["completed"])
    _consistent(saga_client, ids)


def test_payment_partitioned_for_10s_mid_batch_then_everything_finishes(saga_client, faults):
    before = _batch(saga_client, 5)
    with faults.partition("payment"):
        # The payment service notices, says so, and keeps serving reads.
        ready, reason = wait_until(lambda: saga_client.ready("payment"), lambda r: not r[0], 20,
                                   what="payment to report its broker link down")
        assert not ready and "broker" in reason
        assert saga_client.http.get(saga_client.endpoints.services["payment"] + "/payments").status_code == 200
        during = _batch(saga_client, 5)
        time.sleep(10)  # the partition lasts 10 s by design; orders wait at payment meanwhile
        waiting = [saga_client.order(i)["status"] for i in during]
        assert "completed" not in waiting and "failed" not in waiting, waiting
    wait_until(lambda: saga_client.ready("payment"), lambda r: r[0], 30, what="payment to be ready again")
    ids = before + during
    final = saga_client.wait_terminal(ids, timeout=90)
    assert all(final[i]["status"] in ("completed", "failed") for i in ids), final
    _consistent(saga_client, ids)


def test_reset_peer_on_the_inventory_link_reconnects_and_loses_nothing(saga_client, faults):
    with faults.reset_peer("inventory", timeout_ms=0, stream="both"):
        ids = _batch(saga_client, 4, force=SUCCEED)
        wait_until(lambda: saga_client.ready("inventory"), lambda r: not r[0], 15, what="inventory to notice the cut")
        time.sleep(1)
    wait_until(lambda: saga_client.ready("inventory"), lambda r: r[0], 30, what="inventory to be ready again")
    final = saga_client.wait_terminal(ids, timeout=60)
    assert all(final[i]["status"] == "completed" for i in ids), final
    _consistent(saga_client, ids)
