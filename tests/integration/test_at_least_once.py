"""Duplicates, poison messages and SIGKILL between commit and ack: no double effect, nothing lost."""

import json
import uuid

import pytest

from harness.broker import peek_dead_letters, publish_raw, run_sync, take_dead_letters
from harness.crashpoints import arm_crash_point_everywhere, disarm_crash_points_everywhere
from harness.waiting import wait_until
from system.contracts import TRACE_SUCCESS, derived_message_id
from system.messaging.crashpoints import (
    AFTER_COMMIT_BEFORE_ACK,
    AFTER_PUBLISH_BEFORE_MARK_SENT,
    BEFORE_COMMIT,
)
from tests.integration.helpers import finished, place, republish, trace

# Forged and redelivered commands, per-service command keys: the orchestration's bus (issue #15).
pytestmark = pytest.mark.orchestration_only

SUCCEED = {"payment": "succeed", "delivery": "succeed"}


def test_redelivered_command_is_absorbed_by_the_inbox(saga_client):
    order_id = place(saga_client, product_id="product_1", quantity=4, amount=40.0, force=SUCCEED)
    assert finished(saga_client, order_id)["status"] == "completed"
    stock_before = saga_client.stock_of("product_1")
    reserve_id = derived_message_id(order_id, "inventory.reserve")
    # The very same inventory.reserve again, same message_id, as a broker redelivery would bring it.
    envelope = {"message_id": reserve_id, "type": "inventory.reserve", "order_id": order_id,
                "payload": {"product_id": "product_1", "quantity": 4}, "occurred_at": "", "causation_id": None}
    # Counted over every inventory process: with replicas, any of them may take the redelivery.
    before = saga_client.stats("inventory")
    republish(saga_client.endpoints.amqp_url, "inventory.reserve", envelope)
    wait_until(lambda: saga_client.stats("inventory"), lambda s: s["duplicates"] > before["duplicates"],
               what="inventory to absorb the redelivery")
    after = saga_client.stock_of("product_1")
    # Other tests may reserve concurrently, but this order holds exactly one reservation of 4.
    assert [r["quantity"] for r in saga_client.reservations(order_id)] == [4]
    assert after["available"] + after["reserved"] == after["initial"]
    assert after["reserved"] >= stock_before["reserved"]
    assert trace(saga_client.order(order_id)) == TRACE_SUCCESS


def test_duplicate_reply_with_a_new_id_does_not_advance_the_saga_twice(saga_client):
    order_id = place(saga_client, product_id="product_1", quantity=1, amount=9.0, force=SUCCEED)
    assert finished(saga_client, order_id)["status"] == "completed"
    # A late payment.completed under a fresh id (a sender retry): the state machine ignores it.
    envelope = {"message_id": str(uuid.uuid4()), "type": "payment.completed", "order_id": order_id,
                "payload": {"amount": 9.0}, "occurred_at": "", "causation_id": None}
    before = saga_client.stats("order")["handled"]
    republish(saga_client.endpoints.amqp_url, "payment.completed", envelope)
    # Judge only once the order service (any of its processes) has handled the late reply.
    wait_until(lambda: saga_client.stats("order")["handled"], lambda n: n > before,
               what="the order service to handle the late payment.completed")
    assert trace(saga_client.order(order_id)) == TRACE_SUCCESS
    assert len(saga_client.deliveries(order_id)) == 1


def test_malformed_message_is_dead_lettered_with_its_reason_and_the_consumer_goes_on(saga_client):
    message_id = f"poison-{uuid.uuid4()}"
    run_sync(publish_raw(saga_client.endpoints.amqp_url, "payment.process", b"{not json", message_id=message_id))
    letters = wait_until(
        lambda: run_sync(peek_dead_letters(saga_client.endpoints.amqp_url)),
        lambda ls: any(dl.message_id == message_id for dl in ls), what=f"{message_id} among the dead letters",
    )
    [letter] = [dl for dl in letters if dl.message_id == message_id]
    assert letter.queue == "saga.payment.dlq" and letter.routing_key == "payment.process"
    assert "not valid JSON" in letter.reason
    # The consumer is still there: a new saga goes through payment.
    order_id = place(saga_client, product_id="product_1", quantity=1, amount=3.0, force=SUCCEED)
    assert finished(saga_client, order_id)["status"] == "completed"
    # Peeking left the letter in place; the test accounts for it by taking it out.
    assert any(dl.message_id == message_id for dl in run_sync(peek_dead_letters(saga_client.endpoints.amqp_url)))
    assert run_sync(take_dead_letters(saga_client.endpoints.amqp_url, {message_id})) == 1


def test_envelope_missing_fields_is_dead_lettered(saga_client):
    message_id = f"bad-envelope-{uuid.uuid4()}"
    body = json.dumps({"message_id": message_id, "type": "delivery.schedule"}).encode()
    run_sync(publish_raw(saga_client.endpoints.amqp_url, "delivery.schedule", body, message_id=message_id))
    letters = wait_until(
        lambda: run_sync(peek_dead_letters(saga_client.endpoints.amqp_url)),
        lambda ls: any(dl.message_id == message_id for dl in ls), what=f"{message_id} among the dead letters",
    )
    [letter] = [dl for dl in letters if dl.message_id == message_id]
    assert letter.queue == "saga.delivery.dlq" and "order_id" in letter.reason
    assert run_sync(take_dead_letters(saga_client.endpoints.amqp_url, {message_id})) == 1


@pytest.mark.parametrize(
    ("service", "point", "routing_key"),
    [
        ("payment", AFTER_COMMIT_BEFORE_ACK, "payment.process"),
        ("payment", BEFORE_COMMIT, "payment.process"),
        ("inventory", AFTER_COMMIT_BEFORE_ACK, "inventory.reserve"),
        ("inventory", AFTER_PUBLISH_BEFORE_MARK_SENT, "inventory.reserved"),
        ("order", AFTER_COMMIT_BEFORE_ACK, "delivery.scheduled"),
    ],
)
def test_sigkill_at_a_crash_point_then_restart_has_no_double_effect(saga_target, saga_client, service, point, routing_key):
    system = saga_target.require_process_control()
    pids_before = system.pids(service)
    # Armed on every process of the service (its replicas): whichever takes the message dies.
    urls = list(saga_client.endpoints.process_urls(service).values())
    arm_crash_point_everywhere(urls, saga_target.chaos_token, point, routing_key)
    order_id = place(saga_client, product_id="product_1", quantity=2, amount=21.0, force=SUCCEED)
    # The service (one of its processes) dies by SIGKILL at the crash point...
    wait_until(lambda: system.pid(service), lambda pid: pid is None, 30, what=f"{service} to crash at {point}")
    # ...its siblings must not die on the redelivery too...
    disarm_crash_points_everywhere(urls, saga_target.chaos_token)
    # ...and it comes back; the saga resumes from what was committed.
    system.restart_service(service)
    pids_after = system.pids(service)
    assert all(pids_after.values()) and any(pids_after[p] != pids_before[p] for p in pids_after), (
        f"{service} was not restarted: pids {pids_before} -> {pids_after}")
    order = finished(saga_client, order_id, timeout=60)
    assert order["status"] == "completed"
    assert trace(order) == TRACE_SUCCESS
    assert len(saga_client.payments(order_id)) == 1
    assert len(saga_client.deliveries(order_id)) == 1
    assert [r["quantity"] for r in saga_client.reservations(order_id)] == [2]
    stock = saga_client.stock_of("product_1")
    assert stock["available"] + stock["reserved"] == stock["initial"]
