"""The handler-fault control surface: armed faults make a handler raise inside its transaction;
the consumer policy retries, and dead-letters with the reason after too many failures."""

import uuid

import httpx
import pytest

from harness.broker import peek_dead_letters, run_sync, take_dead_letters
from harness.waiting import wait_until
from system.contracts import TRACE_SUCCESS
from tests.integration.helpers import finished, place, republish, trace

# Forged and redelivered commands, per-service command keys: the orchestration's bus (issue #15).
pytestmark = pytest.mark.orchestration_only

SUCCEED = {"payment": "succeed", "delivery": "succeed"}


def _url(saga_client, service: str) -> str:
    return saga_client.endpoints.services[service] + "/_chaos/handler-faults"


def _urls(saga_client, service: str) -> list[str]:
    """The surface of every process of the service: faults are armed per process, and with
    replicas any of them may take the next delivery."""
    return [base + "/_chaos/handler-faults" for base in saga_client.endpoints.process_urls(service).values()]


def test_handler_faults_need_the_token(saga_target, saga_client):
    url = _url(saga_client, "payment")
    assert httpx.get(url, headers={"X-Chaos-Token": "wrong"}, timeout=5).status_code == 403
    body = {"routing_key": "payment.process", "count": 1}
    assert httpx.post(url, json=body, headers={"X-Chaos-Token": "wrong"}, timeout=5).status_code == 403
    token = {"X-Chaos-Token": saga_target.chaos_token}
    assert httpx.post(url, json={"count": 0}, headers=token, timeout=5).status_code == 422
    unknown = httpx.post(url, json={"routing_key": "payment.proces", "count": 1}, headers=token, timeout=5)
    assert unknown.status_code == 422 and "unknown routing key" in unknown.text


def test_a_transient_handler_fault_is_rolled_back_and_retried(saga_target, saga_client):
    urls, token = _urls(saga_client, "payment"), {"X-Chaos-Token": saga_target.chaos_token}
    for url in urls:  # two failures on each replica: at most 2 x 2 attempts fail, below the 5 allowed
        armed = httpx.post(url, json={"routing_key": "payment.process", "count": 2}, headers=token, timeout=5)
        assert armed.status_code == 200, armed.text
        assert httpx.get(url, headers=token, timeout=5).json()["armed"] == [{"routing_key": "payment.process", "count": 2}]
    order_id = place(saga_client, product_id="product_1", quantity=1, amount=7.0, force=SUCCEED)
    order = finished(saga_client, order_id)
    assert order["status"] == "completed" and trace(order) == TRACE_SUCCESS
    assert len(saga_client.payments(order_id)) == 1  # the failed attempts left nothing behind
    # The process that handled it had raised its faults first; a sibling may have some left.
    left = [httpx.get(url, headers=token, timeout=5).json()["armed"] for url in urls]
    assert [] in left, left
    for url in urls:
        assert httpx.delete(url, headers=token, timeout=5).status_code == 204


def test_a_handler_that_keeps_failing_is_dead_lettered_with_the_reason(saga_target, saga_client):
    urls, token = _urls(saga_client, "delivery"), {"X-Chaos-Token": saga_target.chaos_token}
    for url in urls:  # every attempt fails, whichever replica takes it
        assert httpx.post(url, json={"routing_key": "delivery.schedule", "count": 5}, headers=token,
                          timeout=5).status_code == 200
    message_id = f"failing-{uuid.uuid4()}"
    envelope = {"message_id": message_id, "type": "delivery.schedule", "order_id": f"ghost-{uuid.uuid4()}",
                "payload": {"user_id": "u", "product_id": "product_1", "quantity": 1, "force": "succeed"},
                "occurred_at": "", "causation_id": None}
    republish(saga_client.endpoints.amqp_url, "delivery.schedule", envelope)
    letters = wait_until(
        lambda: run_sync(peek_dead_letters(saga_client.endpoints.amqp_url)),
        lambda ls: any(dl.message_id == message_id for dl in ls),
        timeout=30,
        what=f"{message_id} dead-lettered",
    )
    [letter] = [dl for dl in letters if dl.message_id == message_id]
    assert letter.queue == "saga.delivery.dlq"
    assert "handler failed 5 times" in letter.reason and "TransientHandlerFault" in letter.reason
    assert saga_client.deliveries(envelope["order_id"]) == []  # every attempt was rolled back
    assert run_sync(take_dead_letters(saga_client.endpoints.amqp_url, {message_id})) == 1
    for url in urls:
        assert httpx.delete(url, headers=token, timeout=5).status_code == 204
