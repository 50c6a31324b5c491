"""The handler-fault nemesis: unit tests against an in-process fake of the control surface, and
end-to-end runs that skip (with the reason) while the services have no /_chaos/handler-faults."""

from __future__ import annotations

import json
import threading
import time

import httpx
import pytest

from harness.broker import peek_dead_letters, run_sync
from harness.client import SagaClient
from harness.crashpoints import ChaosSurface, ChaosSurfaceError
from harness.experiments import ExperimentError, load_experiment, parse_experiment
from harness.experiments.rundir import FAULTS, STATE
from harness.experiments.runner import run_experiment
from harness.experiments.schedule import plan_faults
from harness.invariants import check_all
from harness.model import FaultEvent, History
from harness.nemesis.base import FaultLog, FaultScheduler, PlannedFault
from harness.nemesis.handler_faults import (
    HANDLER_FAULTS,
    HandlerFaultNemesis,
    armed_left,
    handler_fault_problem,
    split_failures,
)
from harness.recorder import Recorder
from harness.waiting import wait_until
from system.config import service_config
from tests.chaos.chaos_surface_fake import FakeHandlerFaults
from tests.chaos.instances import fresh_local_target

URL = "http://payment.test"


def nemesis_on(fake: FakeHandlerFaults, token: str | None = "secret") -> HandlerFaultNemesis:
    return HandlerFaultNemesis({"payment": URL}, token, transport=fake.transport())


def fault(failures: int, routing_key: str | None = "payment.process", duration: float = 0.05) -> PlannedFault:
    params = {"failures": failures, **({"routing_key": routing_key} if routing_key else {})}
    return PlannedFault(0, "handler_faults", "handler_error", "payment", 0.0, duration, params)


# -- against the fake ------------------------------------------------------------------------------
def test_inject_arms_the_planned_failures_and_heal_says_how_many_were_raised_then_clears():
    fake = FakeHandlerFaults()
    nemesis = nemesis_on(fake)
    planned = fault(3)
    injection = nemesis.inject(planned, threading.Event())
    assert fake.armed == [{"routing_key": "payment.process", "count": 3}]
    assert injection.detail == {"routing_key": "payment.process", "failures": 3}
    assert [fake.deliver(k) for k in ("payment.refund", "payment.process", "payment.process")] == [False, True, True]
    detail = nemesis.heal(planned, injection)
    assert detail == {"cleared": True, "failures_left": 1, "failures_raised": 2}
    assert fake.armed == [] and not fake.deliver("payment.process")


def test_without_a_routing_key_any_delivery_fails():
    fake = FakeHandlerFaults()
    nemesis_on(fake).inject(fault(1, routing_key=None), threading.Event())
    assert fake.requests[-1] == ("POST", {"routing_key": None, "count": 1})
    assert fake.deliver("payment.refund")


def test_a_wrong_token_or_a_surface_that_is_off_is_a_set_up_error_not_chaos():
    with pytest.raises(ChaosSurfaceError, match="403"):
        nemesis_on(FakeHandlerFaults(), token="wrong").inject(fault(1), threading.Event())
    with pytest.raises(ChaosSurfaceError, match="404"):
        nemesis_on(FakeHandlerFaults(token=None)).inject(fault(1), threading.Event())
    with pytest.raises(ChaosSurfaceError, match="chaos token"):
        nemesis_on(FakeHandlerFaults(), token=None).inject(fault(1), threading.Event())


def test_the_surface_problem_names_what_is_wrong_in_one_line():
    def problem(fake: FakeHandlerFaults, token: str | None = "secret") -> str | None:
        return ChaosSurface(URL, token, fake.transport()).problem(HANDLER_FAULTS)

    assert problem(FakeHandlerFaults()) is None
    assert "no such chaos resource" in str(problem(FakeHandlerFaults(routes=False)))
    assert "SAGA_CHAOS_TOKEN is not set" in str(problem(FakeHandlerFaults(token=None)))
    assert "token is wrong" in str(problem(FakeHandlerFaults(), token="wrong"))
    assert "no chaos token" in str(problem(FakeHandlerFaults(), token=None))


def test_heal_all_clears_every_service():
    fakes = {s: FakeHandlerFaults() for s in ("payment", "order")}
    for f in fakes.values():
        f.armed.append({"routing_key": None, "count": 2})

    def route(request):
        return fakes[request.url.host.split(".")[0]].handle(request)

    nemesis = HandlerFaultNemesis({s: f"http://{s}.test" for s in fakes}, "secret", httpx.MockTransport(route))
    nemesis.heal_all()
    assert all(f.armed == [] for f in fakes.values())


def test_the_scheduler_records_each_window_as_a_handler_error_fault_event():
    fake = FakeHandlerFaults()
    log = FaultLog()
    scheduler = FaultScheduler([fault(2, duration=0.2)], {"handler_faults": nemesis_on(fake)}, log)
    scheduler.start()
    time.sleep(0.05)
    fake.deliver("payment.process")  # one failure raised inside the window
    assert scheduler.wait(timeout=5) and not scheduler.errors
    [event] = log.events()
    assert (event.kind, event.target) == ("handler_error", "payment") and event.end is not None
    assert event.detail["failures"] == 2 and event.detail["failures_raised"] == 1 and event.detail["cleared"]


def test_armed_left_reads_the_listing_or_says_it_cannot():
    assert armed_left({"armed": [{"count": 2}, {"remaining": 1}]}) == 3
    assert armed_left([{"count": 4}]) == 4 and armed_left({"armed": []}) == 0
    assert armed_left({"armed": [{"routing_key": None}]}) is None and armed_left("?") is None


# -- experiment files ------------------------------------------------------------------------------
def test_the_shipped_experiment_never_arms_as_many_failures_as_a_message_has_attempts():
    experiment = load_experiment("handler-faults")
    plan = plan_faults(experiment, 11)
    assert plan and all(f.nemesis == "handler_faults" for f in plan)
    assert max(int(f.params["failures"]) for f in plan) < service_config("payment", {}).max_attempts
    assert len({f.lane for f in plan}) == 1  # one window at a time: a heal clears only its own


@pytest.mark.parametrize(("params", "complaint"), [
    ({"failures": 2.5}, "whole number"),
    ({"failures": [0, 3]}, "whole number"),
    ({"routing_key": "inventory.reserve"}, "payment never receives inventory.reserve"),
    ({"routing_key": "payment.nonsense"}, "unknown routing key"),
    ({"skip": 1}, "takes routing_key, failures"),
])
def test_a_bad_handler_fault_is_refused_with_its_path(params, complaint):
    data = {"name": "x", "faults": [{"nemesis": "handler_faults", "targets": "payment", "params": params}]}
    with pytest.raises(ExperimentError) as caught:
        parse_experiment(data, "x.yaml")
    assert any(p.startswith("faults[0].params") and complaint in p for p in caught.value.problems), caught.value.problems


def test_an_unknown_service_is_refused():
    data = {"name": "x", "faults": [{"nemesis": "handler_faults", "targets": "billing"}]}
    with pytest.raises(ExperimentError, match="unknown service 'billing'"):
        parse_experiment(data, "x.yaml")


def test_a_windows_failures_are_spread_over_the_replicas_never_more_in_all():
    assert split_failures(4, 2) == [2, 2] and split_failures(3, 2) == [2, 1] and split_failures(1, 2) == [1, 0]
    assert split_failures(4, 1) == [4]
    assert all(sum(split_failures(n, k)) == n for n in range(1, 9) for k in range(1, 4))


def test_with_replicas_each_is_armed_with_its_share_and_heal_counts_over_all_of_them():
    fakes = {name: FakeHandlerFaults() for name in ("payment-1", "payment-2")}

    def route(request):
        return fakes[request.url.host.split(".")[0]].handle(request)

    urls = {"payment": "http://payment.test", "payment#1": "http://payment-1.test", "payment#2": "http://payment-2.test"}
    nemesis = HandlerFaultNemesis(urls, "secret", httpx.MockTransport(route))
    planned = fault(3)
    injection = nemesis.inject(planned, threading.Event())
    assert [f.armed for f in fakes.values()] == [[{"routing_key": "payment.process", "count": 2}],
                                                 [{"routing_key": "payment.process", "count": 1}]]
    assert fakes["payment-2"].deliver("payment.process") and not fakes["payment-2"].deliver("payment.process")
    assert nemesis.heal(planned, injection) == {"cleared": True, "failures_left": 2, "failures_raised": 1}
    assert all(f.armed == [] for f in fakes.values())
    assert nemesis.inject(fault(1), threading.Event()) and fakes["payment-2"].requests[-1][0] == "DELETE"
    nemesis.heal_all()
    assert all(f.armed == [] for f in fakes.values())

# -- end to end, on real processes -----------------------------------------------------------------
def _surface_or_skip(target) -> None:
    """Skip while the services have no handler-fault surface (branch core builds it): 404."""
    problem = handler_fault_problem(target.endpoints.services["payment"], target.chaos_token)
    if problem is not None and ("404" in problem or "no chaos token" in problem):
        pytest.skip(f"no handler-fault control surface on this system: {problem}")
    assert problem is None, problem


@pytest.mark.integration
@pytest.mark.slow
def test_the_handler_faults_experiment_retries_every_failed_handler_and_ends_valid(run_target, runs_dir):
    _surface_or_skip(run_target)
    experiment = load_experiment("handler-faults").with_load(40, 8.0)
    outcome = run_experiment(experiment, run_target, seed=20240612, runs_dir=runs_dir, render=False)
    results = outcome.results
    failing = [v for v in results["verdicts"] if v["valid"] is not True]
    assert outcome.exit_code == 0 and results["valid"] is True, (results["errors"], failing)
    windows = [json.loads(line) for line in (outcome.run_dir / FAULTS).read_text().splitlines()]
    assert windows and all(w["kind"] == "handler_error" and w["end"] for w in windows)
    # Some handler really raised (the services took deliveries inside the windows).
    assert sum(w["detail"].get("failures_raised", 0) for w in windows) > 0, windows
    state = json.loads((outcome.run_dir / STATE).read_text())
    assert not [d for d in state["dead_letters"] if d["message_id"] not in results["check"]["expected_dead_letters"]]


@pytest.mark.integration
@pytest.mark.slow
@pytest.mark.orchestration_only
def test_failures_beyond_the_attempts_dead_letter_the_message_with_its_reason(saga_target):
    if saga_target.system is None:
        pytest.skip("needs a fresh local instance: the dead-lettered saga stays stuck")
    _surface_or_skip(saga_target)  # same build as the fresh instance: no need to start one to know
    # Its own instance: the stuck order must not fail later checks of the session's system.
    with fresh_local_target("dlq", 700) as target:
        _surface_or_skip(target)
        attempts = service_config("payment", target.system.env).max_attempts  # type: ignore[union-attr]
        for payment in target.endpoints.process_urls("payment").values():  # every attempt fails, on any replica
            ChaosSurface(payment, target.chaos_token).arm(HANDLER_FAULTS, {"routing_key": "payment.process",
                                                                           "count": attempts})
        with Recorder(target.endpoints.amqp_url) as recorder, SagaClient(target.endpoints) as client:
            started = time.time()
            response = client.place_order("product_1", 1, 10.0, force={"payment": "succeed", "delivery": "succeed"})
            assert response.status_code == 201, response.text
            order_id = response.json()["order_id"]
            letters = wait_until(lambda: run_sync(peek_dead_letters(target.endpoints.amqp_url)), bool, timeout=60,
                                 what="a dead letter in the DLQ")
            assert recorder.drain(timeout=10)
            state = client.read_state()
            history = History(recorder.messages(), [], [FaultEvent("handler_error", "payment", started, time.time())],
                              healed_at=time.time())
        [letter] = letters
        assert (letter.routing_key, letter.order_id) == ("payment.process", order_id)
        assert "TransientHandlerFault" in letter.reason and f"{attempts} times" in letter.reason
        declared = check_all(history, state, order_ids=[order_id], expected_dead_letters=[letter.message_id],
                             only=["dead_letters_accounted"])
        undeclared = check_all(history, state, order_ids=[order_id], only=["dead_letters_accounted"])
        assert [v.valid for v in declared] == [True] and [v.valid for v in undeclared] == [False]
