"""The seeded plans: one seed, one schedule (that is what --seed replays), spread as declared."""

import json
from dataclasses import replace

from harness.experiments import load_experiment, shipped_paths
from harness.experiments.model import MIX_KINDS
from harness.experiments.schedule import (
    SCARCE_PRODUCT,
    SCARCE_QUANTITY,
    plan_faults,
    plan_order,
    schedule_document,
)
from system.catalog import INITIAL_STOCK
from system.contracts import SERVICES
from system.messaging.crashpoints import CRASH_POINTS


def as_json(experiment, seed):
    return json.dumps(schedule_document(experiment, seed, plan_faults(experiment, seed)), sort_keys=True)


def test_the_same_seed_gives_the_same_schedule_for_every_shipped_experiment():
    for name in shipped_paths():
        experiment = load_experiment(name)
        assert as_json(experiment, 1234) == as_json(load_experiment(name), 1234), name


def test_another_seed_gives_another_schedule():
    experiment = load_experiment("mixed")
    assert as_json(experiment, 1) != as_json(experiment, 2)


def test_adding_a_fault_spec_leaves_the_other_specs_draws_alone():
    experiment = load_experiment("mixed")
    fewer = replace(experiment, faults=experiment.faults[:-1])
    key = lambda f: (f.nemesis, f.kind, f.target, f.at_s, f.duration_s, tuple(sorted(f.params.items())))  # noqa: E731
    full = {key(f) for f in plan_faults(experiment, 9)}
    assert {key(f) for f in plan_faults(fewer, 9)} <= full


def test_crash_loop_plans_every_crash_point_on_every_service_once():
    plan = [f for f in plan_faults(load_experiment("crash-loop"), 5) if f.kind == "crashpoint"]
    combos = sorted((f.target, f.params["point"]) for f in plan)
    assert combos == sorted((s, p) for s in SERVICES for p in CRASH_POINTS)


def test_faults_stay_inside_their_window_and_windows_in_a_lane_do_not_overlap():
    experiment = load_experiment("mixed")
    load_s = experiment.load.duration_s
    plan = plan_faults(experiment, 77)
    for f in plan:
        assert 0 <= f.at_s <= load_s
    for lane in {f.lane for f in plan if f.nemesis in ("network", "duplicates")}:
        faults = sorted((f for f in plan if f.lane == lane), key=lambda f: f.at_s)
        for earlier, later in zip(faults, faults[1:], strict=False):
            assert earlier.at_s + earlier.duration_s <= later.at_s + 1e-6


def test_crash_and_broker_faults_each_share_one_lane():
    plan = plan_faults(load_experiment("mixed"), 3)
    assert len({f.lane for f in plan if f.nemesis == "crash"}) == 1
    assert len({f.lane for f in plan if f.nemesis == "broker"}) == 1


def test_drawn_params_fall_inside_their_ranges():
    for f in plan_faults(load_experiment("latency"), 11):
        if f.target != "order_api":
            assert 100 <= f.params["latency"] <= 500 and 0 <= f.params["jitter"] <= 100
            assert isinstance(f.params["latency"], int)


def test_ids_follow_planned_time():
    plan = plan_faults(load_experiment("mixed"), 5)
    assert [f.id for f in plan] == list(range(len(plan)))
    assert [f.at_s for f in plan] == sorted(f.at_s for f in plan)


def test_the_order_stream_is_a_pure_function_of_seed_and_index():
    mix = load_experiment("mixed").load.mix
    first = [plan_order(42, i, mix, "tag") for i in range(200)]
    assert first == [plan_order(42, i, mix, "tag") for i in range(200)]
    assert first != [plan_order(43, i, mix, "tag") for i in range(200)]
    assert {p.kind for p in first} == {k for k, w in mix.items() if w > 0}


def test_each_order_kind_asks_for_what_its_name_says():
    for kind in MIX_KINDS:
        plan = plan_order(1, 0, {kind: 1}, "t")
        assert plan.kind == kind
        if kind == "insufficient_inventory":
            assert plan.product_id == SCARCE_PRODUCT and plan.quantity == SCARCE_QUANTITY > INITIAL_STOCK[SCARCE_PRODUCT]
        elif kind.startswith("scarce_"):
            assert plan.product_id == SCARCE_PRODUCT
        else:
            assert plan.product_id in ("product_1", "product_2")
        assert (plan.idempotency_key is not None) == (kind == "idempotent_retry")
    assert plan_order(1, 0, {"payment_failure": 1}, "t").force == {"payment": "fail"}
    assert plan_order(1, 0, {"delivery_failure": 1}, "t").force == {"payment": "succeed", "delivery": "fail"}


def test_boundary_orders_are_sized_against_the_stock_read_before_sending():
    exact = plan_order(1, 0, {"scarce_exact": 1}, "t")
    over = plan_order(1, 0, {"scarce_over": 1}, "t")
    assert (exact.at_stock(7).quantity, over.at_stock(7).quantity) == (7, 8)
    assert over.at_stock(7).request_value()["stock_seen"] == 7
    # Nothing left: still a valid request (one unit), which must be refused.
    assert (exact.at_stock(0).quantity, over.at_stock(0).quantity) == (1, 1)
    small = plan_order(1, 0, {"scarce_small": 1}, "t")
    assert small.at_stock(7) == small and 1 <= small.quantity <= 5


def test_exact_boundary_orders_give_their_units_back_and_the_others_go_to_the_dice():
    assert plan_order(3, 0, {"scarce_exact": 1}, "t").force == {"payment": "fail"}
    assert plan_order(3, 0, {"scarce_over": 1}, "t").force is None
    assert plan_order(3, 0, {"scarce_small": 1}, "t").force is None
