"""Steps about orders: placing them, and what the customer and the shop see afterwards.

Outcomes are forced through the order's `force` field (payment and delivery succeed unless a
step says otherwise), so no scenario depends on the 20% payment or 10% delivery dice.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from pytest_bdd import given, parsers, then, when

from harness.bdd.tap import BusTap, first_unique
from harness.bdd.vocabulary import (
    FAILURE_REASONS,
    OUTCOMES,
    SEED_TRACES,
    force_from_row,
    lookup,
    outcome,
)
from harness.bdd.world import DEADLINE_S, SagaWorld, with_broker
from harness.client import SagaClient
from harness.invariants.common import same_money
from harness.waiting import WaitTimeout, wait_until
from system.contracts import SERVICES
from system.styles import style_named


@pytest.fixture
def saga_world(saga_target, saga_client: SagaClient) -> Iterator[SagaWorld]:
    """The scenario's shared context. Teardown heals every fault the scenario left behind."""
    world = SagaWorld(saga_target, saga_client)
    with world.cleanup:
        yield world


def events(order: dict) -> list[str]:
    return [h["event"] for h in order.get("history") or ()]


def finished_order(world: SagaWorld, order_id: str | None = None) -> dict:
    order_id = order_id or world.order_id
    return world.finish([order_id])[order_id]


# -- Given -------------------------------------------------------------------------------------
@given("the saga system is running")
def system_running(saga_world: SagaWorld) -> None:
    wait_until(lambda: {s: saga_world.client.ready(s) for s in SERVICES}, lambda r: all(ok for ok, _ in r.values()),
               DEADLINE_S, what="every service to be ready")
    # Letters parked before this scenario began belong to whoever parked them, not to us.
    saga_world.expected_dead_letters |= saga_world.dead_letter_ids()


@given("the message bus is being recorded")
def bus_recorded(saga_world: SagaWorld) -> None:
    tap = BusTap(saga_world.target.endpoints.amqp_url)
    with_broker(tap.start)
    saga_world.tap = tap
    saga_world.cleanup.callback(tap.stop)


@given("the payment provider will decline the payment")
def payment_declines(saga_world: SagaWorld) -> None:
    saga_world.force = dict(OUTCOMES["payment failed"].force)


@given("the courier will fail to schedule the delivery")
def delivery_fails(saga_world: SagaWorld) -> None:
    saga_world.force = dict(OUTCOMES["delivery failed"].force)


@given(parsers.parse('the stock of "{product}" is noted'))
def note_stock(saga_world: SagaWorld, product: str) -> None:
    saga_world.notes[f"stock:{product}"] = saga_world.client.stock_of(product)


# -- When --------------------------------------------------------------------------------------
ORDER = r'a customer orders (?P<quantity>\d+) units? of "(?P<product>[^"]+)" for (?P<amount>\d+(?:\.\d+)?)'


@when(parsers.re(ORDER))
def customer_orders(saga_world: SagaWorld, quantity: str, product: str, amount: str) -> None:
    response = saga_world.place(product, int(quantity), float(amount))
    assert response.status_code == 201, f"order refused: HTTP {response.status_code} {response.text}"
    saga_world.notes["request"] = (product, int(quantity), float(amount))


@when(parsers.re(ORDER + r' with Idempotency-Key "(?P<key>[^"]+)"'))
def customer_orders_with_key(saga_world: SagaWorld, quantity: str, product: str, amount: str, key: str) -> None:
    response = saga_world.place(product, int(quantity), float(amount), idempotency_key=saga_world.key(key))
    assert response.status_code == 201, f"order refused: HTTP {response.status_code} {response.text}"
    saga_world.notes["request"] = (product, int(quantity), float(amount))


@when(parsers.parse('the customer sends the same request again with Idempotency-Key "{key}"'))
def same_request_again(saga_world: SagaWorld, key: str) -> None:
    product, quantity, amount = saga_world.notes["request"]
    saga_world.place(product, quantity, amount, idempotency_key=saga_world.key(key))


@when(parsers.parse('the customer sends a different request with Idempotency-Key "{key}"'))
def different_request(saga_world: SagaWorld, key: str) -> None:
    product, quantity, amount = saga_world.notes["request"]
    saga_world.place(product, quantity + 1, amount, idempotency_key=saga_world.key(key))


@when("customers place these orders:")
def place_these(saga_world: SagaWorld, datatable: list[list[str]]) -> None:
    """Columns product, quantity, amount, and either outcome (checked later by "every order ends
    as expected") or payment/delivery ("succeed", "fail" or blank: blank leaves it to the dice)."""
    header, *rows = datatable
    expected = saga_world.notes.setdefault("expected", {})
    for row in rows:
        cells = dict(zip(header, row, strict=True))
        wanted = outcome(cells["outcome"]) if "outcome" in cells else None
        force = wanted.force if wanted else force_from_row(cells.get("payment", ""), cells.get("delivery", ""))
        response = saga_world.place(cells["product"], int(cells["quantity"]), float(cells["amount"]), force=force)
        assert response.status_code == 201, f"order {cells} refused: HTTP {response.status_code} {response.text}"
        if wanted:
            expected[saga_world.order_id] = wanted


# -- Then: the order ---------------------------------------------------------------------------
@then("the order is completed")
def order_completed(saga_world: SagaWorld) -> None:
    order = finished_order(saga_world)
    assert order["status"] == "completed", f"order {order['order_id']} is {order['status']} ({order['failure_reason']})"


@then(parsers.parse("the order fails because {reason}"))
def order_fails(saga_world: SagaWorld, reason: str) -> None:
    wanted = lookup(FAILURE_REASONS, reason, "failure reason")
    order = finished_order(saga_world)
    assert (order["status"], order["failure_reason"]) == ("failed", wanted), (
        f"order {order['order_id']} is {order['status']} ({order['failure_reason']}), expected failed ({wanted})"
    )


@then("the order's events are, in order:")
def order_events_table(saga_world: SagaWorld, datatable: list[list[str]]) -> None:
    wanted = [row[0].strip() for row in datatable]
    got = events(finished_order(saga_world))
    assert got == wanted, f"the order's events differ:\n got:      {got}\n expected: {wanted}"


@then(parsers.parse("the order followed the seed's {path}"))
def order_followed(saga_world: SagaWorld, path: str) -> None:
    wanted = list(lookup(SEED_TRACES, path, "seed path"))
    got = events(finished_order(saga_world))
    assert got == wanted, f"the order's events differ:\n got:      {got}\n expected: {wanted}"


@then("the message bus carried the same events for the order")
def bus_agrees(saga_world: SagaWorld) -> None:
    tap = saga_world.tap
    assert tap is not None, 'add "Given the message bus is being recorded" to the scenario'
    # What the bus carries for this history in the system's style (the history itself in the
    # orchestration; in a choreography, order.placed and the events: system/styles.py).
    history = list(style_named(saga_world.target.style).bus_trace(tuple(events(finished_order(saga_world)))))
    # The last reply may still be on its way to the tap when the order already shows it.
    seen: object
    try:
        seen = wait_until(lambda: [m.routing_key for m in first_unique(tap.of_order(saga_world.order_id))],
                          lambda keys: len(keys) >= len(history), 10, what="the bus to carry every event of the order")
    except WaitTimeout as exc:
        seen = exc.last
    assert seen == history, f"the bus and the order disagree:\n bus:   {seen}\n order: {history}"


@then("every order finishes")
def every_order_finishes(saga_world: SagaWorld) -> None:
    saga_world.finish()


@then("every order ends as expected, along the seed's path for its outcome")
def every_order_as_expected(saga_world: SagaWorld) -> None:
    expected = saga_world.notes.get("expected", {})
    orders = saga_world.finish(list(expected))
    wrong = []
    for order_id, wanted in expected.items():
        order = orders[order_id]
        got = (order["status"], order["failure_reason"], tuple(events(order)))
        if got != (wanted.status, wanted.failure_reason, wanted.trace):
            wrong.append({"order": order_id, "expected": wanted.name, "got": got})
    assert not wrong, f"{len(wrong)} of {len(expected)} orders ended wrong: {wrong}"


# -- Then: money, deliveries, stock ------------------------------------------------------------
@then(parsers.parse("the customer was charged {amount:f} once"))
def charged_once(saga_world: SagaWorld, amount: float) -> None:
    payments = saga_world.client.payments(saga_world.order_id)
    assert len(payments) == 1, f"expected one payment, found {payments}"
    [payment] = payments
    assert payment["status"] == "completed" and same_money(payment["amount"], amount), payment
    assert same_money(payment.get("refunded_amount") or 0.0, 0.0), payment


@then("the customer was not charged")
def not_charged(saga_world: SagaWorld) -> None:
    payments = saga_world.client.payments(saga_world.order_id)
    charged = [p for p in payments if p["status"] != "failed"]
    assert not charged, f"the customer was charged: {charged}"


@then(parsers.parse("the customer's payment of {amount:f} was refunded in full"))
def refunded(saga_world: SagaWorld, amount: float) -> None:
    payments = saga_world.client.payments(saga_world.order_id)
    assert len(payments) == 1, f"expected one payment, found {payments}"
    [payment] = payments
    assert payment["status"] == "refunded", payment
    assert same_money(payment["amount"], amount) and same_money(payment["refunded_amount"], amount), payment


@then("one delivery is scheduled for the order")
def one_delivery(saga_world: SagaWorld) -> None:
    deliveries = saga_world.client.deliveries(saga_world.order_id)
    assert [d["status"] for d in deliveries] == ["scheduled"], f"deliveries: {deliveries}"


@then("no delivery is scheduled for the order")
def no_delivery(saga_world: SagaWorld) -> None:
    scheduled = [d for d in saga_world.client.deliveries(saga_world.order_id) if d["status"] == "scheduled"]
    assert not scheduled, f"a delivery is scheduled: {scheduled}"


@then(parsers.parse('{quantity:d} units of "{product}" are held for the order'))
def units_held(saga_world: SagaWorld, quantity: int, product: str) -> None:
    held = [
        (r["product_id"], r["quantity"])
        for r in saga_world.client.reservations(saga_world.order_id)
        if r["status"] == "reserved"
    ]
    assert held == [(product, quantity)], f"held for the order: {held}"


@then("no stock is held for the order")
def nothing_held(saga_world: SagaWorld) -> None:
    held = [r for r in saga_world.client.reservations(saga_world.order_id) if r["status"] == "reserved"]
    assert not held, f"stock still held: {held}"


@then(parsers.parse('the stock of "{product}" is as noted'))
def stock_as_noted(saga_world: SagaWorld, product: str) -> None:
    noted = saga_world.notes[f"stock:{product}"]
    now = saga_world.client.stock_of(product)
    assert (now["available"], now["reserved"]) == (noted["available"], noted["reserved"]), (
        f"stock of {product} was {noted}, now {now}"
    )


@then("every product's stock adds up")
def stock_adds_up(saga_world: SagaWorld) -> None:
    wrong = [p for p in saga_world.client.inventory() if p["available"] + p["reserved"] != p["initial"]]
    assert not wrong, f"available + reserved != initial for {wrong}"


# -- Then: idempotency -------------------------------------------------------------------------
@then("both answers name the same order")
def same_order(saga_world: SagaWorld) -> None:
    first, again = saga_world.responses[-2:]
    assert first.json()["order_id"] == again.json()["order_id"], (first.text, again.text)


@then("the retry was answered as a replay")
def answered_as_replay(saga_world: SagaWorld) -> None:
    first, again = saga_world.responses[-2:]
    assert (first.status_code, again.status_code) == (201, 200), (first.status_code, again.status_code)


@then("the different request is refused as a conflict")
def refused_conflict(saga_world: SagaWorld) -> None:
    last = saga_world.responses[-1]
    assert last.status_code == 409, f"expected 409 Conflict, got {last.status_code} {last.text}"


@then(parsers.parse('exactly one order carries Idempotency-Key "{key}"'))
def one_order_per_key(saga_world: SagaWorld, key: str) -> None:
    carrying = [o["order_id"] for o in saga_world.client.orders() if o.get("idempotency_key") == saga_world.key(key)]
    assert len(carrying) == 1, f"orders carrying the key: {carrying}"
