"""The load run's pure parts: the mix, POST endings, saga latency, the run record, the chaos plan
and nemesis (over fakes), and the verdict on consistent and broken states. No Locust import here:
it would monkey-patch this process with gevent (the end-to-end runs are in test_load_run.py)."""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from harness.faults.network import Fault, HealReport
from harness.model import FaultEvent, Operation, SystemState, passed
from harness.runner.local import ServiceStatus
from load.chaos import STAGES, ChaosUsageError, Nemesis, make_plan
from load.mix import DEFAULT_MIX, KINDS, Mix, MixError, order_body, outcome_of
from load.operations import classify_post, saga_latency
from load.record import RunRecord, Targets, derive_targets
from load.verdict import (
    invariant_names,
    judge,
    own_orders,
    read_final_state,
    verdict_line,
)
from system.catalog import INITIAL_STOCK
from tests.unit.world_builder import good_world

TARGETS = Targets("http://o", "http://i", "http://p", "http://d", "amqp://guest:guest@127.0.0.1:5672/")


# --- the mix ---------------------------------------------------------------------------------------
def test_default_mix_parses_and_draws_every_kind_it_names():
    mix = Mix.parse(DEFAULT_MIX)
    drawn = {mix.draw(random.Random(s)).name for s in range(300)}
    assert drawn == set(mix.weights)


@pytest.mark.parametrize("text", ["bogus=1", "success=x", "success=-1", "success=0", ""])
def test_a_mix_that_names_no_real_positive_kind_is_refused(text):
    with pytest.raises(MixError):
        Mix.parse(text)


def test_insufficient_stock_orders_more_than_was_ever_stocked():
    body = order_body(KINDS["insufficient_stock"], "u", random.Random(1))
    assert body["quantity"] > INITIAL_STOCK[body["product_id"]]


def test_boundary_kinds_order_exactly_what_is_left_or_one_more_of_the_scarce_product():
    exact = order_body(KINDS["scarce_exact"], "u", random.Random(1), available=7)
    over = order_body(KINDS["scarce_over"], "u", random.Random(1), available=7)
    assert (exact["product_id"], exact["quantity"], exact["force"]) == ("product_3", 7, {"payment": "fail"})
    assert (over["product_id"], over["quantity"]) == ("product_3", 8) and "force" not in over
    # Nothing left (or the stock could not be read): still a valid request, of 1 unit.
    assert order_body(KINDS["scarce_over"], "u", random.Random(1), available=None)["quantity"] == 1
    small = order_body(KINDS["scarce_small"], "u", random.Random(1))
    assert small["product_id"] == "product_3" and 1 <= small["quantity"] <= 5 and "force" not in small
    assert KINDS["scarce_over"].expected >= {"insufficient_inventory", "completed"}


def test_the_scarce_stock_preset_is_the_shipped_experiments_mix():
    mix = Mix.parse("scarce-stock")
    assert mix.weights == {"scarce_small": 25, "scarce_exact": 20, "scarce_over": 20, "random": 35}


def test_forced_kinds_carry_their_force_and_expect_its_outcome():
    assert order_body(KINDS["payment_failure"], "u", random.Random(1))["force"] == {"payment": "fail"}
    assert KINDS["delivery_failure"].expected == {"delivery_failed"}
    assert "force" not in order_body(KINDS["random"], "u", random.Random(1))


def test_outcome_is_completed_or_the_failure_reason_and_none_in_flight():
    assert outcome_of({"status": "completed"}) == "completed"
    assert outcome_of({"status": "failed", "failure_reason": "payment_failed"}) == "payment_failed"
    assert outcome_of({"status": "inventory_reserved"}) is None


# --- POST endings --------------------------------------------------------------------------------------
VALUE = {"idempotency_key": "k-1"}


def test_created_order_is_ok_with_its_id():
    answer = classify_post(201, {"order_id": "o-1"}, None, VALUE)
    assert (answer.op_type, answer.value["order_id"], answer.complaint) == ("ok", "o-1", None)


def test_same_key_answered_with_another_order_is_ok_but_complained_about():
    answer = classify_post(200, {"order_id": "o-2"}, None, VALUE, expect_order="o-1")
    assert answer.op_type == "ok" and answer.value["order_id"] == "o-2"
    assert "another order" in (answer.complaint or "")


def test_refused_connection_is_a_definite_failure_worth_retrying():
    answer = classify_post(0, None, ConnectionRefusedError(111, "refused"), VALUE)
    assert (answer.op_type, answer.retry) == ("fail", True)


@pytest.mark.parametrize("status,error", [(0, TimeoutError("timed out")), (0, ConnectionResetError()), (503, None)])
def test_no_answer_or_a_5xx_is_unknown_and_retried(status, error):
    answer = classify_post(status, None, error, VALUE)
    assert (answer.op_type, answer.retry) == ("info", True)


def test_a_4xx_is_a_definite_failure_not_retried():
    answer = classify_post(409, {"detail": "key reused"}, None, VALUE)
    assert (answer.op_type, answer.retry) == ("fail", False)
    assert "key reused" in (answer.error or "")


def test_2xx_without_an_order_id_is_unknown_and_complained_about():
    answer = classify_post(201, {}, None, VALUE)
    assert answer.op_type == "info" and answer.complaint


# --- saga latency ----------------------------------------------------------------------------------------
def _ended_at(t: float) -> dict:
    from datetime import UTC, datetime

    return {"history": [{"event": "x", "at": datetime.fromtimestamp(t, UTC).isoformat().replace("+00:00", "Z")}]}


def test_saga_latency_uses_the_services_timestamp_when_it_lies_between_post_and_poll():
    assert saga_latency(100.0, 101.0, _ended_at(100.25)) == pytest.approx(0.25, abs=1e-3)


def test_saga_latency_falls_back_to_the_poll_when_the_clocks_disagree():
    assert saga_latency(100.0, 101.0, _ended_at(99.0)) == pytest.approx(1.0)
    assert saga_latency(100.0, 101.0, {"history": []}) == pytest.approx(1.0)


# --- the run record ----------------------------------------------------------------------------------------
def test_record_round_trips_and_lists_the_orders_it_learnt_about(tmp_path: Path):
    record = RunRecord("r1", 7, TARGETS, operations=[
        Operation(1, "invoke", "place_order", 1.0, {"idempotency_key": "k1"}),
        Operation(1, "ok", "place_order", 1.1, {"idempotency_key": "k1", "order_id": "o1"}),
        Operation(2, "invoke", "place_order", 1.2, {"idempotency_key": "k2"}),
        Operation(2, "info", "place_order", 1.3, {"idempotency_key": "k2"}, "interrupted"),
    ], faults=[FaultEvent("latency", "all", 1.0, 2.0)], healed_at=2.0, started_at=0.5, stopped_at=1.5)
    loaded = RunRecord.load(record.save(tmp_path / "record.json"))
    assert loaded == record
    assert loaded.order_ids() == ["o1"] and loaded.idempotency_keys() == {"k1", "k2"}
    assert loaded.settle_from() == 2.0  # the deadline runs from the heal, which came after the stop


def test_other_services_follow_the_order_port_unless_given():
    seed = derive_targets("http://127.0.0.1:8001")
    assert (seed.inventory, seed.payment, seed.delivery) == (
        "http://127.0.0.1:8002", "http://127.0.0.1:8003", "http://127.0.0.1:8004")
    assert seed.amqp_url == "amqp://guest:guest@127.0.0.1:5672/"
    instance = derive_targets("http://10.0.0.5:21001/", payment="http://pay:9/")
    assert (instance.order, instance.inventory, instance.payment) == (
        "http://10.0.0.5:21001", "http://10.0.0.5:21002", "http://pay:9")
    assert derive_targets("http://shop.example", skip_broker=True) == Targets(
        "http://shop.example", "http://shop.example:8002", "http://shop.example:8003",
        "http://shop.example:8004", None)


def test_own_orders_takes_the_known_ids_and_the_orders_found_by_key():
    orders = [{"order_id": "o1"}, {"order_id": "o2", "idempotency_key": "k2"}, {"order_id": "o3", "idempotency_key": "x"}]
    assert [o["order_id"] for o in own_orders(orders, {"o1"}, {"k2"})] == ["o1", "o2"]


# --- the verdict ----------------------------------------------------------------------------------------------
def _record_for(world, **kw) -> RunRecord:
    return RunRecord("r1", 7, kw.pop("targets", TARGETS), operations=list(world.history.operations),
                     started_at=world.clock - 10, stopped_at=world.clock, **kw)


def test_a_consistent_world_is_judged_consistent():
    world = good_world()
    verdicts = judge(_record_for(world), world.state)
    assert all(passed(v) for v in verdicts), [v for v in verdicts if not passed(v)]
    assert verdict_line(_record_for(world), world.state, verdicts).startswith("saga-load verdict: CONSISTENT")


def test_a_completed_order_without_a_delivery_is_judged_inconsistent_with_its_counterexample():
    world = good_world()
    completed = world.ids["completed"]
    world.state.deliveries = [d for d in world.state.deliveries if d["order_id"] != completed]
    verdicts = judge(_record_for(world), world.state)
    broken = {v.name: v for v in verdicts if v.valid is False}
    assert set(broken) == {"completed_order_charged_once"}
    assert broken["completed_order_charged_once"].counterexamples[0]["order_id"] == completed
    line = verdict_line(_record_for(world), world.state, verdicts)
    assert "INCONSISTENT" in line and "broken: completed_order_charged_once" in line


def test_an_order_still_in_flight_past_the_deadline_is_inconsistent_and_before_it_unknown():
    world = good_world(in_flight=True)
    late = judge(_record_for(world, deadline_s=0.5), world.state)
    assert {v.name for v in late if v.valid is False} == {"orders_terminal"}
    early = judge(_record_for(world, deadline_s=3600), world.state)
    assert {v.name for v in early if not passed(v)} == {"orders_terminal"}
    assert next(v for v in early if v.name == "orders_terminal").valid == "unknown"


def test_another_runs_broken_order_is_out_of_scope():
    world = good_world()
    world.state.orders.append({"order_id": "someone-else", "status": "completed", "amount": 5.0, "history": []})
    assert all(passed(v) for v in judge(_record_for(world), world.state))


def test_without_a_broker_url_the_broker_invariants_are_skipped():
    no_broker = Targets("http://o", "http://i", "http://p", "http://d", None)
    assert "queues_drained" not in invariant_names(no_broker)
    assert "queues_drained" in invariant_names(TARGETS)


# --- the chaos plan and nemesis ---------------------------------------------------------------------------------
def test_one_seed_gives_one_plan_of_four_equal_stages():
    plan = make_plan(7, 40.0)
    assert plan == make_plan(7, 40.0)
    assert [s.name for s in plan.stages] == list(STAGES)
    assert [(s.start, s.end) for s in plan.stages] == [(0, 10), (10, 20), (20, 30), (30, 40)]
    assert {make_plan(s, 40.0).victim for s in range(40)} == {"order", "inventory", "payment", "delivery"}
    assert (plan.stage_index(0), plan.stage_index(25.0), plan.stage_index(40.0)) == (0, 2, None)


def test_a_plan_refuses_an_unknown_victim_and_no_run_time():
    with pytest.raises(ChaosUsageError):
        make_plan(1, 40.0, victim="billing")
    with pytest.raises(ChaosUsageError):
        make_plan(1, 0)


@dataclass
class FakeFaults:
    """Stands in for NetworkFaults: remembers what is injected (the real one runs end-to-end)."""

    active: list[Fault] = field(default_factory=list)
    broken: bool = False

    def add(self, kind, target, stream=None, toxicity=1.0, **attributes):
        fault = Fault(f"{kind} on {target}", toxics=[("amqp_order", f"chaos_{kind}")])
        self.active.append(fault)
        return fault

    def heal(self, fault):
        if self.broken:
            raise ConnectionError("toxiproxy down")
        self.active.remove(fault)

    def heal_all(self):
        if self.broken:
            raise ConnectionError("toxiproxy down")
        removed = [t for f in self.active for t in f.toxics]
        self.active.clear()
        return HealReport(removed=removed)

    def close(self):
        pass


@dataclass
class FakeSystem:
    running: set[str] = field(default_factory=lambda: {"order", "inventory", "payment", "delivery"})

    def kill_service(self, service):
        self.running.discard(service)
        return 123

    def restart_service(self, service, timeout=30.0):
        self.running.add(service)
        return ServiceStatus(service, 456, 0, True, "ready")


def _nemesis(victim="payment"):
    faults, system = FakeFaults(), FakeSystem()
    return Nemesis(make_plan(3, 40.0, victim=victim), faults, system, say=lambda line: None), faults, system


def test_nemesis_walks_the_stages_and_heals_at_the_heal_stage():
    nemesis, faults, system = _nemesis()
    assert nemesis.advance(12.0) and len(faults.active) == 1  # latency on
    assert nemesis.advance(21.0) and not faults.active and "payment" not in system.running
    assert nemesis.advance(31.0) and "payment" in system.running and nemesis.healed_at
    assert not nemesis.advance(40.0)
    assert [(e.kind, e.target, e.end is not None) for e in nemesis.events] == [
        ("latency", "all", True), ("crash", "payment", True)]


def test_heal_after_an_abort_mid_latency_removes_it_and_is_idempotent():
    nemesis, faults, _ = _nemesis()
    nemesis.advance(15.0)
    nemesis.heal()
    first = nemesis.healed_at
    nemesis.heal()
    assert not faults.active and nemesis.healed_at == first and nemesis.events[0].end is not None


def test_a_late_tick_enters_the_skipped_stages_in_order():
    nemesis, faults, system = _nemesis()
    nemesis.advance(25.0)  # from warm-up straight into the crash stage
    assert nemesis.entered == 2 and not faults.active and "payment" not in system.running
    assert [e.kind for e in nemesis.events] == ["latency", "crash"]


def test_heal_restarts_the_victim_even_when_toxiproxy_fails_and_then_says_so():
    nemesis, faults, system = _nemesis()
    nemesis.advance(25.0)
    faults.broken = True
    with pytest.raises(ConnectionError):
        nemesis.heal()
    assert "payment" in system.running
    assert nemesis.healed_at is None  # the latency window stays open: the checker says unknown


def test_the_checker_refuses_a_missing_or_broken_record_as_bad_usage(tmp_path: Path):
    from load.verdict import main

    broken = tmp_path / "record.json"
    broken.write_text('{"run_id": "r1"}')
    assert main([str(tmp_path / "missing.json")]) == 254
    assert main([str(broken)]) == 254
    with pytest.raises(SystemExit) as exited:
        main([])
    assert exited.value.code == 254


@dataclass
class FlakyReader:
    """Fails the full read `failures` times (a broker restarting), then answers."""

    failures: int
    targets: Targets = field(default_factory=lambda: TARGETS)
    calls: list[bool] = field(default_factory=list)

    def final_state(self, include_broker: bool = True) -> SystemState:
        self.calls.append(include_broker)
        if include_broker and len(self.calls) <= self.failures:
            raise ConnectionError("broker restarting")
        return SystemState(queues={"saga.order": 0} if include_broker else {})


def test_the_final_read_is_retried_through_a_broker_restart(monkeypatch):
    monkeypatch.setattr("load.verdict.time.sleep", lambda s: None)
    reader = FlakyReader(failures=2)
    state = read_final_state(reader, say=lambda line: None, until=float("inf"))
    assert state.queues and reader.calls == [True, True, True]


def test_past_the_deadline_the_final_read_goes_without_the_broker_and_says_so():
    said: list[str] = []
    state = read_final_state(FlakyReader(failures=99), say=said.append, until=0.0)
    assert state.queues == {} and "could not read the broker" in said[-1] and ":***@" in said[-1]

