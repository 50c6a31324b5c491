"""Inventory, payment and delivery handlers: decisions, repeats and compensations."""

import math

import pytest

from system.composition import decide_for
from system.contracts import HandlerContext, Message, RefusedCommand
from system.decisions import DecisionConfig
from system.defects import Defect
from system.delivery import domain as delivery
from system.inventory import domain as inventory
from system.payment import domain as payment

CTX = HandlerContext(now="t", decisions=DecisionConfig(seed=7, payment_failure_rate=0.2, delivery_failure_rate=0.1))


# What the order service puts in each command (system/order/domain.py, _command_payload).
VALID = {
    "inventory.reserve": {"product_id": "product_1", "quantity": 1},
    "inventory.release": {"product_id": "product_1", "quantity": 1},
    "payment.process": {"user_id": "u", "amount": 1.0, "force": None},
    "payment.refund": {"amount": 1.0},
    "delivery.schedule": {"user_id": "u", "product_id": "product_1", "quantity": 1, "force": None},
}


def msg(key: str, payload: dict, order_id: str = "o1", n: int = 0) -> Message:
    """A command of `key` with `payload` over valid defaults (a reply: `payload` as given)."""
    return Message(message_id=f"{key}-{n}", type=key, order_id=order_id, payload={**VALID.get(key, {}), **payload})


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


def test_a_rejected_reservation_records_the_units_available_when_inventory_decided():
    refuse = msg("inventory.reserve", {"product_id": "product_1", "quantity": 11})
    out = inventory.handle(inventory.InventoryState(STOCK, None), refuse, CTX)
    assert out.state.reservation == inventory.Reservation("o1", "product_1", 11, "rejected", available_seen=10)
    assert out.messages[0].payload["available"] == 10
    # A repeated reserve repeats the evidence of the decision, whatever the stock is now.
    later = out.state._replace(stock=inventory.Stock("product_1", 20, 0))
    again = inventory.handle(later, msg("inventory.reserve", {"product_id": "product_1", "quantity": 11}, n=1), CTX)
    assert again.state == later and again.messages[0].payload["available"] == 10


def test_a_reservation_carries_the_stock_left_in_its_reply_and_no_evidence_figure():
    out = inventory.handle(inventory.InventoryState(STOCK, None), msg("inventory.reserve", {"product_id": "product_1", "quantity": 4}), CTX)
    assert out.state.reservation.available_seen is None and out.messages[0].payload["available"] == 6
    released = inventory.handle(out.state, msg("inventory.release", {"product_id": "product_1", "quantity": 4}), CTX)
    assert released.state.reservation.available_seen is None
    tombstone = inventory.handle(inventory.InventoryState(STOCK, None), msg("inventory.release", {"product_id": "product_1"}), CTX)
    assert tombstone.state.reservation.available_seen is None


# -- forged commands: refused (dead letter naming the field), never executed, no reply ------------
HANDLERS = {"inventory": inventory.handle, "payment": payment.handle, "delivery": delivery.handle}
FORGED = [
    ("payment.process", {"amount": -5}, "payload.amount must be greater than 0"),
    ("payment.process", {"amount": math.inf}, "payload.amount must be a finite number"),
    ("payment.process", {"amount": math.nan}, "payload.amount must be a finite number"),
    ("payment.process", {"amount": 0}, "payload.amount must be greater than 0"),
    ("payment.process", {"amount": 0.004}, "payload.amount must be greater than 0"),
    ("payment.process", {"amount": "12.5"}, "payload.amount must be a number"),
    ("payment.process", {"amount": True}, "payload.amount must be a number"),
    ("payment.process", {"force": "maybe"}, "payload.force must be one of"),
    ("payment.refund", {"amount": -1}, "payload.amount must be greater than 0"),
    ("inventory.reserve", {"quantity": 0}, "payload.quantity must be greater than 0"),
    ("inventory.reserve", {"quantity": -4}, "payload.quantity must be greater than 0"),
    ("inventory.reserve", {"quantity": 1.5}, "payload.quantity must be an integer"),
    ("inventory.reserve", {"product_id": "nope"}, "'nope' is not a known product"),
    ("inventory.reserve", {"product_id": 7}, "payload.product_id must be a string"),
    ("inventory.release", {"quantity": "2"}, "payload.quantity must be an integer"),
    ("inventory.release", {"product_id": "nope"}, "'nope' is not a known product"),
    ("delivery.schedule", {"quantity": 0}, "payload.quantity must be greater than 0"),
    ("delivery.schedule", {"force": 1}, "payload.force must be one of"),
]


@pytest.mark.parametrize(("key", "change", "reason"), FORGED)
def test_a_command_with_verifiably_wrong_fields_is_refused_not_executed(key, change, reason):
    service = key.split(".")[0]
    state = None if service != "inventory" else inventory.InventoryState(None if "nope" in str(change) else STOCK, None)
    with pytest.raises(RefusedCommand, match=reason):
        HANDLERS[service](state, msg(key, change), CTX)


def test_a_command_missing_a_field_it_needs_is_refused():
    bare = Message("m", "payment.process", "o1", {"user_id": "u"})
    with pytest.raises(RefusedCommand, match="payload.amount is missing"):
        payment.handle(None, bare, CTX)


def test_refused_commands_are_dead_lettered_at_once_by_the_consumer_policy():
    from system.messaging.policy import ConsumerPolicy, DeadLetter

    refused = RefusedCommand("payment.process: payload.amount must be a finite number")
    assert ConsumerPolicy().decide(refused, 1) == DeadLetter(str(refused))


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
    # Refused, and answered with what holds (issue #16: command_answered owes the late command an answer).
    assert late.state.stock == STOCK and [m.type for m in late.messages] == ["inventory.released"]


def test_defect_release_not_idempotent_returns_stock_twice():
    handle = decide_for("inventory", {Defect.RELEASE_NOT_IDEMPOTENT})
    released = inventory.InventoryState(STOCK, inventory.Reservation("o1", "product_1", 4, "released"))
    out = handle(released, msg("inventory.release", {"product_id": "product_1", "quantity": 4}), CTX)
    assert out.state.stock.available == 14


def test_reserve_of_exactly_the_remaining_stock_succeeds_unless_off_by_one():
    exact = msg("inventory.reserve", {"product_id": "product_1", "quantity": 10})
    assert inventory.handle(inventory.InventoryState(STOCK, None), exact, CTX).state.stock.available == 0
    handle = decide_for("inventory", {Defect.RESERVE_OFF_BY_ONE})
    refused = handle(inventory.InventoryState(STOCK, None), exact, CTX)
    assert refused.state.stock == STOCK and refused.messages[0].type == "inventory.failed"
    assert refused.state.reservation.available_seen == 10  # its own evidence shows the stock sufficed
    fewer = msg("inventory.reserve", {"product_id": "product_1", "quantity": 9})
    assert handle(inventory.InventoryState(STOCK, None), fewer, CTX).state.stock.available == 1


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


def test_refund_of_an_uncharged_order_confirms_with_zero_and_fences_a_late_charge():
    out = payment.handle(None, msg("payment.refund", {"amount": 8.0}), CTX)
    assert out.state.status == "cancelled" and out.state.net_charge == 0.0
    assert out.messages[0].payload == {"amount": 0.0}
    late = payment.handle(out.state, msg("payment.process", {"user_id": "u", "amount": 8.0, "force": "succeed"}, n=1), CTX)
    assert late.state == out.state and late.messages[0].type == "payment.failed"
    assert late.messages[0].payload["reason"] == "cancelled"


def test_cancel_fences_a_late_schedule_and_cancels_a_scheduled_delivery():
    from system.delivery import domain as delivery

    first = delivery.handle(None, msg("delivery.cancel", {}), CTX)
    assert first.state.status == "cancelled" and first.messages[0].type == "delivery.cancelled"
    late = delivery.handle(first.state, msg("delivery.schedule", {"user_id": "u", "product_id": "product_1",
                                                                   "quantity": 1, "force": "succeed"}, n=1), CTX)
    assert late.state == first.state and late.messages[0].type == "delivery.failed"
    scheduled = delivery.Delivery("d1", "o1", "scheduled")
    cancelled = delivery.handle(scheduled, msg("delivery.cancel", {}, n=2), CTX)
    assert cancelled.state.status == "cancelled" and cancelled.messages[0].type == "delivery.cancelled"


def test_defect_refund_not_idempotent_pays_back_twice():
    handle = decide_for("payment", {Defect.REFUND_NOT_IDEMPOTENT})
    charged = handle(None, msg("payment.process", {"amount": 8.0, "force": "succeed"}), CTX).state
    once = handle(charged, msg("payment.refund", {}), CTX).state
    twice = handle(once, msg("payment.refund", {}, n=1), CTX).state
    assert twice.net_charge == -8.0


def test_defect_relabelled_outcome_rolls_the_payment_dice_under_another_key():
    handle = decide_for("payment", {Defect.RELABELLED_OUTCOME})
    orders = [str(i) for i in range(200)]
    right = [payment.handle(None, msg("payment.process", {"amount": 1.0}, order_id=o), CTX).state.status for o in orders]
    wrong = [handle(None, msg("payment.process", {"amount": 1.0}, order_id=o), CTX).state.status for o in orders]
    assert right != wrong
    forced = handle(None, msg("payment.process", {"amount": 1.0, "force": "fail"}), CTX)
    assert forced.state.status == "failed"  # force still wins


# -- delivery ----------------------------------------------------------------------------
def test_forced_delivery_outcomes_and_repeat():
    ok = delivery.handle(None, msg("delivery.schedule", {"force": "succeed"}), CTX)
    assert ok.state.status == "scheduled" and ok.messages[0].type == "delivery.scheduled"
    no = delivery.handle(None, msg("delivery.schedule", {"force": "fail"}, order_id="o2"), CTX)
    assert no.state.status == "failed" and no.messages[0].type == "delivery.failed"
    again = delivery.handle(ok.state, msg("delivery.schedule", {"force": "fail"}, n=1), CTX)
    assert again.state == ok.state and again.messages[0].type == "delivery.scheduled"


def test_defect_no_inbox_dedup_reserves_and_charges_again():
    reserving = decide_for("inventory", {Defect.NO_INBOX_DEDUP})
    reserve = msg("inventory.reserve", {"product_id": "product_1", "quantity": 4})
    first = reserving(inventory.InventoryState(STOCK, None), reserve, CTX)
    again = reserving(first.state, reserve, CTX)
    assert again.state.stock.available == 2 and again.state.reservation.quantity == 4
    charging = decide_for("payment", {Defect.NO_INBOX_DEDUP})
    process = msg("payment.process", {"amount": 5.0, "force": "succeed"})
    charged = charging(None, process, CTX).state
    recharged = charging(charged, process, CTX).state
    assert recharged.payment_id != charged.payment_id and recharged.status == "completed"


def test_defect_unstable_payment_decision_rerolls_per_delivery():
    handle = decide_for("payment", {Defect.UNSTABLE_PAYMENT_DECISION})
    first = handle(None, msg("payment.process", {"amount": 5.0}, n=1), CTX).state
    second = handle(first, msg("payment.process", {"amount": 5.0}, n=2), CTX).state
    assert second.payment_id != first.payment_id  # a new decision, a new row


def test_sqlite_and_memory_inventory_load_a_forged_product_id_as_no_stock(tmp_path):
    from system.inventory.memory import InventoryTables
    from system.registry import SERVICE_LOGIC
    from system.stores.memory import MemoryStore
    from system.stores.sqlite import SqliteStore

    forged = msg("inventory.reserve", {"product_id": {"$ne": ""}})
    for store in (MemoryStore(InventoryTables()), SqliteStore.open(tmp_path / "i.db", SERVICE_LOGIC["inventory"].sql)):
        with pytest.raises(RefusedCommand, match="product_id must be a string"), store.transaction() as tx:
            inventory.handle(tx.load(forged), forged, CTX)
