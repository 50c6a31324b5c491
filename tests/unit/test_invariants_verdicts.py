"""The verdicts you can trust (issue #12): the client's record, cross-service agreement, justified
outcomes, causality on the bus, answered commands, and honest verdict states.

Each new violation site has a hand-made violating world here (and the good world passes).
"""

from __future__ import annotations

from dataclasses import replace
from itertools import count
from typing import Any

import pytest

from harness.invariants import INVARIANTS, check_all, exit_code, summary, verdicts_to_dict
from harness.model import DeadLetter, History, Operation, RecordedMessage, SystemState, overall
from system.catalog import INITIAL_STOCK
from system.contracts import (
    INVENTORY_FAILED,
    INVENTORY_RELEASE,
    INVENTORY_RELEASED,
    INVENTORY_RESERVE,
    INVENTORY_RESERVED,
    PAYMENT_COMPLETED,
    PAYMENT_FAILED,
    PAYMENT_PROCESS,
    PAYMENT_REFUND,
    TRACE_INSUFFICIENT_INVENTORY,
)
from system.decisions import DecisionConfig, delivery_fails, payment_fails
from tests.unit.test_invariants import COMPLETED, NO_STOCK, PAY_FAILED, Violation, assert_caught
from tests.unit.test_invariants import DELIVERY_FAILED as DELIVERY_FAILED_ID
from tests.unit.world_builder import NO_DEADLINES, World, good_world, iso

DICE = DecisionConfig(seed=7, payment_failure_rate=0.5, delivery_failure_rate=0.5)


def _message(w: World, order_id: str, index: int) -> RecordedMessage:
    return next(m for m in w.history.messages if m.message_id == f"m-{order_id}-{index}")


def _set_message(w: World, order_id: str, index: int, **changes: Any) -> None:
    old = _message(w, order_id, index)
    w.history.messages = [replace(m, **changes) if m.message_id == old.message_id else m for m in w.history.messages]


def _ops_of(w: World, order_id: str) -> list[int]:
    """Indexes of the invoke and completion ops of the order's process."""
    process = next(op.process for op in w.history.operations if op.value.get("order_id") == order_id)
    return [i for i, op in enumerate(w.history.operations) if op.process == process]


def _edit_request(w: World, order_id: str, **changes: Any) -> None:
    for i in _ops_of(w, order_id):
        op = w.history.operations[i]
        w.history.operations[i] = replace(op, value={**op.value, **changes})


def _unforce(w: World, order_id: str) -> None:
    for i in _ops_of(w, order_id):
        op = w.history.operations[i]
        w.history.operations[i] = replace(op, value={k: v for k, v in op.value.items() if k != "force"})


def _stranger(w: World) -> None:
    """An order in state that no client operation placed (a saga nobody started)."""
    w.add_outcome("completed", "o-stranger")
    _drop_ops(w, "o-stranger")


def _drop_ops(w: World, order_id: str) -> None:
    drop = set(_ops_of(w, order_id))
    w.history.operations = [op for i, op in enumerate(w.history.operations) if i not in drop]


def _rewrite_as_refused(w: World) -> None:
    """A payment_failed order rewritten with the shorter, legal insufficient_inventory history."""
    order = w.order(PAY_FAILED)
    order.update(failure_reason="insufficient_inventory",
                 history=[{"event": e, "at": iso(w.clock)} for e in TRACE_INSUFFICIENT_INVENTORY])


def _refused_with_stock(w: World) -> None:
    """An order refused for 2 units of product_1 while 100,000 were there (recorded on the bus)."""
    w.place("o-refused", TRACE_INSUFFICIENT_INVENTORY, "failed", "insufficient_inventory", quantity=2)
    w.hold_stock("o-refused", "product_1", 2, "rejected")


def _step_repeated(w: World) -> None:
    original = _message(w, DELIVERY_FAILED_ID, 6)  # payment.refund, sent a second time under a new id
    w.history.messages.append(replace(original, message_id="m-refund-again", time=w.tick()))


VIOLATIONS = [
    # client_ground_truth
    Violation("client_ground_truth", "an acknowledged order does not exist",
              lambda w: (w.state.orders.remove(w.order(COMPLETED)), _drop_rows(w, COMPLETED)),
              {"order_id": COMPLETED, "problem": "acknowledged order does not exist"}),
    Violation("client_ground_truth", "the API stored another amount than the client sent",
              lambda w: w.order(COMPLETED).update(amount=25.01),
              {"order_id": COMPLETED, "differences": {"amount": {"requested": 25.0, "stored": 25.01}}}),
    Violation("client_ground_truth", "the API stored quantity + 1",
              lambda w: w.order(PAY_FAILED).update(quantity=3),
              {"order_id": PAY_FAILED, "differences": {"quantity": {"requested": 2, "stored": 3}}}),
    Violation("client_ground_truth", "the order of an unanswered request is another user's",
              lambda w: (_info(w, COMPLETED), w.order(COMPLETED).update(user_id="u-2")),
              {"order_id": COMPLETED, "problem": "order differs from what the unanswered request asked"}),
    Violation("client_ground_truth", "an order nobody placed (complete history)",
              _stranger, {"order_id": "o-stranger", "problem": "an order nobody placed"}),
    # cross_service_agreement
    Violation("cross_service_agreement", "a payment charged to another user",
              lambda w: w.payment(COMPLETED).update(user_id="u-2"),
              {"order_id": COMPLETED, "payment_user": "u-2", "order_user": "u-1"}),
    Violation("cross_service_agreement", "a payment for another amount (both the same on the order)",
              lambda w: w.payment(PAY_FAILED).update(amount=26.0),
              {"order_id": PAY_FAILED, "problem": "payment's amount differs from its order's"}),
    Violation("cross_service_agreement", "refunded with refunded_amount 0",
              lambda w: w.payment(DELIVERY_FAILED_ID).update(refunded_amount=0.0),
              {"order_id": DELIVERY_FAILED_ID, "problem": "refunded payment did not return exactly its amount"}),
    Violation("cross_service_agreement", "a completed payment with a refunded amount",
              lambda w: w.payment(PAY_FAILED).update(refunded_amount=3.0),
              {"order_id": PAY_FAILED, "problem": "payment that is not refunded has a refunded amount"}),
    Violation("cross_service_agreement", "a reservation of another product",
              lambda w: w.reservation(PAY_FAILED).update(product_id="product_2"),
              {"order_id": PAY_FAILED, "reserved_product": "product_2"}),
    Violation("cross_service_agreement", "a released reservation of another quantity",
              lambda w: w.reservation(PAY_FAILED).update(quantity=5),
              {"order_id": PAY_FAILED, "reserved_quantity": 5, "ordered_quantity": 2}),
    Violation("cross_service_agreement", "the order row vanished after compensation",
              lambda w: w.state.orders.remove(w.order(PAY_FAILED)),
              {"order_id": PAY_FAILED, "problem": "payment for an order the order service does not know"}),
    Violation("cross_service_agreement", "a delivery for an order nobody knows",
              lambda w: w.state.deliveries.append({"delivery_id": "d-x", "order_id": "o-ghost", "status": "failed"}),
              {"order_id": "o-ghost", "problem": "delivery for an order the order service does not know"}),
    Violation("cross_service_agreement", "opening stock lowered together with available",
              lambda w: w.product("product_3").update(initial=40, available=w.product("product_3")["available"] - 10),
              {"product_id": "product_3", "initial": 40, "catalog": 50}),
    Violation("cross_service_agreement", "inventory lists a product the catalog does not",
              lambda w: w.state.inventory.append({"product_id": "product_9", "available": 1, "reserved": 0, "initial": 1}),
              {"product_id": "product_9"}),
    Violation("cross_service_agreement", "a catalog product is missing from inventory",
              lambda w: w.state.inventory.remove(w.product("product_2")),
              {"product_id": "product_2", "problem": "a catalog product is missing from inventory"}),
    # outcome_justified
    Violation("outcome_justified", "refused for insufficient inventory while the stock sufficed",
              _refused_with_stock,
              {"order_id": "o-refused", "available": INITIAL_STOCK["product_1"] - 2, "quantity": 2}),
    Violation("outcome_justified", "refused for insufficient inventory but inventory never said so",
              lambda w: w.drop_message(NO_STOCK, INVENTORY_FAILED),
              {"order_id": NO_STOCK, "problem": "refused for insufficient inventory, but inventory never said so"}),
    Violation("outcome_justified", "payment failed although the client forced success",
              lambda w: _edit_request(w, PAY_FAILED, force={"payment": "succeed"}),
              {"order_id": PAY_FAILED, "step": "payment", "failed": True, "force": "succeed"}),
    Violation("outcome_justified", "a payment_failed order rewritten as insufficient_inventory",
              _rewrite_as_refused,
              {"order_id": PAY_FAILED, "problem": "reservations did not record the failure"}),
    Violation("outcome_justified", "payment acted on an order inventory refused",
              lambda w: w.state.payments.append({"payment_id": "p-x", "order_id": NO_STOCK, "user_id": "u-1",
                                                 "amount": 25.0, "status": "failed", "refunded_amount": 0.0}),
              {"order_id": NO_STOCK, "problem": "payments acted after the failure"}),
    # bus_causality
    Violation("bus_causality", "a reply that names no cause",
              lambda w: _set_message(w, COMPLETED, 1, causation_id=None),
              {"order_id": COMPLETED, "routing_key": INVENTORY_RESERVED,
               "problem": "names no cause, but only a saga's first command may"}),
    Violation("bus_causality", "a reply whose cause was never recorded",
              lambda w: _set_message(w, COMPLETED, 3, causation_id="m-nowhere"),
              {"order_id": COMPLETED, "causation_id": "m-nowhere"}),
    Violation("bus_causality", "a reply caused by another order's command",
              lambda w: _set_message(w, COMPLETED, 3, causation_id=f"m-{PAY_FAILED}-2"),
              {"order_id": COMPLETED, "cause_order_id": PAY_FAILED}),
    Violation("bus_causality", "a command caused by a step that does not lead to it",
              lambda w: _set_message(w, DELIVERY_FAILED_ID, 6, causation_id=f"m-{DELIVERY_FAILED_ID}-1"),
              {"order_id": DELIVERY_FAILED_ID, "routing_key": PAYMENT_REFUND, "cause_routing_key": INVENTORY_RESERVED}),
    Violation("bus_causality", "messages for an order the order service does not know",
              lambda w: w.history.messages.append(RecordedMessage(w.tick(), INVENTORY_RESERVE, "m-ghost", "o-ghost")),
              {"order_id": "o-ghost", "routing_keys": [INVENTORY_RESERVE]}),
    # command_answered
    Violation("command_answered", "a command acked and dropped: no reply, no dead letter",
              lambda w: (w.drop_message(DELIVERY_FAILED_ID, INVENTORY_RELEASED), setattr(w.state, "read_at", w.clock + 61)),
              {"order_id": DELIVERY_FAILED_ID, "routing_key": INVENTORY_RELEASE, "problem": "not answered after the deadline"}),
    # trace_legal, as sequences
    Violation("trace_legal", "a compensation step repeated on the bus under a new id",
              _step_repeated, {"order_id": DELIVERY_FAILED_ID, "routing_key": PAYMENT_REFUND,
                               "problem": "step repeated on the bus"}),
    Violation("trace_legal", "the bus carried the steps in another order",
              lambda w: _swap_times(w, COMPLETED, 2, 3),
              {"order_id": COMPLETED, "problem": "bus carried the steps in another order"}),
    # publisher_owns_key (issue #15)
    Violation("publisher_owns_key", "the order service published a participant's reply",
              lambda w: _set_message(w, COMPLETED, 3, app_id="order"),
              {"order_id": COMPLETED, "routing_key": PAYMENT_COMPLETED, "app_id": "order", "owner": "payment"}),
    Violation("publisher_owns_key", "a message names no publisher while the others do",
              lambda w: _set_message(w, COMPLETED, 1, app_id=None),
              {"order_id": COMPLETED, "routing_key": INVENTORY_RESERVED, "owner": "inventory"}),
    Violation("publisher_owns_key", "a message names a publisher that is no service",
              lambda w: _set_message(w, COMPLETED, 1, app_id="mallory"),
              {"order_id": COMPLETED, "app_id": "mallory"}),
]


def _drop_rows(w: World, order_id: str) -> None:
    for rows in (w.state.payments, w.state.reservations, w.state.deliveries):
        rows[:] = [r for r in rows if r["order_id"] != order_id]


def _info(w: World, order_id: str) -> None:
    """The client never heard back for this order (timeout): its completion is an info."""
    for i in _ops_of(w, order_id):
        if w.history.operations[i].type == "ok":
            w.history.operations[i] = replace(w.history.operations[i], type="info")


def _swap_times(w: World, order_id: str, a: int, b: int) -> None:
    """Record message b before message a (list order is recording order)."""
    ma, mb = _message(w, order_id, a), _message(w, order_id, b)
    ia, ib = w.history.messages.index(ma), w.history.messages.index(mb)
    w.history.messages[ia], w.history.messages[ib] = mb, ma


def _check(w: World, name: str, **options: Any):
    options.setdefault("complete_history", True)
    return w.check(name, **options)


@pytest.mark.parametrize("case", VIOLATIONS, ids=lambda c: f"{c.invariant}: {c.story}")
def test_new_invariant_fails_on_violation_and_names_the_culprit(case: Violation):
    assert_caught(case, complete_history=True)


def test_the_good_world_is_valid_with_a_complete_history_and_dice():
    world = good_world()
    verdicts = check_all(world.history, world.state, complete_history=True, decisions=DICE)
    # No deadlines in this world: tests/unit/test_invariants_deadlines.py has a world with them.
    assert {v.name: v.valid for v in verdicts} == {name: True for name in INVARIANTS} | NO_DEADLINES


# --- client_ground_truth ------------------------------------------------------------------------
def test_an_unanswered_request_may_or_may_not_have_created_its_order():
    world = good_world()
    _info(world, COMPLETED)
    assert _check(world, "client_ground_truth").valid is True
    world.state.orders.remove(world.order(COMPLETED))
    _drop_rows(world, COMPLETED)
    assert _check(world, "client_ground_truth").valid is True  # never created: fine as well


def test_an_order_from_an_anonymous_unanswered_request_is_accounted_for_by_its_fields():
    world = good_world()
    _info(world, COMPLETED)
    for i in _ops_of(world, COMPLETED):  # the client never learnt the id and sent no key
        op = world.history.operations[i]
        world.history.operations[i] = replace(
            op, value={k: v for k, v in op.value.items() if k not in ("order_id", "idempotency_key")})
    assert _check(world, "client_ground_truth").valid is True
    world.order(COMPLETED).update(amount=99.0)  # no unanswered request asked for this one
    verdict = _check(world, "client_ground_truth")
    assert verdict.valid is False and verdict.counterexamples[0]["problem"] == "an order nobody placed"


def test_an_order_nobody_placed_is_fine_when_the_history_is_not_complete():
    world = good_world()
    _stranger(world)
    assert _check(world, "client_ground_truth", complete_history=False).valid is True


def test_a_refused_request_accounts_for_nothing():
    world = good_world()
    world.history.operations.append(Operation(77, "invoke", "place_order", world.tick(), {"amount": 1.0}))
    world.history.operations.append(Operation(77, "fail", "place_order", world.tick(), {"amount": 1.0}, "409"))
    assert _check(world, "client_ground_truth").valid is True


def test_money_is_compared_to_the_cent():
    world = good_world()
    world.order(COMPLETED).update(amount=25.004)
    assert _check(world, "client_ground_truth").valid is True


# --- outcome_justified --------------------------------------------------------------------------
def _order_id(fails: bool, step: str = "payment") -> str:
    dice = payment_fails if step == "payment" else delivery_fails
    return next(f"o-dice-{i}" for i in count() if dice(DICE, f"o-dice-{i}", None) is fails)


def test_unforced_outcomes_agree_with_the_dice():
    world = good_world()
    pay_fails, pay_ok = _order_id(True), _order_id(False)
    world.add_outcome("payment_failed", pay_fails)
    _unforce(world, pay_fails)
    assert _check(world, "outcome_justified", decisions=DICE).valid is True
    assert _check(world, "outcome_justified").valid == "unknown"  # no dice to judge by
    world.add_outcome("payment_failed", pay_ok)  # the dice say this payment succeeds
    _unforce(world, pay_ok)
    verdict = _check(world, "outcome_justified", decisions=DICE)
    assert verdict.valid is False and verdict.counterexamples[0]["order_id"] == pay_ok


def test_delivery_outcomes_agree_with_the_dice():
    world = good_world()
    delivered = next(i for i in (f"o-d-{n}" for n in count())
                     if not payment_fails(DICE, i, None) and not delivery_fails(DICE, i, None))
    world.add_outcome("delivery_failed", delivered)
    _unforce(world, delivered)
    verdict = _check(world, "outcome_justified", decisions=DICE)
    assert verdict.valid is False and verdict.counterexamples[0]["step"] == "delivery"


def test_a_force_from_the_bus_counts_when_the_client_log_lacks_it():
    world = good_world()
    pay_ok = _order_id(False)
    world.add_outcome("payment_failed", pay_ok)
    _drop_ops(world, pay_ok)
    verdict = _check(world, "outcome_justified", decisions=DICE, complete_history=False)
    assert verdict.valid == "unknown"  # disagrees with the dice, force unknown
    _set_message(world, pay_ok, 2, payload={"force": "fail"})  # payment.process carried the force
    assert _check(world, "outcome_justified", decisions=DICE, complete_history=False).valid is True
    _set_message(world, pay_ok, 2, payload={"force": None})
    assert _check(world, "outcome_justified", decisions=DICE, complete_history=False).valid is False


def test_the_order_rows_own_force_field_is_authoritative():
    world = good_world()
    world.order(PAY_FAILED)["force"] = {"payment": "succeed"}
    assert _check(world, "outcome_justified").valid is False
    world.order(PAY_FAILED)["force"] = {"payment": "fail"}
    assert _check(world, "outcome_justified").valid is True


def test_a_refusal_at_the_boundary_is_justified_by_the_stock_replay():
    world = good_world()
    scarce = INITIAL_STOCK["product_3"]
    world.add_outcome("completed", "o-takes-most", product_id="product_3", quantity=scarce - 1)
    world.place("o-one-too-many", TRACE_INSUFFICIENT_INVENTORY, "failed", "insufficient_inventory",
                product_id="product_3", quantity=2)
    world.hold_stock("o-one-too-many", "product_3", 2, "rejected")
    assert _check(world, "outcome_justified").valid is True
    assert _check(world, "outcome_justified", complete_history=False).valid is True  # from the final stock
    world.order("o-one-too-many")["quantity"] = 1  # exactly the remaining stock: must be accepted
    verdict = _check(world, "outcome_justified")
    assert verdict.valid is False and verdict.counterexamples[0]["available"] == 1


def test_stock_given_back_by_a_release_counts_in_the_replay():
    world = good_world()
    scarce = INITIAL_STOCK["product_3"]
    world.add_outcome("payment_failed", "o-gives-back", product_id="product_3", quantity=scarce)
    world.place("o-after", TRACE_INSUFFICIENT_INVENTORY, "failed", "insufficient_inventory",
                product_id="product_3", quantity=scarce)
    world.hold_stock("o-after", "product_3", scarce, "rejected")
    verdict = _check(world, "outcome_justified")
    assert verdict.valid is False and verdict.counterexamples[0]["order_id"] == "o-after"


STOCK_REPLY_KEYS = (INVENTORY_RESERVED, INVENTORY_RELEASED, INVENTORY_FAILED)


def _stamp_commit_order(w: World) -> None:
    """Every inventory reply gets the outbox seq of its place on the bus: the commit order, so far."""
    seqs = count(1)
    w.history.messages = [replace(m, outbox_seq=next(seqs)) if m.routing_key in STOCK_REPLY_KEYS else m
                          for m in w.history.messages]


def _publish_after(w: World, message_id: str, after_id: str) -> None:
    """Move every recording of `message_id` to just after `after_id`: its publish failed and the
    relay sent it again after a row committed later (same message, same outbox seq)."""
    moved = [m for m in w.history.messages if m.message_id == message_id]
    rest = [m for m in w.history.messages if m.message_id != message_id]
    at = max(i for i, m in enumerate(rest) if m.message_id == after_id) + 1
    w.history.messages = rest[:at] + moved + rest[at:]


def _scarce_world(refusal_evidence: int) -> World:
    """o-takes-all reserves all of product_3, then o-refused asks 1 and inventory refuses it."""
    world = good_world()
    scarce = INITIAL_STOCK["product_3"]
    world.add_outcome("completed", "o-takes-all", product_id="product_3", quantity=scarce)
    world.place("o-refused", TRACE_INSUFFICIENT_INVENTORY, "failed", "insufficient_inventory",
                product_id="product_3", quantity=1)
    world.hold_stock("o-refused", "product_3", 1, "rejected", available_seen=refusal_evidence)
    _set_message(world, "o-refused", 1, payload={"product_id": "product_3", "quantity": 1,
                                                 "available": refusal_evidence})
    return world


def test_the_stock_replay_follows_inventorys_commit_order_not_the_bus_order():
    world = _scarce_world(refusal_evidence=0)
    _stamp_commit_order(world)
    reserved = _message(world, "o-takes-all", 1)
    assert reserved.routing_key == INVENTORY_RESERVED
    # The reservation's publish failed: the refusal, committed after it, reached the bus first.
    _publish_after(world, reserved.message_id, _message(world, "o-refused", 1).message_id)
    assert _check(world, "outcome_justified").valid is True
    assert _check(world, "outcome_justified", complete_history=False).valid is True
    # Without the seqs (a recording made before the relay stamped them) bus order is all there is,
    # and it misjudges this refusal: the documented fallback.
    world.history.messages = [replace(m, outbox_seq=None) for m in world.history.messages]
    verdict = _check(world, "outcome_justified")
    assert verdict.valid is False
    assert {c["problem"] for c in verdict.counterexamples} == {
        "refused for insufficient inventory while the stock sufficed",
        "inventory's evidence of the refusal disagrees with the replayed stock"}


def test_a_refusal_committed_before_the_reservation_is_caught_whatever_the_bus_order():
    # Inventory refused o-refused while all of the stock was there, then reserved it for o-takes-all,
    # and claims 0 available: bus order (reservation first) would make that refusal look right.
    world = _scarce_world(refusal_evidence=0)
    refusal = _message(world, "o-refused", 1)
    reserved = _message(world, "o-takes-all", 1)
    _publish_after(world, refusal.message_id, _message(world, "o-takes-all", 0).message_id)
    _stamp_commit_order(world)  # commit order: the refusal, then the reservation
    _publish_after(world, refusal.message_id, reserved.message_id)  # on the bus: the other way round
    # A redelivered copy of the refusal, later on the bus, carries the same seq; it changes nothing.
    world.history.messages.append(replace(_message(world, "o-refused", 1), time=world.tick(), redelivered=True))
    verdict = _check(world, "outcome_justified")
    assert verdict.valid is False
    scarce = INITIAL_STOCK["product_3"]
    assert [(c["order_id"], c["problem"], c["available"]) for c in verdict.counterexamples] == [
        ("o-refused", "refused for insufficient inventory while the stock sufficed", scarce),
        ("o-refused", "inventory's evidence of the refusal disagrees with the replayed stock", scarce)]
    world.history.messages = [replace(m, outbox_seq=None) for m in world.history.messages]
    assert _check(world, "outcome_justified").valid is True  # what bus order alone concludes


def test_commit_order_sorts_by_outbox_seq_only_when_every_reply_carries_it():
    from harness.invariants.outcomes import commit_order

    a, b, c = (RecordedMessage(float(i), INVENTORY_RESERVED, f"m{i}", f"o{i}", outbox_seq=s)
               for i, s in ((1, 3), (2, 1), (3, 2)))
    assert commit_order([a, b, c]) == [b, c, a]
    unstamped = replace(c, outbox_seq=None)
    assert commit_order([a, b, unstamped]) == [a, b, unstamped]  # bus order, as given
    assert commit_order([]) == []


def test_without_a_recording_a_refusal_is_judged_by_the_figure_inventory_saw():
    world = good_world()
    world.history.messages = []
    assert _check(world, "outcome_justified").valid is True  # asks 54, inventory saw 50
    world.reservation(NO_STOCK)["available_seen"] = 3
    world.order(NO_STOCK)["quantity"] = 4  # asks 4 of the 3 inventory saw: justified
    world.reservation(NO_STOCK)["quantity"] = 4
    assert _check(world, "outcome_justified").valid is True
    world.order(NO_STOCK)["quantity"] = 3  # exactly what inventory saw: it should have reserved
    verdict = _check(world, "outcome_justified")
    assert verdict.valid is False
    assert verdict.counterexamples[0] == {
        "order_id": NO_STOCK, "problem": "refused while the service itself saw enough stock",
        "product_id": "product_3", "quantity": 3, "available_seen": 3}


def test_the_service_seeing_enough_is_a_violation_even_for_more_than_the_opening_stock():
    world = good_world()
    world.history.messages = []
    world.reservation(NO_STOCK)["available_seen"] = INITIAL_STOCK["product_3"] + 10  # asks 54
    assert _check(world, "outcome_justified").valid is False


def test_without_a_recording_or_the_figure_only_more_than_the_opening_stock_is_provable():
    world = good_world()
    world.history.messages = []
    world.reservation(NO_STOCK)["available_seen"] = None  # a row an older service wrote
    assert _check(world, "outcome_justified").valid is True  # asks 54 of 50
    world.order(NO_STOCK)["quantity"] = 3
    verdict = _check(world, "outcome_justified")
    assert verdict.valid == "unknown"
    assert verdict.counterexamples[0]["problem"] == "refusal not provable without a recording of the stock"


def test_a_refusal_without_its_rejected_row_stays_undecided_by_the_evidence():
    from harness.invariants.common import Findings
    from harness.invariants.outcomes import _judge_refusals_by_evidence

    order = {"order_id": "o-x", "product_id": "product_3", "quantity": 3}
    found = Findings("outcome_justified")
    _judge_refusals_by_evidence(found, {"o-x": order}, {"o-x": [{"status": "released", "available_seen": 50}]})
    assert found.invalid == [] and found.unsure[0]["problem"] == "refusal not provable without a recording of the stock"
    found = Findings("outcome_justified")
    _judge_refusals_by_evidence(found, {"o-x": order}, {})
    assert found.invalid == [] and len(found.unsure) == 1


def test_with_a_recording_the_refusals_evidence_must_agree_with_the_replayed_stock():
    world = good_world()
    assert _check(world, "outcome_justified").valid is True  # inventory.failed says 50: the replay's
    failed = _message(world, NO_STOCK, 1)
    _set_message(world, NO_STOCK, 1, payload={**failed.payload, "available": 49})
    verdict = _check(world, "outcome_justified")
    assert verdict.valid is False
    assert verdict.counterexamples[0] == {
        "order_id": NO_STOCK, "problem": "inventory's evidence of the refusal disagrees with the replayed stock",
        "product_id": "product_3", "quantity": INITIAL_STOCK["product_3"] + 4,
        "available": INITIAL_STOCK["product_3"], "available_reported": 49}
    _set_message(world, NO_STOCK, 1, payload={k: v for k, v in failed.payload.items() if k != "available"})
    assert _check(world, "outcome_justified").valid is True  # no figure (an older service): the replay alone


def test_a_failure_reason_the_decider_did_not_record_is_contradicted():
    world = good_world()
    world.order(DELIVERY_FAILED_ID).update(
        failure_reason="payment_failed",
        history=[{"event": e, "at": iso(world.clock)} for e in
                 (INVENTORY_RESERVE, INVENTORY_RESERVED, PAYMENT_PROCESS, PAYMENT_FAILED,
                  INVENTORY_RELEASE, INVENTORY_RELEASED)])
    verdict = _check(world, "outcome_justified")
    assert verdict.valid is False
    problems = {e["problem"] for e in verdict.counterexamples}
    assert {"payments did not record the failure", "deliveries acted after the failure"} <= problems


# --- bus_causality, trace_legal, one_effect_per_cause and injected copies ------------------------
def _inject_copy(w: World, order_id: str, index: int, new_id: str = "m-copy") -> None:
    original = _message(w, order_id, index)
    w.history.messages.append(replace(original, message_id=new_id, time=w.tick()))
    w.history.injected[new_id] = original.message_id


@pytest.mark.parametrize("name", ["trace_legal", "one_effect_per_cause", "bus_causality", "command_answered"])
def test_a_copy_a_nemesis_injected_under_a_new_id_is_the_fault_not_a_violation(name: str):
    world = good_world()
    _inject_copy(world, DELIVERY_FAILED_ID, 5)  # delivery.failed again
    _inject_copy(world, COMPLETED, 2, "m-copy-2")  # payment.process again (nobody answered the copy)
    assert _check(world, name).valid is True


def test_without_the_injection_record_the_copy_is_a_repeated_step():
    world = good_world()
    _inject_copy(world, DELIVERY_FAILED_ID, 5)
    world.history.injected.clear()
    assert _check(world, "trace_legal").valid is False
    assert _check(world, "one_effect_per_cause").valid is False


def test_a_message_for_an_unknown_order_is_a_violation_in_a_scoped_run_too():
    world = good_world()
    world.history.messages.append(RecordedMessage(world.tick(), INVENTORY_RESERVE, "m-ghost", "o-ghost"))
    verdict = _check(world, "bus_causality", order_ids=[COMPLETED])
    assert verdict.valid is False and verdict.counterexamples[0]["order_id"] == "o-ghost"


def test_a_poison_message_a_test_sent_is_not_judged_for_causes():
    world = good_world()
    world.history.messages.append(RecordedMessage(world.tick(), PAYMENT_COMPLETED, "m-poison", COMPLETED))
    assert _check(world, "bus_causality").valid is False
    assert _check(world, "bus_causality", expected_dead_letters={"m-poison"}).valid is True


# --- command_answered ---------------------------------------------------------------------------
def test_a_dead_lettered_command_with_a_reason_is_answered():
    world = good_world()
    world.drop_message(DELIVERY_FAILED_ID, INVENTORY_RELEASED)
    world.state.read_at = world.clock + 61
    release = _message(world, DELIVERY_FAILED_ID, 8)
    world.state.dead_letters.append(DeadLetter("saga.inventory.dlq", INVENTORY_RELEASE, release.message_id, ""))
    assert _check(world, "command_answered").valid is False  # a dead letter without a reason is no answer
    world.state.dead_letters[0] = replace(world.state.dead_letters[0], reason="handler raised 5 times")
    assert _check(world, "command_answered").valid is True


def test_an_unanswered_command_before_the_deadline_is_unknown():
    world = good_world()
    world.drop_message(DELIVERY_FAILED_ID, INVENTORY_RELEASED)
    verdict = _check(world, "command_answered")
    assert verdict.valid == "unknown"
    assert verdict.counterexamples[0]["problem"] == "not answered yet, deadline not reached"


# --- honest states ------------------------------------------------------------------------------
def test_an_invariant_that_checked_nothing_is_not_applicable_never_valid():
    verdicts = check_all(History(), SystemState(queues={"saga.order": 0}), only=["trace_legal", "queues_drained"])
    assert [v.valid for v in verdicts] == ["not_applicable", "unknown"]
    assert "n/a" in summary(verdicts) and "not applicable" in summary(verdicts)


def test_nothing_checked_at_all_is_unknown_with_the_reason():
    verdicts = check_all(History(), SystemState(), only=["trace_legal", "client_ground_truth"])
    assert {v.valid for v in verdicts} == {"not_applicable"}
    assert overall(verdicts) == "unknown" and exit_code(verdicts) == 2
    assert verdicts_to_dict(verdicts)["note"] == "nothing was checked: every invariant was not applicable"
    assert summary(verdicts).endswith("overall: unknown (nothing was checked: every invariant was not applicable)")


def test_not_applicable_verdicts_do_not_change_the_overall():
    world = good_world()
    world.history.operations = []
    for order in world.state.orders:
        order["idempotency_key"] = None
    verdicts = check_all(world.history, world.state, only=["stock_conserved", "idempotency_key_one_saga"])
    assert [v.valid for v in verdicts] == [True, "not_applicable"]
    assert overall(verdicts) is True and exit_code(verdicts) == 0


def test_a_non_numeric_amount_loses_one_verdict_not_all():
    world = good_world()
    world.payment(COMPLETED)["amount"] = "twenty-five"
    verdicts = {v.name: v for v in check_all(world.history, world.state, complete_history=True)}
    raised = verdicts["cross_service_agreement"]
    assert raised.valid == "unknown" and "ValueError" in raised.note
    assert verdicts["stock_conserved"].valid is True and verdicts["trace_legal"].valid is True
    assert exit_code(list(verdicts.values())) == 2


def _answer(w: World, cause: str, routing_key: str, message_id: str) -> None:
    order_id = next(m.order_id for m in w.history.messages if m.message_id == cause)
    w.history.messages.append(RecordedMessage(w.tick(), routing_key, message_id, order_id, causation_id=cause))


def test_the_answer_to_a_copied_command_is_owed_and_must_repeat_the_original_answer():
    world = good_world()
    _inject_copy(world, COMPLETED, 2, "m-copy")  # payment.process again, under a new id
    _answer(world, "m-copy", PAYMENT_COMPLETED, "m-answer")  # the payment service repeats its decision
    assert _check(world, "trace_legal").valid is True
    assert _check(world, "command_answered").valid is True
    world.history.messages.pop()
    _answer(world, "m-copy", PAYMENT_FAILED, "m-answer")  # decided afresh, and differently
    verdict = _check(world, "trace_legal")
    assert verdict.valid is False
    assert verdict.counterexamples[0] == {
        "order_id": COMPLETED, "message_id": "m-answer", "routing_key": PAYMENT_FAILED,
        "problem": "a copied command was answered differently from its original",
        "original_answers": [PAYMENT_COMPLETED]}


def test_a_compensation_repeated_on_a_copied_reply_is_the_order_service_acting_twice():
    world = good_world()
    _inject_copy(world, DELIVERY_FAILED_ID, 5, "m-copy")  # delivery.failed again, while refunding
    assert _check(world, "trace_legal").valid is True
    _answer(world, "m-copy", PAYMENT_REFUND, "m-refund-again")  # the order service refunds again
    verdict = _check(world, "trace_legal")
    assert verdict.valid is False
    assert verdict.counterexamples[0]["problem"] == "step repeated on the bus"


def test_a_saga_may_go_on_from_a_copy_that_arrived_before_its_original():
    world = good_world()
    msgs = world.history.messages
    reserved = _message(world, COMPLETED, 1)
    copy = replace(reserved, message_id="m-copy")
    world.history.injected["m-copy"] = reserved.message_id
    msgs.remove(reserved)
    msgs.insert(msgs.index(_message(world, COMPLETED, 0)) + 1, copy)  # the copy is seen first...
    msgs.insert(msgs.index(_message(world, COMPLETED, 2)) + 1, reserved)  # ...the original after payment.process
    _set_message(world, COMPLETED, 2, causation_id="m-copy")  # the order service went on from the copy
    for name in ("trace_legal", "bus_causality", "one_effect_per_cause", "command_answered"):
        assert _check(world, name).valid is True, name
    world.history.injected.clear()  # undeclared, the copy is a repeated step
    assert _check(world, "trace_legal").valid is False


def test_a_scoped_run_judges_its_own_rows_only():
    world = good_world()
    world.state.payments.append({**world.payment(COMPLETED), "order_id": "o-another-runs", "user_id": "u-9"})
    world.history.operations = [op for op in world.history.operations if op.value.get("order_id") != PAY_FAILED]
    world.state.orders.remove(world.order(PAY_FAILED))  # this run's own order vanished
    verdict = _check(world, "cross_service_agreement", order_ids=[COMPLETED, PAY_FAILED], complete_history=False)
    assert verdict.valid is False
    assert {e["order_id"] for e in verdict.counterexamples} == {PAY_FAILED}
