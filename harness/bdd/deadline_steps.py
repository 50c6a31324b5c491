"""Steps for step deadlines, late replies and retries (issue #16; features/deadlines.feature).

The system must run with SAGA_STEP_TIMEOUT (and, for retries, PAYMENT_TRANSIENT_FAILURE_RATE);
the checker's dice and deadlines are read from the target's own environment.
"""

from __future__ import annotations

import time

from pytest_bdd import parsers, then, when

from harness.bdd.order_steps import events
from harness.bdd.world import DEADLINE_S, SagaWorld
from harness.dice import decisions_from_env
from harness.invariants import check_all, summary
from harness.model import passed
from harness.runner.local import LocalSystem
from harness.waiting import wait_until


def _order(world: SagaWorld) -> dict:
    order = world.client.order(world.order_id)
    assert order is not None, f"order {world.order_id} is gone"
    return order


@then(parsers.parse('the order fails with "{reason}" within {seconds:d} seconds'))
def fails_in_time(saga_world: SagaWorld, reason: str, seconds: int) -> None:
    started = time.monotonic()
    order = wait_until(lambda: _order(saga_world), lambda o: o["status"] in ("completed", "failed"), seconds + 5,
                       what=f"order {saga_world.order_id} to end", poll=0.1)
    took = time.monotonic() - started
    assert (order["status"], order["failure_reason"]) == ("failed", reason), order
    assert took <= seconds, f"ended after {took:.1f} s, later than {seconds} s"


@then("the order's history shows the timeout")
def history_shows_timeout(saga_world: SagaWorld) -> None:
    order = _order(saga_world)
    assert order["failure_reason"] in events(order), events(order)


@then(parsers.parse('the order is still failed with "{reason}"'))
def still_failed(saga_world: SagaWorld, reason: str) -> None:
    order = _order(saga_world)
    assert (order["status"], order["failure_reason"]) == ("failed", reason), order


@then(parsers.parse('a late "{routing_key}" for the order was on the bus'))
def late_on_bus(saga_world: SagaWorld, routing_key: str) -> None:
    assert saga_world.tap is not None, "the message bus is not being recorded"
    tap = saga_world.tap
    wait_until(lambda: [m for m in tap.messages if m.order_id == saga_world.order_id], 
               lambda ms: any(m.routing_key == routing_key for m in ms), DEADLINE_S,
               what=f"a late {routing_key} for order {saga_world.order_id}")


@then("every effect of the order is undone")
def effects_undone(saga_world: SagaWorld) -> None:
    client, order_id = saga_world.client, saga_world.order_id

    def undone(rows: tuple[list[dict], list[dict], list[dict]]) -> bool:
        payments, reservations, deliveries = rows
        return (all(p["status"] in ("refunded", "cancelled", "failed") for p in payments)
                and all(r["status"] != "reserved" for r in reservations)
                and all(d["status"] != "scheduled" for d in deliveries))

    wait_until(lambda: (client.payments(order_id), client.reservations(order_id), client.deliveries(order_id)),
               undone, DEADLINE_S, what=f"every effect of order {order_id} undone")


@when(parsers.parse("{n:d} orders are placed whose payment the gateway decides"))
def orders_with_gateway_dice(saga_world: SagaWorld, n: int) -> None:
    for i in range(n):
        response = saga_world.place("product_1", 1, 10.0 + i, force={"delivery": "succeed"})
        assert response.status_code == 201, f"order {i} refused: HTTP {response.status_code} {response.text}"


@then("some payment succeeded after a retry")
def succeeded_after_retry(saga_world: SagaWorld) -> None:
    saga_world.client.wait_terminal(saga_world.orders, timeout=DEADLINE_S)
    assert saga_world.tap is not None, "the message bus is not being recorded"
    retried = [m for m in saga_world.tap.messages
               if m.order_id in saga_world.orders and m.routing_key == "payment.completed" and m.payload.get("retries")]
    assert retried, "no payment of this scenario needed a retry"


@then("the payment service counts its retries")
def counts_retries(saga_world: SagaWorld) -> None:
    stats = saga_world.client.stats("payment")  # summed over its replicas
    assert stats.get("retries", 0) > 0, stats


@then("every invariant holds, the deadline and retry ones included")
def invariants_hold_with_deadlines(saga_world: SagaWorld) -> None:
    saga_world.client.wait_terminal(saga_world.orders, timeout=DEADLINE_S)
    saga_world.wait_quiet()
    system = saga_world.target.system
    decisions = decisions_from_env(system.env) if isinstance(system, LocalSystem) else decisions_from_env()
    verdicts = check_all(saga_world.history(), saga_world.state(), order_ids=saga_world.orders,
                         expected_dead_letters=saga_world.expected_dead_letters, decisions=decisions)
    print(summary(verdicts))
    assert all(passed(v) for v in verdicts), "invariants do not all hold:\n" + summary(verdicts)
