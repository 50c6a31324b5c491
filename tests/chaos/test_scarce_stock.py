"""The scarce-stock experiment reaches the stock boundary on real processes: on a fresh instance
(product_3 at its opening 50 units) a short run ends valid with product_3 orders served and
others refused for insufficient inventory, every order terminal."""

from __future__ import annotations

import json

import pytest

from harness.experiments import load_experiment
from harness.experiments.rundir import HISTORY, OPERATIONS
from harness.experiments.runner import run_experiment
from harness.stock_boundary import SCARCE_PRODUCT
from system.catalog import INITIAL_STOCK
from tests.chaos.instances import fresh_local_target

pytestmark = [pytest.mark.integration, pytest.mark.slow]

SEED = 20240611


@pytest.fixture(scope="module")
def scarce_run(saga_target, tmp_path_factory):
    if saga_target.system is None:
        pytest.skip("needs a fresh local instance: the scarce product's stock must be untouched")
    experiment = load_experiment("scarce-stock").with_load(40, 8.0)
    with fresh_local_target("scarce", 600) as target:
        yield run_experiment(experiment, target, seed=SEED, runs_dir=tmp_path_factory.mktemp("runs"), render=False)


def _rows(path):
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def test_a_scarce_stock_run_ends_valid_with_served_and_refused_orders(scarce_run):
    results = scarce_run.results
    failing = [v for v in results["verdicts"] if v["valid"] is not True]
    assert scarce_run.exit_code == 0 and results["valid"] is True, (results["errors"], failing)
    state = json.loads((scarce_run.run_dir / "state.json").read_text())
    scope = set(results["check"]["order_ids"])
    scarce = [o for o in state["orders"] if o["order_id"] in scope and o["product_id"] == SCARCE_PRODUCT]
    assert all(o["status"] in ("completed", "failed") for o in state["orders"] if o["order_id"] in scope)
    completed = [o for o in scarce if o["status"] == "completed"]
    refused = [o for o in scarce if o["failure_reason"] == "insufficient_inventory"]
    assert completed, "no product_3 order was served"
    # Refused for want of stock at that moment, not for asking more than was ever stocked.
    assert [o for o in refused if o["quantity"] <= INITIAL_STOCK[SCARCE_PRODUCT]], refused
    [stock] = [p for p in state["inventory"] if p["product_id"] == SCARCE_PRODUCT]
    assert stock["reserved"] == sum(o["quantity"] for o in completed)  # completed orders keep their units


def test_an_order_for_exactly_the_units_left_was_served(scarce_run):
    """The boundary itself: some order sized to the whole remaining stock got it reserved."""
    exact = {op["value"]["order_id"] for op in _rows(scarce_run.run_dir / OPERATIONS)
             if op["type"] == "ok" and op["value"].get("kind") == "scarce_exact"}
    sized = {op["value"]["index"]: op["value"]["stock_seen"] for op in _rows(scarce_run.run_dir / OPERATIONS)
             if op["type"] == "invoke" and op["value"].get("kind") == "scarce_exact" and op["value"].get("stock_seen")}
    reserved = {m["order_id"] for m in _rows(scarce_run.run_dir / HISTORY) if m["routing_key"] == "inventory.reserved"}
    assert sized, "no exact-boundary order saw any stock left"
    assert exact & reserved, "no order for exactly the units left got them"
