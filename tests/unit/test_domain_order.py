"""The order saga's state machine: the seed's traces, and late or repeated replies ignored."""

import pytest

from system.composition import decide_for
from system.contracts import (
    LEGAL_TRACES,
    TRACE_DELIVERY_FAILED,
    TRACE_INSUFFICIENT_INVENTORY,
    TRACE_PAYMENT_FAILED,
    TRACE_SUCCESS,
    HandlerContext,
    Message,
)
from system.decisions import DecisionConfig
from system.defects import Defect
from system.order import domain
from system.registry import SERVICE_LOGIC

CTX = HandlerContext(now="t", decisions=DecisionConfig())
REQUEST = domain.OrderRequest("u1", "product_1", 2, 19.99)


def reply(order_id: str, key: str, n: int = 0) -> Message:
    return Message(message_id=f"{key}-{n}", type=key, order_id=order_id)


def drive(replies: list[str], handle=domain.handle) -> tuple[domain.Order, list[str]]:
    outcome = domain.place_order("o1", REQUEST, "t0")
    order, sent = outcome.state, [m.type for m in outcome.messages]
    for i, key in enumerate(replies):
        outcome = handle(order, reply("o1", key, i), CTX)
        order = outcome.state
        sent += [m.type for m in outcome.messages]
    return order, sent


def events(order: domain.Order) -> tuple[str, ...]:
    return tuple(h.event for h in order.history)


@pytest.mark.parametrize(
    ("replies", "status", "reason", "trace"),
    [
        (["inventory.reserved", "payment.completed", "delivery.scheduled"], "completed", None, TRACE_SUCCESS),
        (["inventory.reserved", "payment.failed", "inventory.released"], "failed", "payment_failed", TRACE_PAYMENT_FAILED),
        (
            ["inventory.reserved", "payment.completed", "delivery.failed", "payment.refunded", "inventory.released"],
            "failed", "delivery_failed", TRACE_DELIVERY_FAILED,
        ),
        (["inventory.failed"], "failed", "insufficient_inventory", TRACE_INSUFFICIENT_INVENTORY),
    ],
)
def test_each_outcome_follows_the_seed_trace(replies, status, reason, trace):
    order, sent = drive(replies)
    assert (order.status, order.failure_reason) == (status, reason)
    assert events(order) == trace
    assert LEGAL_TRACES[reason or "completed"] == trace
    # What it sent is exactly the commands in its trace.
    assert sent == [e for e in trace if e.split(".")[1] in ("reserve", "process", "schedule", "refund", "release")]


def test_place_order_sends_inventory_reserve_with_a_derived_id():
    a = domain.place_order("o1", REQUEST, "t0")
    b = domain.place_order("o1", REQUEST, "t1")
    assert a.state.status == "pending"
    assert [m.type for m in a.messages] == ["inventory.reserve"]
    assert a.messages[0].message_id == b.messages[0].message_id
    assert a.messages[0].payload == {"product_id": "product_1", "quantity": 2}


def test_a_repeated_reply_is_ignored_and_sends_nothing():
    order, _ = drive(["inventory.reserved"])
    again = domain.handle(order, reply("o1", "inventory.reserved", 99), CTX)
    assert again.state == order and again.messages == ()
    assert "ignored" in again.note


def test_an_out_of_order_reply_is_ignored():
    order, _ = drive([])
    early = domain.handle(order, reply("o1", "delivery.scheduled"), CTX)
    assert early.state.status == "pending" and early.messages == ()


def test_terminal_orders_ignore_everything():
    order, _ = drive(["inventory.failed"])
    for key in ("inventory.reserved", "payment.completed", "inventory.released"):
        assert domain.handle(order, reply("o1", key), CTX).state == order


def test_reply_for_an_unknown_order_is_ignored():
    outcome = domain.handle(None, reply("nobody", "payment.completed"), CTX)
    assert outcome.state is None and outcome.messages == ()


def test_commands_carry_the_forced_outcomes():
    request = domain.OrderRequest("u1", "product_1", 1, 5.0, force_payment="fail", force_delivery="succeed")
    order = domain.place_order("o1", request, "t0").state
    out = domain.handle(order, reply("o1", "inventory.reserved"), CTX)
    assert out.messages[0].payload == {"user_id": "u1", "amount": 5.0, "force": "fail"}


def test_idempotency_fingerprint_differs_when_the_body_does():
    assert REQUEST.fingerprint() == domain.OrderRequest("u1", "product_1", 2, 19.99).fingerprint()
    assert REQUEST.fingerprint() != domain.OrderRequest("u1", "product_1", 3, 19.99).fingerprint()


def test_defect_no_delivery_compensation_skips_refund_and_release():
    handle = decide_for("order", {Defect.NO_DELIVERY_COMPENSATION})
    order, sent = drive(["inventory.reserved", "payment.completed", "delivery.failed"], handle)
    assert order.status == "failed" and "payment.refund" not in sent


def test_defect_complete_before_delivery_completes_on_payment():
    handle = decide_for("order", {Defect.COMPLETE_BEFORE_DELIVERY})
    order, sent = drive(["inventory.reserved", "payment.completed"], handle)
    assert order.status == "completed" and sent[-1] == "delivery.schedule"


def test_defect_compensation_repeated_on_copy_sends_the_release_again():
    handle = decide_for("order", {Defect.COMPENSATION_REPEATED_ON_COPY})
    order, _ = drive(["inventory.reserved", "payment.failed"], handle)
    copy = handle(order, reply("o1", "payment.failed", 99), CTX)
    assert copy.state == order and [m.type for m in copy.messages] == ["inventory.release"]
    assert domain.handle(order, reply("o1", "payment.failed", 99), CTX).messages == ()


def test_with_no_defect_the_composed_handler_is_the_domain_handler():
    assert all(decide_for(name) is SERVICE_LOGIC[name].decide for name in SERVICE_LOGIC)


# -- the Idempotency-Key rule --------------------------------------------------------------
def test_idempotency_rule_place_replay_conflict():
    order = domain.place_order("o1", REQUEST, "t0").state
    assert domain.idempotency_decision(None, REQUEST) == domain.PLACE
    assert domain.idempotency_decision((order, REQUEST.fingerprint()), REQUEST) == domain.Replay(order)
    other = domain.OrderRequest("u1", "product_1", 3, 19.99)
    assert domain.idempotency_decision((order, REQUEST.fingerprint()), other) == domain.Conflict(order)
