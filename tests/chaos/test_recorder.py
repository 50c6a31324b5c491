"""The recorder logs every message on the bus; the duplicator's copies keep their message_id."""

import json
import random
import uuid

import pytest

from harness.bdd.tap import tapped
from harness.nemesis.duplicates import DuplicateSettings, Duplicator
from harness.recorder import Recorder, recorded_from
from harness.waiting import wait_until
from system.contracts import TRACE_PAYMENT_FAILED, TRACE_SUCCESS
from tests.integration.helpers import finished, place

SUCCEED = {"payment": "succeed", "delivery": "succeed"}


def test_a_delivery_becomes_a_recorded_message_with_its_envelope():
    body = json.dumps({"message_id": "m1", "type": "payment.process", "order_id": "o1",
                       "payload": {"amount": 5}, "causation_id": "c0"}).encode()
    m = recorded_from(body, "payment.process", message_id="m1", correlation_id="o1", redelivered=True, at=3.0)
    assert (m.message_id, m.order_id, m.routing_key, m.redelivered, m.causation_id, m.payload, m.time) == (
        "m1", "o1", "payment.process", True, "c0", {"amount": 5}, 3.0)


@pytest.mark.parametrize(("headers", "seq"), [
    ({"x-outbox-seq": 17}, 17), (None, None), ({}, None), ({"x-outbox-seq": "17"}, None),
    ({"x-outbox-seq": True}, None),
])
def test_the_outbox_seq_header_becomes_the_recorded_outbox_seq(headers, seq):
    body = json.dumps({"message_id": "m1", "type": "inventory.reserved", "order_id": "o1", "payload": {}}).encode()
    m = recorded_from(body, "inventory.reserved", message_id="m1", correlation_id="o1", redelivered=False, at=1.0,
                      headers=headers)
    assert m.outbox_seq == seq
    tapped_copy = tapped("inventory.reserved", body, "m1", "o1", False, 1.0, headers)  # the BDD tap: same parser
    assert tapped_copy.outbox_seq == seq and tapped_copy.recorded() == m


def test_a_poison_body_is_still_recorded():
    m = recorded_from(b"{not json", "payment.process", message_id="p1", correlation_id=None, redelivered=False, at=1.0)
    assert (m.message_id, m.order_id, m.payload) == ("p1", "", {})


@pytest.mark.integration
@pytest.mark.orchestration_only  # its traces are the orchestration's bus (tests/integration/test_saga_styles.py: both)
@pytest.mark.parametrize("durable", [False, True], ids=["exclusive", "durable"])
def test_the_recorder_sees_every_step_of_a_saga(saga_client, durable):
    with Recorder(saga_client.endpoints.amqp_url, durable=durable) as recorder:
        ok = place(saga_client, product_id="product_1", quantity=1, amount=10.0, user_id=f"rec-{uuid.uuid4().hex[:6]}",
                   force=SUCCEED)
        failed = place(saga_client, product_id="product_1", quantity=1, amount=10.0, force={"payment": "fail"})
        finished(saga_client, ok)
        finished(saga_client, failed)
        assert recorder.drain(timeout=10)
        messages = recorder.messages()
    keys = lambda oid: [m.routing_key for m in messages if m.order_id == oid]  # noqa: E731
    assert keys(ok) == list(TRACE_SUCCESS)
    assert keys(failed) == list(TRACE_PAYMENT_FAILED)
    assert all(m.message_id and not m.redelivered for m in messages if m.order_id in (ok, failed))
    assert recorder.gaps() == []
    # The relay's x-outbox-seq header reaches every recording: each publisher's commit order,
    # increasing along one saga (per service: every service numbers its own outbox rows).
    ok_messages = [m for m in messages if m.order_id == ok]
    assert all(isinstance(m.outbox_seq, int) for m in ok_messages)
    for publisher in ("inventory.", "payment.", "delivery."):
        replies = [m.outbox_seq for m in ok_messages if m.routing_key.startswith(publisher) and m.routing_key not in
                   ("inventory.reserve", "payment.process", "delivery.schedule")]
        assert replies == sorted(replies)
    commands = [m.outbox_seq for m in ok_messages if m.routing_key in ("inventory.reserve", "payment.process",
                                                                       "delivery.schedule")]
    assert len(commands) == 3 and commands == sorted(commands) and len(set(commands)) == 3


@pytest.mark.integration
@pytest.mark.orchestration_only
def test_duplicated_messages_keep_their_message_id_and_change_nothing(saga_client):
    url = saga_client.endpoints.amqp_url
    with Recorder(url) as recorder:
        duplicator = Duplicator(url)
        duplicator.start()
        try:
            duplicator.activate(1, DuplicateSettings(probability=1.0, keys=("inventory.*", "payment.*")), random.Random(1))
            order_id = place(saga_client, product_id="product_2", quantity=2, amount=20.0, force=SUCCEED)
            order = finished(saga_client, order_id)
            wait_until(lambda: duplicator.published, lambda n: n >= 4, 10, what="four duplicates published")
            duplicator.deactivate()
            assert duplicator.flush(timeout=10)
        finally:
            duplicator.stop()
        assert recorder.drain(timeout=10)
        messages = [m for m in recorder.messages() if m.order_id == order_id]
    by_id: dict[str, list[str]] = {}
    for m in messages:
        by_id.setdefault(m.message_id, []).append(m.routing_key)
    copied = {mid: keys for mid, keys in by_id.items() if len(keys) > 1}
    # Every inventory and payment step went twice under one id; delivery steps once (not matched).
    assert {keys[0] for keys in copied.values()} == {"inventory.reserve", "inventory.reserved",
                                                     "payment.process", "payment.completed"}
    assert all(len(keys) == 2 and len(set(keys)) == 1 for keys in copied.values())
    seqs: dict[str, set[int | None]] = {}
    for m in messages:
        seqs.setdefault(m.message_id, set()).add(m.outbox_seq)
    assert all(len(seqs[mid]) == 1 and None not in seqs[mid] for mid in copied)  # a copy keeps the header
    assert order["status"] == "completed"
    assert [p["status"] for p in saga_client.payments(order_id)] == ["completed"]
    assert [r["quantity"] for r in saga_client.reservations(order_id)] == [2]
