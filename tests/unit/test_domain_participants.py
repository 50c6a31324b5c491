"""Inventory, payment and delivery handlers: decisions, repeats and compensations."""

from system.contracts import HandlerContext, Message
from system.decisions import DecisionConfig
from system.delivery import domain as delivery
from system.inventory import domain as inventory
from system.payment import domain as payment

CTX = HandlerContext(now="t", decisions=DecisionConfig(seed=7, payment_failure_rate=0.2, delivery_failure_rate=0.1))


def msg(key: str, payload: dict, order_id: str = "o1", n: int = 0) -> Message:
    return Message(message_id=f"{key}-{n}", type=key, order_id=order_id, payload=payload)


STOCK = inventory.Stock("product_1", available=10, reserved=0)


# -- inventory ---------------------------------------------------------------------------
def test_reserve_moves_units_from_available_to_reserved():
    out = inventory.handle(inventory.InventoryState(STOCK, None), msg("inventory.reserve", {"product_id": "product_1", "quantity": 4}), CTX)
    assert out.state.stock == inventory.Stock("product_1", 6, 4)
    assert out.state.reservation.status == "reserved"
    assert [m.type for m in out.messages] == ["inventory.reserved"]


def test_reserve_more_than_available_is_rejected_and_changes_no_stock():
    out = inventory.handle(inventory.InventoryState(STOCK, None), msg("inventory.reserve", {"product_id": "product_1", "quantity": 11}), CTX)
    assert out.state.stock == STOCK and out.state.reservation.status == "rejected"
    assert out.messages[0].type == "inventory.failed"
    assert out.messages[0].payload["reason"] == "insufficient_inventory"


def test_reserve_of_unknown_product_fails():
    out = inventory.handle(inventory.InventoryState(None, None), msg("inventory.reserve", {"product_id": "nope", "quantity": 1}), CTX)
    assert out.messages[0].type == "inventory.failed" and out.messages[0].payload["reason"] == "unknown_product"


def test_repeated_reserve_repeats_the_answer_without_taking_stock_again():
    first = inventory.handle(inventory.InventoryState(STOCK, None), msg("inventory.reserve", {"product_id": "product_1", "quantity": 4}), CTX)
    again = inventory.handle(first.state, msg("inventory.reserve", {"product_id": "product_1", "quantity": 4}, n=1), CTX)
    assert again.state == first.state and [m.type for m in again.messages] == ["inventory.reserved"]


def test_release_returns_units_once():
    reserved = inventory.InventoryState(inventory.Stock("product_1", 6, 4), inventory.Reservation("o1", "product_1", 4, "reserved"))
    once = inventory.handle(reserved, msg("inventory.release", {"product_id": "product_1", "quantity": 4}), CTX)
    assert once.state.stock == STOCK and once.state.reservation.status == "released"
    twice = inventory.handle(once.state, msg("inventory.release", {"product_id": "product_1", "quantity": 4}, n=1), CTX)
    assert twice.state == once.state and [m.type for m in twice.messages] == ["inventory.released"]


def test_release_never_applied_confirms_and_blocks_a_late_reserve():
    out = inventory.handle(inventory.InventoryState(STOCK, None), msg("inventory.release", {"product_id": "product_1", "quantity": 4}), CTX)
    assert out.state.stock == STOCK and out.messages[0].type == "inventory.released"
    late = inventory.handle(out.state, msg("inventory.reserve", {"product_id": "product_1", "quantity": 4}, n=1), CTX)
    assert late.state.stock == STOCK and late.messages == ()


def test_defect_release_not_idempotent_returns_stock_twice():
    ctx = HandlerContext("t", CTX.decisions, frozenset({"release_not_idempotent"}))
    released = inventory.InventoryState(STOCK, inventory.Reservation("o1", "product_1", 4, "released"))
    out = inventory.handle(released, msg("inventory.release", {"product_id": "product_1", "quantity": 4}), ctx)
    assert out.state.stock.available == 14


# -- payment -----------------------------------------------------------------------------
def test_forced_payment_outcomes():
    ok = payment.handle(None, msg("payment.process", {"amount": 5.0, "force": "succeed"}), CTX)
    no = payment.handle(None, msg("payment.process", {"amount": 5.0, "force": "fail"}), CTX)
    assert (ok.state.status, ok.messages[0].type) == ("completed", "payment.completed")
    assert (no.state.status, no.messages[0].type) == ("failed", "payment.failed")
    assert ok.state.net_charge == 5.0 and no.state.net_charge == 0.0


def test_payment_decision_is_a_function_of_seed_and_order():
    outcomes = {o: payment.handle(None, msg("payment.process", {"amount": 1.0}, order_id=o), CTX).state.status for o in map(str, range(400))}
    again = {o: payment.handle(None, msg("payment.process", {"amount": 1.0}, order_id=o, n=9), CTX).state.status for o in map(str, range(400))}
    assert outcomes == again
    failure_share = list(outcomes.values()).count("failed") / 400
    assert 0.12 < failure_share < 0.28  # about the configured 20%


def test_repeated_process_never_charges_again():
    first = payment.handle(None, msg("payment.process", {"amount": 5.0, "force": "succeed"}), CTX)
    again = payment.handle(first.state, msg("payment.process", {"amount": 5.0, "force": "fail"}, n=1), CTX)
    assert again.state == first.state and again.messages[0].type == "payment.completed"


def test_refund_once_and_refund_again_changes_nothing():
    charged = payment.handle(None, msg("payment.process", {"amount": 8.0, "force": "succeed"}), CTX).state
    refunded = payment.handle(charged, msg("payment.refund", {"amount": 8.0}), CTX)
    assert refunded.state.status == "refunded" and refunded.state.net_charge == 0.0
    again = payment.handle(refunded.state, msg("payment.refund", {"amount": 8.0}, n=1), CTX)
    assert again.state == refunded.state and again.messages[0].type == "payment.refunded"


def test_refund_of_an_uncharged_order_confirms_with_zero():
    out = payment.handle(None, msg("payment.refund", {"amount": 8.0}), CTX)
    assert out.state is None and out.messages[0].payload == {"amount": 0.0}


def test_defect_refund_not_idempotent_pays_back_twice():
    ctx = HandlerContext("t", CTX.decisions, frozenset({"refund_not_idempotent"}))
    charged = payment.handle(None, msg("payment.process", {"amount": 8.0, "force": "succeed"}), ctx).state
    once = payment.handle(charged, msg("payment.refund", {}), ctx).state
    twice = payment.handle(once, msg("payment.refund", {}, n=1), ctx).state
    assert twice.net_charge == -8.0


# -- delivery ----------------------------------------------------------------------------
def test_forced_delivery_outcomes_and_repeat():
    ok = delivery.handle(None, msg("delivery.schedule", {"force": "succeed"}), CTX)
    assert ok.state.status == "scheduled" and ok.messages[0].type == "delivery.scheduled"
    no = delivery.handle(None, msg("delivery.schedule", {"force": "fail"}, order_id="o2"), CTX)
    assert no.state.status == "failed" and no.messages[0].type == "delivery.failed"
    again = delivery.handle(ok.state, msg("delivery.schedule", {"force": "fail"}, n=1), CTX)
    assert again.state == ok.state and again.messages[0].type == "delivery.scheduled"


def test_defect_no_inbox_dedup_reserves_and_charges_again():
    ctx = HandlerContext("t", CTX.decisions, frozenset({"no_inbox_dedup"}))
    reserve = msg("inventory.reserve", {"product_id": "product_1", "quantity": 4})
    first = inventory.handle(inventory.InventoryState(STOCK, None), reserve, ctx)
    again = inventory.handle(first.state, reserve, ctx)
    assert again.state.stock.available == 2 and again.state.reservation.quantity == 4
    process = msg("payment.process", {"amount": 5.0, "force": "succeed"})
    charged = payment.handle(None, process, ctx).state
    recharged = payment.handle(charged, process, ctx).state
    assert recharged.payment_id != charged.payment_id and recharged.status == "completed"


def test_defect_unstable_payment_decision_rerolls_per_delivery():
    ctx = HandlerContext("t", CTX.decisions, frozenset({"unstable_payment_decision"}))
    first = payment.handle(None, msg("payment.process", {"amount": 5.0}, n=1), ctx).state
    second = payment.handle(first, msg("payment.process", {"amount": 5.0}, n=2), ctx).state
    assert second.payment_id != first.payment_id  # a new decision, a new row
