"""Steps at the stock boundary: customers racing for the last units of a scarce product.

Boundary orders are sized like the experiments' (harness.stock_boundary): the stock is read once,
then every order of the race is sent at once, asking for exactly the units that were left or one
unit more. With outcomes forced to succeed, the first reservation keeps what it took, so exactly
one exact order can be served and every other order must be refused; with payments declined, the
units come back and a later reservation may take them again. A rush mixes the scarce-stock
experiment's own order kinds (small orders, exact and one-more orders, ordinary dice orders).
"""

from __future__ import annotations

from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor

from pytest_bdd import parsers, then, when

from harness.bdd.world import SagaWorld
from harness.experiments import load_experiment
from harness.experiments.schedule import OrderPlan, plan_order
from harness.stock_boundary import EXACT, ONE_MORE, available_of, boundary_quantity

RACERS = 8  # concurrent customers: enough to race on two cores, few enough not to queue much
RUSH_SEED = 12  # the rush's orders are the experiment's seeded stream: the same kinds every run
INSUFFICIENT = "insufficient_inventory"


Request = tuple[str, str, int, dict[str, str] | None]  # (label, product, quantity, force)


def _place_at_once(world: SagaWorld, requests: Sequence[Request]) -> list[str | None]:
    """Send (label, product, quantity, force) requests all at once; the order ids, in order."""

    def send(request: Request) -> str | None:
        _, product, quantity, force = request
        response = world.place(product, quantity, 20.0, force=force)
        return response.json()["order_id"] if response.status_code in (200, 201) else None

    with ThreadPoolExecutor(max_workers=RACERS) as pool:
        return list(pool.map(send, requests))


@when(parsers.parse('{exact:d} customers order exactly the units of "{product}" left and {over:d} '
                    'order one unit more, all at once'))
def race_for_the_last_units(saga_world: SagaWorld, exact: int, product: str, over: int) -> None:
    left = available_of(saga_world.client.inventory(), product)
    requests: list[Request] = [("exact", product, boundary_quantity(left, EXACT), None)] * exact
    requests += [("over", product, boundary_quantity(left, ONE_MORE), None)] * over
    ids = _place_at_once(saga_world, requests)
    assert all(ids), f"some boundary orders were refused by the API: {ids}"
    saga_world.notes["boundary"] = {"left": left, "exact": ids[:exact], "over": ids[exact:]}


@when(parsers.parse('a rush of {n:d} orders races for the last units of the scarce product beside dice orders'))
def scarce_rush(saga_world: SagaWorld, n: int) -> None:
    """The scarce-stock experiment's mix, sized against the stock read once before the rush."""
    mix = load_experiment("scarce-stock").load.mix
    plans = [plan_order(RUSH_SEED, i, mix, f"bdd-{saga_world.run_id}") for i in range(n)]
    stock = saga_world.client.inventory()
    sized: list[OrderPlan] = [p.at_stock(available_of(stock, p.product_id)) for p in plans]
    # No force field at all for dice orders: the services' seeded dice decide.
    ids = _place_at_once(saga_world, [(p.kind, p.product_id, p.quantity, p.force or {}) for p in sized])
    assert all(ids), f"some orders of the rush were refused by the API: {ids}"
    saga_world.notes["rush"] = dict(zip(ids, sized, strict=True))


def _boundary(world: SagaWorld) -> tuple[int, dict[str, dict], dict[str, dict]]:
    noted = world.notes["boundary"]
    orders = world.finish(noted["exact"] + noted["over"])
    return noted["left"], {i: orders[i] for i in noted["exact"]}, {i: orders[i] for i in noted["over"]}


@then("every order for one unit more failed because of insufficient inventory")
def one_more_refused(saga_world: SagaWorld) -> None:
    _, _, over = _boundary(saga_world)
    served = {i: (o["status"], o["failure_reason"]) for i, o in over.items() if o["failure_reason"] != INSUFFICIENT}
    assert not served, f"orders for more than was left were not refused for insufficient inventory: {served}"


@then("if any unit was left, exactly one order for the units left got them, and the others failed "
      "because of insufficient inventory")
def exactly_one_served(saga_world: SagaWorld) -> None:
    left, exact, _ = _boundary(saga_world)
    served = sorted(i for i, o in exact.items() if o["failure_reason"] != INSUFFICIENT)
    assert len(served) == (1 if left > 0 else 0), f"{left} units were left; orders served: {served} of {exact}"


@then("if any unit was left, some order for the units left got them before its payment was declined")
def served_then_given_back(saga_world: SagaWorld) -> None:
    left, exact, _ = _boundary(saga_world)
    reasons = {i: o["failure_reason"] for i, o in exact.items()}
    assert set(reasons.values()) <= {INSUFFICIENT, "payment_failed"}, reasons
    assert ("payment_failed" in reasons.values()) == (left > 0), f"{left} units were left; outcomes {reasons}"


@then(parsers.parse('no unit of "{product}" is left'))
def nothing_left(saga_world: SagaWorld, product: str) -> None:
    stock = saga_world.client.stock_of(product)
    assert stock["available"] == 0, f"units of {product} still available: {stock}"


@then("the rush reached the boundary: some scarce orders failed because of insufficient inventory, "
      "and no other order did")
def rush_reached_the_boundary(saga_world: SagaWorld) -> None:
    rush: dict[str, OrderPlan] = saga_world.notes["rush"]
    orders = saga_world.finish(list(rush))
    refused = {i for i, o in orders.items() if o["failure_reason"] == INSUFFICIENT}
    scarce = {i for i, p in rush.items() if p.kind.startswith("scarce_")}
    assert refused & scarce, f"no scarce order was refused: {[(rush[i].kind, orders[i]['status']) for i in scarce]}"
    # The plentiful products hold 100,000 units: refusing one of their orders is a bug.
    assert refused <= scarce, f"orders of a plentiful product refused: {sorted(refused - scarce)}"
