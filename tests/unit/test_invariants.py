"""Every invariant passes on a consistent world and fails, naming the culprit, on a broken one."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest

from harness.invariants import (
    DESCRIPTIONS,
    INVARIANTS,
    MAX_COUNTEREXAMPLES,
    check_all,
    exit_code,
    summary,
    verdicts_to_dict,
)
from harness.invariants.orders import orders_terminal
from harness.invariants.traces import IN_FLIGHT_STATUS
from harness.model import (
    DeadLetter,
    FaultEvent,
    History,
    Operation,
    RecordedMessage,
    SystemState,
    overall,
)
from system.contracts import (
    INVENTORY_RELEASE,
    INVENTORY_RELEASED,
    LEGAL_TRACES,
    PAYMENT_REFUND,
    PAYMENT_REFUNDED,
)
from tests.unit.world_builder import NO_DEADLINES, World, good_world

COMPLETED, PAY_FAILED, DELIVERY_FAILED, NO_STOCK = OUTCOME_IDS = (
    "o-completed", "o-payment_failed", "o-delivery_failed", "o-insufficient_inventory"
)


@dataclass(frozen=True)
class Violation:
    invariant: str
    story: str
    mutate: Callable[[World], Any]
    culprit: dict[str, Any]  # fields the first counterexample must carry


def _second_payment(w: World, order_id: str, status: str = "completed") -> None:
    w.state.payments.append({**w.payment(order_id), "payment_id": f"p2-{order_id}", "status": status})


def _swap_compensations(w: World) -> None:
    events = w.order(DELIVERY_FAILED)["history"]
    # refund, refunded, release, released -> release, released, refund, refunded
    events[6:10] = events[8:10] + events[6:8]


def _bus_message(w: World, order_id: str, routing_key: str) -> None:
    w.history.messages.append(RecordedMessage(w.tick(), routing_key, f"extra-{order_id}", order_id))


def _republished(w: World, order_id: str, routing_key: str) -> None:
    """The same effect published again under a new id, naming the same cause."""
    original = next(m for m in w.history.messages if m.order_id == order_id and m.routing_key == routing_key)
    w.history.messages.append(RecordedMessage(w.tick(), routing_key, f"again-{order_id}", order_id,
                                              causation_id=original.causation_id))


def _ok_op(w: World, order_id: str, key: str | None = None) -> None:
    value = {"order_id": order_id} | ({"idempotency_key": key} if key else {})
    w.history.operations.append(Operation(99, "ok", "place_order", w.tick(), value))


VIOLATIONS = [
    Violation("stock_conserved", "a unit appears from nowhere",
              lambda w: w.product("product_1").update(available=w.product("product_1")["available"] + 1),
              {"product_id": "product_1", "problem": "available + reserved != initial"}),
    Violation("stock_conserved", "a completed order's reservation is released but stock still counts it",
              lambda w: w.reservation(COMPLETED).update(status="released"),
              {"product_id": "product_1", "reserved": 2, "held_by_reservations": 0}),
    Violation("stock_conserved", "a reservation holds stock of an unlisted product",
              lambda w: w.reservation(COMPLETED).update(product_id="product_9"),
              {"product_id": "product_1"}),
    Violation("availability_non_negative", "oversold: available below zero",
              lambda w: w.product("product_3").update(available=-4, reserved=5),
              {"product_id": "product_3", "column": "available", "value": -4}),
    Violation("availability_non_negative", "negative reserved",
              lambda w: w.product("product_2").update(available=101, reserved=-1),
              {"product_id": "product_2", "column": "reserved", "value": -1}),
    Violation("no_orphan_reservation", "a failed order still holds its reservation",
              lambda w: w.reservation(PAY_FAILED).update(status="reserved"),
              {"order_id": PAY_FAILED, "problem": "reservation still held by a failed order"}),
    Violation("no_orphan_reservation", "a reservation for an order nobody knows",
              lambda w: w.state.reservations.append(
                  {"order_id": "o-ghost", "product_id": "product_1", "quantity": 1, "status": "reserved"}),
              {"order_id": "o-ghost"}),
    Violation("no_orphan_reservation", "a completed order lost its reservation",
              lambda w: w.reservation(COMPLETED).update(status="released"),
              {"order_id": COMPLETED, "held": 0}),
    Violation("no_orphan_reservation", "a completed order's reservation is for another quantity",
              lambda w: w.reservation(COMPLETED).update(quantity=3),
              {"order_id": COMPLETED, "reserved_quantity": 3, "ordered_quantity": 2}),
    Violation("completed_order_charged_once", "a completed order was partly refunded",
              lambda w: w.payment(COMPLETED).update(refunded_amount=5.0),
              {"order_id": COMPLETED, "amount": 25.0, "net_charges": [20.0]}),
    Violation("completed_order_charged_once", "a completed order was never charged",
              lambda w: w.payment(COMPLETED).update(status="failed"),
              {"order_id": COMPLETED, "net_charges": [0.0]}),
    Violation("completed_order_charged_once", "a completed order was charged by two payments",
              lambda w: _second_payment(w, COMPLETED),
              {"order_id": COMPLETED, "net_charges": [25.0, 25.0]}),
    Violation("completed_order_charged_once", "a completed order has no scheduled delivery",
              lambda w: w.delivery(COMPLETED).update(status="failed"),
              {"order_id": COMPLETED, "scheduled_deliveries": 0}),
    Violation("failed_order_not_charged", "a delivery failure was never refunded",
              lambda w: w.payment(DELIVERY_FAILED).update(status="completed", refunded_amount=0.0),
              {"order_id": DELIVERY_FAILED, "net_charges": [25.0]}),
    Violation("failed_order_not_charged", "a failed order still has a scheduled delivery",
              lambda w: w.delivery(DELIVERY_FAILED).update(status="scheduled"),
              {"order_id": DELIVERY_FAILED, "scheduled_deliveries": 1}),
    Violation("failed_order_not_charged", "a charge for an order nobody knows",
              lambda w: w.state.payments.append({**w.payment(COMPLETED), "order_id": "o-ghost"}),
              {"order_id": "o-ghost"}),
    Violation("nobody_charged_twice", "two completed payments for one order",
              lambda w: _second_payment(w, COMPLETED),
              {"order_id": COMPLETED, "payment_ids": [f"p-{COMPLETED}", f"p2-{COMPLETED}"]}),
    Violation("nobody_charged_twice", "refunded twice: the customer got money back",
              lambda w: w.payment(DELIVERY_FAILED).update(refunded_amount=50.0),
              {"order_id": DELIVERY_FAILED, "net_charge": -25.0}),
    Violation("nobody_charged_twice", "charged more than the amount",
              lambda w: w.payment(COMPLETED).update(amount=30.0),
              {"order_id": COMPLETED, "amount": 25.0, "net_charge": 30.0}),
    Violation("orders_terminal", "an acknowledged order was lost",
              lambda w: w.state.orders.remove(w.order(COMPLETED)),
              {"order_id": COMPLETED, "problem": "lost order: place_order was ok but the order does not exist"}),
    Violation("orders_terminal", "an order is stuck long after heal",
              lambda w: (w.add_in_flight("o-stuck"), setattr(w.state, "read_at", w.clock + 61.0)),
              {"order_id": "o-stuck", "status": "inventory_reserved"}),
    Violation("trace_legal", "compensations ran in the wrong order",
              _swap_compensations,
              {"order_id": DELIVERY_FAILED, "problem": "trace is not the legal one for this outcome"}),
    Violation("trace_legal", "completed although delivery never answered",
              lambda w: w.order(COMPLETED)["history"].pop(),
              {"order_id": COMPLETED, "status": "completed"}),
    Violation("trace_legal", "failure reason disagrees with the trace",
              lambda w: w.order(PAY_FAILED).update(failure_reason="delivery_failed"),
              {"order_id": PAY_FAILED}),
    Violation("trace_legal", "a command in the history never reached the bus",
              lambda w: w.drop_message(DELIVERY_FAILED, PAYMENT_REFUND),
              {"order_id": DELIVERY_FAILED, "only_in_history": [PAYMENT_REFUND], "only_on_bus": []}),
    Violation("trace_legal", "the bus carried a step the order never took",
              lambda w: _bus_message(w, COMPLETED, PAYMENT_REFUNDED),
              {"order_id": COMPLETED, "only_on_bus": [PAYMENT_REFUNDED]}),
    Violation("trace_legal", "an in-flight order's status disagrees with its trace",
              lambda w: (w.add_in_flight("o-odd"), w.order("o-odd").update(status="payment_completed")),
              {"order_id": "o-odd", "status_for_trace": "inventory_reserved"}),
    Violation("trace_legal", "the bus carried messages for an unknown order",
              lambda w: _bus_message(w, "o-ghost", "inventory.reserve"),
              {"order_id": "o-ghost"}),
    Violation("idempotency_key_one_saga", "one key answered with two order ids",
              lambda w: _ok_op(w, PAY_FAILED, key="key-completed"),
              {"idempotency_key": "key-completed", "order_ids": [COMPLETED, PAY_FAILED]}),
    Violation("idempotency_key_one_saga", "two orders in state carry one key",
              lambda w: w.order(PAY_FAILED).update(idempotency_key="key-completed"),
              {"idempotency_key": "key-completed"}),
    Violation("queues_drained", "messages left in a work queue",
              lambda w: w.state.queues.update({"saga.payment": 3}),
              {"queue": "saga.payment", "messages": 3}),
    Violation("dead_letters_accounted", "an unexpected dead letter",
              lambda w: w.state.dead_letters.append(DeadLetter("saga.order.dlq", "payment.completed", "m-x", "rejected", COMPLETED)),
              {"message_id": "m-x", "problem": "unexpected dead letter"}),
    Violation("one_effect_per_cause", "an effect published twice under two ids (publish before commit)",
              lambda w: _republished(w, COMPLETED, "payment.completed"),
              {"order_id": COMPLETED, "routing_key": "payment.completed", "problem": "one cause, several distinct effects"}),
    Violation("idempotency_key_one_saga", "the order answered for a key does not carry it",
              lambda w: w.order(COMPLETED).update(idempotency_key=None),
              {"idempotency_key": "key-completed", "order_id": COMPLETED, "stored_key": None}),
    Violation("stock_conserved", "reservations hold stock of a product inventory does not list",
              lambda w: w.state.reservations.append(
                  {"order_id": COMPLETED, "product_id": "product_9", "quantity": 1, "status": "reserved"}),
              {"product_id": "product_9", "held_by_reservations": 1}),
    Violation("availability_non_negative", "a reservation of a negative quantity",
              lambda w: w.reservation(COMPLETED).update(quantity=-1),
              {"order_id": COMPLETED, "column": "reservation quantity", "value": -1}),
    Violation("no_orphan_reservation", "an order holds two reservations",
              lambda w: w.state.reservations.append({**w.reservation(COMPLETED)}),
              {"order_id": COMPLETED, "problem": "more than one reservation held", "held": 2}),
    Violation("trace_legal", "the bus carried a step no continuation of an in-flight order has",
              lambda w: (w.add_in_flight("o-fly"), _bus_message(w, "o-fly", "inventory.failed")),
              {"order_id": "o-fly", "stray": ["inventory.failed"]}),
    Violation("dead_letters_accounted", "a DLQ holds letters nobody read",
              lambda w: w.state.queues.update({"saga.inventory.dlq": 2}),
              {"queue": "saga.inventory.dlq", "depth": 2, "read": 0}),
]


def test_the_good_world_is_valid_for_every_invariant():
    world = good_world()
    verdicts = check_all(world.history, world.state)
    assert [v.name for v in verdicts] == list(INVARIANTS)
    # No deadlines in this world: tests/unit/test_invariants_deadlines.py has a world with them.
    assert {v.name: v.valid for v in verdicts} == {name: True for name in INVARIANTS} | NO_DEADLINES
    assert all(v.checked > 0 for v in verdicts if v.name != "dead_letters_accounted" and v.name not in NO_DEADLINES)


def test_every_invariant_has_a_description_and_a_violating_world():
    from tests.unit.test_invariants_deadlines import VIOLATIONS as DEADLINE_VIOLATIONS
    from tests.unit.test_invariants_verdicts import VIOLATIONS as NEW_VIOLATIONS

    assert list(DESCRIPTIONS) == list(INVARIANTS)
    assert {v.invariant for v in VIOLATIONS + NEW_VIOLATIONS + DEADLINE_VIOLATIONS} == set(INVARIANTS)


def assert_caught(case: Violation, **options: Any) -> None:
    """The good world passes; broken as the case says, it fails, naming the culprit."""
    world = good_world()
    assert world.check(case.invariant, **options).valid is True
    case.mutate(world)
    verdict = world.check(case.invariant, **options)
    assert verdict.valid is False, verdict
    assert any(case.culprit.items() <= example.items() for example in verdict.counterexamples), verdict


@pytest.mark.parametrize("case", VIOLATIONS, ids=lambda c: f"{c.invariant}: {c.story}")
def test_invariant_fails_on_violation_and_names_the_culprit(case: Violation):
    assert_caught(case)


@pytest.mark.parametrize("outcome", list(LEGAL_TRACES))
def test_a_failed_order_cannot_pass_as_any_other_outcome(outcome: str):
    world = good_world()
    order = world.order(PAY_FAILED)
    order.update(status="completed" if outcome == "completed" else "failed",
                 failure_reason=None if outcome == "completed" else outcome)
    expected_valid = outcome == "payment_failed"
    assert world.check("trace_legal").valid is expected_valid


def test_redelivered_duplicates_do_not_break_the_trace():
    world = good_world()
    dupes = [RecordedMessage(m.time + 5, m.routing_key, m.message_id, m.order_id, True) for m in world.history.messages]
    world.history.messages.extend(dupes)
    assert world.check("trace_legal").valid is True


def test_one_message_id_with_two_routing_keys_is_invalid():
    world = good_world()
    first = world.history.messages[0]
    world.history.messages.append(RecordedMessage(first.time, "inventory.released", first.message_id, first.order_id))
    verdict = world.check("trace_legal")
    assert verdict.valid is False
    assert verdict.counterexamples[0]["message_id"] == first.message_id


def test_in_flight_order_is_a_legal_prefix_and_may_miss_unpublished_steps():
    world = good_world(in_flight=True)
    assert world.check("trace_legal").valid is True  # payment.process still in the outbox
    _bus_message(world, "o-in-flight", "payment.failed")  # a reply not yet consumed
    assert world.check("trace_legal").valid is True


def test_in_flight_history_must_end_with_a_command():
    world = good_world(in_flight=True)
    world.order("o-in-flight")["history"].pop()  # reserved, but payment.process never sent
    verdict = world.check("trace_legal")
    assert verdict.valid is False and verdict.counterexamples[0]["order_id"] == "o-in-flight"


def test_every_in_flight_prefix_ends_with_a_command_and_has_one_status():
    assert (("inventory.reserve",), "pending") in IN_FLIGHT_STATUS.items()
    refunding = LEGAL_TRACES["delivery_failed"][:7]
    assert IN_FLIGHT_STATUS[refunding] == "refunding_payment"
    releasing = LEGAL_TRACES["payment_failed"][:5]
    assert releasing[-1] == INVENTORY_RELEASE and IN_FLIGHT_STATUS[releasing] == "releasing_inventory"
    assert INVENTORY_RELEASED not in {p[-1] for p in IN_FLIGHT_STATUS}


def test_in_flight_order_before_the_deadline_is_unknown():
    world = good_world(in_flight=True)
    verdict = world.check("orders_terminal")
    assert verdict.valid == "unknown"
    assert verdict.counterexamples[0]["order_id"] == "o-in-flight"


def test_deadline_counts_from_the_heal_not_from_the_order():
    world = good_world(in_flight=True)
    world.state.read_at = world.clock + 100.0
    world.history.faults = [FaultEvent("partition", "order", world.clock, world.clock + 50.0)]
    world.history.healed_at = world.clock + 50.0
    assert world.check("orders_terminal").valid == "unknown"  # 50 s after heal
    assert world.check("orders_terminal", terminal_deadline_s=30.0).valid is False


def test_deadline_taken_from_the_fault_log_when_healed_at_is_unset():
    world = good_world(in_flight=True)
    world.state.read_at = world.clock + 100.0
    world.history.faults = [FaultEvent("latency", "payment", world.clock, world.clock + 50.0)]
    assert world.check("orders_terminal", terminal_deadline_s=30.0).valid is False
    assert world.check("orders_terminal", terminal_deadline_s=60.0).valid == "unknown"


def test_a_fault_still_active_makes_a_pending_order_unknown_not_invalid():
    world = good_world(in_flight=True)
    world.state.read_at = world.clock + 1000.0
    world.history.faults = [FaultEvent("partition", "payment", world.clock)]
    verdict = world.check("orders_terminal")
    assert verdict.valid == "unknown" and "faults still active" in verdict.note


def test_an_order_from_a_timed_out_request_counts_as_accepted():
    world = good_world()
    # The client timed out (info); the order exists under the key it sent, and is stuck.
    world.add_in_flight("o-timeout", key="key-timeout")
    world.history.operations[-1] = Operation(50, "info", "place_order", world.clock, {"idempotency_key": "key-timeout"})
    world.state.read_at = world.clock + 61.0
    verdict = world.check("orders_terminal", order_ids=[COMPLETED])
    assert verdict.valid is False
    assert verdict.counterexamples[0]["order_id"] == "o-timeout"


def test_without_operations_the_deadline_counts_from_the_order_history():
    world = good_world(in_flight=True)
    world.history.operations = []  # `saga-harness check` on a running system: no client log
    world.state.read_at = world.clock + 61.0
    assert world.check("orders_terminal").valid is False
    world.order("o-in-flight")["history"][0]["at"] = "not a time"
    verdict = world.check("orders_terminal")
    assert verdict.valid == "unknown"
    assert verdict.counterexamples[0]["problem"] == "not terminal, and no deadline applies"


def test_lost_orders_are_invalid_even_while_others_are_still_in_flight():
    world = good_world(in_flight=True)
    world.state.orders.remove(world.order(COMPLETED))
    verdict = world.check("orders_terminal")
    assert verdict.valid is False and "1 more undecided" in verdict.note


def test_a_timed_out_request_that_created_nothing_is_fine():
    world = good_world()
    world.history.operations.append(Operation(50, "info", "place_order", world.clock, {"idempotency_key": "key-none"}))
    assert world.check("orders_terminal").valid is True


def test_order_ids_restrict_order_level_checks_but_not_stock():
    world = good_world()
    world.add_outcome("completed", "o-other")
    world.payment("o-other")["refunded_amount"] = 5.0
    world.product("product_2")["available"] = 7
    world.history.operations = []  # another run's ops are not in this history
    mine = set(OUTCOME_IDS)
    assert world.check("completed_order_charged_once", order_ids=mine).valid is True
    assert world.check("completed_order_charged_once").valid is False
    assert world.check("stock_conserved", order_ids=mine).valid is False


def test_counterexamples_are_capped_with_a_count_of_the_rest():
    world = good_world()
    for i in range(MAX_COUNTEREXAMPLES + 5):
        world.state.reservations.append(
            {"order_id": f"o-ghost-{i}", "product_id": "product_1", "quantity": 1, "status": "reserved"})
    verdict = world.check("no_orphan_reservation")
    assert verdict.valid is False
    assert len(verdict.counterexamples) == MAX_COUNTEREXAMPLES
    assert f"{MAX_COUNTEREXAMPLES + 5} counterexamples" in verdict.note


def test_an_expected_dead_letter_is_accounted_for_but_needs_a_reason():
    world = good_world()
    world.state.dead_letters.append(DeadLetter("saga.payment.dlq", "payment.process", "m-poison", "malformed"))
    world.state.queues["saga.payment.dlq"] = 1
    assert world.check("dead_letters_accounted", expected_dead_letters={"m-poison"}).valid is True
    world.state.dead_letters[0] = DeadLetter("saga.payment.dlq", "payment.process", "m-poison", "")
    verdict = world.check("dead_letters_accounted", expected_dead_letters={"m-poison"})
    assert verdict.valid is False and verdict.counterexamples[0]["problem"] == "dead letter without a reason"


def test_an_injected_poison_message_on_the_bus_is_not_a_saga_step():
    world = good_world()
    world.history.messages.append(RecordedMessage(world.tick(), PAYMENT_REFUND, "m-poison", COMPLETED))
    assert world.check("trace_legal").valid is False
    assert world.check("trace_legal", expected_dead_letters={"m-poison"}).valid is True


def test_unread_queues_and_inventory_make_the_verdict_unknown_and_the_rest_not_applicable():
    empty = SystemState()
    assert {v.name: v.valid for v in check_all(History(), empty)} == {
        name: "unknown" if name in ("stock_conserved", "availability_non_negative", "queues_drained",
                                    "dead_letters_accounted") else "not_applicable"
        for name in INVARIANTS
    }


def test_check_all_runs_only_the_named_invariants_and_refuses_unknown_names():
    world = good_world()
    assert [v.name for v in check_all(world.history, world.state, only=["queues_drained"])] == ["queues_drained"]
    with pytest.raises(ValueError, match="no_such_check"):
        check_all(world.history, world.state, only=["no_such_check"])


def test_reports_merge_verdicts_like_jepsen():
    world = good_world(in_flight=True)
    verdicts = check_all(world.history, world.state)
    assert overall(verdicts) == "unknown" and exit_code(verdicts) == 2
    world.product("product_1")["available"] += 1
    verdicts = check_all(world.history, world.state)
    as_dict = verdicts_to_dict(verdicts)
    assert as_dict["valid"] is False and exit_code(verdicts) == 1
    assert {"name", "valid", "description", "checked", "counterexamples", "note"} <= as_dict["invariants"][0].keys()
    text = summary(verdicts)
    assert "INVALID  stock_conserved" in text and text.endswith("overall: INVALID")


def test_invariants_are_pure():
    world = good_world(in_flight=True)
    before = (repr(world.history), repr(world.state))
    orders_terminal(world.history, world.state)
    check_all(world.history, world.state, order_ids=[COMPLETED])
    assert (repr(world.history), repr(world.state)) == before
