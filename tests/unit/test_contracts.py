"""The envelope: what parses, what is malformed and why."""

import json

import pytest

from system.contracts import MalformedMessage, Message, caused_by, derived_message_id, parse_message
from system.decisions import roll, step_fails


def test_round_trip():
    m = Message("id1", "payment.process", "o1", {"amount": 1.5}, "t", "cause")
    assert parse_message(m.to_json(), "payment.process") == m


@pytest.mark.parametrize(
    ("body", "key", "reason"),
    [
        (b"{nope", "payment.process", "not valid JSON"),
        (b"[1,2]", "payment.process", "not a JSON object"),
        (json.dumps({"type": "payment.process", "order_id": "o"}).encode(), "payment.process", "missing message_id"),
        (json.dumps({"message_id": "m", "type": "payment.process", "order_id": 3}).encode(), "payment.process", "order_id must be a string"),
        (json.dumps({"message_id": "m", "type": "payment.process", "order_id": "o"}).encode(), "payment.refund", "does not match"),
        (json.dumps({"message_id": "m", "type": "x.y", "order_id": "o"}).encode(), "x.y", "unknown message type"),
        (json.dumps({"message_id": "m", "type": "payment.process", "order_id": "o", "payload": []}).encode(), "payment.process", "payload"),
    ],
)
def test_malformed_messages_say_what_is_wrong(body, key, reason):
    with pytest.raises(MalformedMessage, match=reason):
        parse_message(body, key)


def test_derived_ids_are_stable_and_distinct():
    assert derived_message_id("a", "payment.process") == derived_message_id("a", "payment.process")
    assert derived_message_id("a", "payment.process") != derived_message_id("b", "payment.process")
    cause = Message("c1", "inventory.reserved", "o1")
    out = caused_by(cause, "payment.process", {}, "t")
    assert out.causation_id == "c1" and out.order_id == "o1"


def test_dice_are_deterministic_and_forcing_wins():
    assert roll(1, "o", "payment") == roll(1, "o", "payment")
    assert roll(1, "o", "payment") != roll(2, "o", "payment")
    assert step_fails(0, "o", "payment", 0.0, "fail") is True
    assert step_fails(0, "o", "payment", 1.0, "succeed") is False


def test_uuid5_text_is_uuid5():
    import uuid

    from system.contracts import uuid5_text

    namespace = uuid.UUID("6f1c7a52-3d0e-4c55-9a3e-0b8f6a2f1d11")
    for name in ("", "a", "order|payment.process", "ünïcode|x" * 9):
        assert uuid5_text(namespace.bytes, name) == str(uuid.uuid5(namespace, name))


def test_derived_ids_stay_what_uuid5_made_them():
    import uuid

    from system.contracts import derived_message_id

    namespace = uuid.UUID("6f1c7a52-3d0e-4c55-9a3e-0b8f6a2f1d11")
    assert derived_message_id("m1", "payment.process") == str(uuid.uuid5(namespace, "m1|payment.process"))
