"""The deadline invariants (issue #16) on a hand-made world with deadlines: a saga that timed out
at payment (its late charge refunded), the others ended in time; then one-line mutations."""

from __future__ import annotations

from typing import Any

import pytest

from harness.invariants import INVARIANTS, check_all
from harness.invariants.timeouts import TERMINATION_MARGIN_S
from harness.model import DeadLetter, RecordedMessage
from system.contracts import TIMEOUT_TRACES
from system.deadlines import SAGA_DEADLINE, StepTimeouts, timer_message_id
from system.decisions import DecisionConfig
from system.styles import ORCHESTRATED
from tests.unit.test_invariants import Violation
from tests.unit.world_builder import World, good_world, iso

TIMEOUTS = StepTimeouts(3.0)
DEADLINES = DecisionConfig(timeouts=TIMEOUTS, payment_transient_failure_rate=0.5, max_retries=2)
TIMED_OUT = "o-timeout"


def deadline_world() -> World:
    """The good world, every order stamped with when it was placed, plus a saga that timed out
    at payment: the compensations caused by the timer, the late charge refunded."""
    world = good_world()
    for order in world.state.orders:
        order["created_at"] = order["history"][0]["at"]
    order = world.place(TIMED_OUT, TIMEOUT_TRACES["timeout:payment"], "failed", "timeout:payment",
                        force={"payment": "succeed"}, on_bus=3)
    order["created_at"] = order["history"][0]["at"]
    timer = timer_message_id(TIMED_OUT, SAGA_DEADLINE, "payment")
    process = f"m-{TIMED_OUT}-2"
    for routing_key, message_id, cause in (
        ("payment.refund", "m-refund", timer), ("inventory.release", "m-release", timer),
        ("inventory.released", "m-released", "m-release"),
        # the late answer, ignored by the order; the gateway failed once before it charged
        ("payment.completed", "m-late", process),
        ("payment.refunded", "m-refunded", "m-refund"),
    ):
        payload = {"retries": 1, "retry_delays_s": [0.3]} if message_id == "m-late" else {}
        world.history.messages.append(RecordedMessage(world.tick(), routing_key, message_id, TIMED_OUT,
                                                      causation_id=cause, payload=payload,
                                                      app_id=ORCHESTRATED.owner(routing_key)))
    world.state.reservations.append({"order_id": TIMED_OUT, "product_id": "product_1", "quantity": 2,
                                     "status": "released", "available_seen": None})
    world.state.payments.append({"payment_id": "p-late", "order_id": TIMED_OUT, "user_id": "u-1", "amount": 25.0,
                                 "status": "refunded", "refunded_amount": 25.0})
    return world


def check(world: World, name: str) -> Any:
    return check_all(world.history, world.state, only=[name], decisions=DEADLINES)[0]


def _late_charge_kept(w: World) -> None:
    payment = next(p for p in w.state.payments if p["order_id"] == TIMED_OUT)
    payment.update(status="completed", refunded_amount=0.0)


def _late_delivery_live(w: World) -> None:
    w.state.deliveries.append({"delivery_id": "d-late", "order_id": TIMED_OUT, "status": "scheduled"})


def _ended_late(w: World) -> None:
    """The completed order's last step long after it was placed (a deadline that never fired)."""
    order = w.order("o-completed")
    order["history"][-1]["at"] = iso(w.clock + 3 * TIMEOUTS.total() + TERMINATION_MARGIN_S + 1)


def _late_message(w: World) -> RecordedMessage:
    return next(m for m in w.history.messages if m.message_id == "m-late")


def _retried_too_often(w: World) -> None:
    _late_message(w).payload.update(retries=4, retry_delays_s=[0.3, 0.5, 0.9, 1.7])


def _spacing_shrinks(w: World) -> None:
    _late_message(w).payload.update(retries=2, retry_delays_s=[0.5, 0.3])


def _transient_dead_lettered(w: World) -> None:
    w.state.dead_letters.append(DeadLetter("saga.payment.dlq", "payment.process", "m-x", "handler failed 5 times: "
                                           "TransientFailure('payment gateway unavailable')", TIMED_OUT))


VIOLATIONS = [
    Violation("retries_bounded", "more retries than SAGA_MAX_RETRIES", _retried_too_often,
              {"order_id": TIMED_OUT, "problem": "more retries than allowed", "retries": 4, "max_retries": 2}),
    Violation("retries_bounded", "the retry spacing shrinks", _spacing_shrinks,
              {"order_id": TIMED_OUT, "problem": "retry spacing shrinks or exceeds the cap"}),
    Violation("retries_bounded", "a transient error retried into a dead letter", _transient_dead_lettered,
              {"message_id": "m-x", "problem": "a transient error was retried until the consumer dead-lettered it"}),
    Violation("no_effect_after_timeout", "a late charge was never refunded", _late_charge_kept,
              {"order_id": TIMED_OUT, "problem": "timed-out saga left a net charge"}),
    Violation("no_effect_after_timeout", "a late delivery is still scheduled", _late_delivery_live,
              {"order_id": TIMED_OUT, "problem": "timed-out saga left a live delivery"}),
    Violation("bounded_termination", "an order ended long after the deadlines' sum", _ended_late,
              {"order_id": "o-completed", "problem": "ended after the bound"}),
]


def test_the_deadline_world_is_valid_for_every_invariant():
    world = deadline_world()
    verdicts = check_all(world.history, world.state, decisions=DEADLINES)
    assert {v.name: v.valid for v in verdicts} == {name: True for name in INVARIANTS}


@pytest.mark.parametrize("case", VIOLATIONS, ids=lambda c: f"{c.invariant}: {c.story}")
def test_deadline_invariant_fails_on_violation_and_names_the_culprit(case: Violation):
    world = deadline_world()
    assert check(world, case.invariant).valid is True
    case.mutate(world)
    verdict = check(world, case.invariant)
    assert verdict.valid is False, verdict
    assert any(case.culprit.items() <= example.items() for example in verdict.counterexamples), verdict


def test_without_a_deadline_on_every_step_nothing_bounds_an_order():
    world = deadline_world()
    verdict = check_all(world.history, world.state, only=["bounded_termination"],
                        decisions=DecisionConfig(timeouts=StepTimeouts(None, {"payment": 3.0})))[0]
    assert verdict.valid == "not_applicable"


def test_a_compensation_caused_by_a_stranger_is_still_a_violation():
    world = deadline_world()
    world.history.messages = [m if m.message_id != "m-refund" else RecordedMessage(
        m.time, m.routing_key, m.message_id, m.order_id, causation_id="m-nobody", app_id=m.app_id)
        for m in world.history.messages]
    assert check(world, "bus_causality").valid is False


def test_a_compensation_that_waited_for_a_participant_is_not_held_against_the_bound():
    world = deadline_world()
    order = world.order("o-delivery_failed")
    for entry in order["history"][6:]:  # payment.refund onwards: compensating, no deadline by design
        entry["at"] = iso(world.clock + 3 * TIMEOUTS.total() + TERMINATION_MARGIN_S + 1)
    assert check(world, "bounded_termination").valid is True
