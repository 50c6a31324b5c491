"""Sender retries: the duplicator's copies under a NEW message_id (a producer without idempotent ids)."""

import json

import pytest

from harness.broker import with_message_id as _with_message_id
from harness.experiments import ExperimentError, load_experiment, parse_experiment
from harness.nemesis.base import PlannedFault
from harness.nemesis.duplicates import settings_from


def test_a_retry_copy_is_the_same_envelope_under_another_id():
    body = json.dumps({"message_id": "m1", "type": "payment.refund", "order_id": "o1",
                       "payload": {"amount": 5}, "causation_id": "c1"}).encode()
    copy = json.loads(_with_message_id(body, "m2"))
    assert copy["message_id"] == "m2"
    assert {k: v for k, v in copy.items() if k != "message_id"} == {
        "type": "payment.refund", "order_id": "o1", "payload": {"amount": 5}, "causation_id": "c1"}


def test_a_body_that_is_not_an_envelope_is_copied_as_it_is():
    assert _with_message_id(b"{not json", "m2") == b"{not json"
    assert _with_message_id(b"[1, 2]", "m2") == b"[1, 2]"


def test_new_id_is_read_from_the_fault_params():
    fault = PlannedFault(0, "duplicates", "duplicate", "payment.refund,inventory.release", 0.0, 1.0,
                         {"probability": 0.5, "new_id": True})
    settings = settings_from(fault)
    assert settings.new_id and settings.keys == ("payment.refund", "inventory.release")


def test_new_id_must_be_a_boolean():
    with pytest.raises(ExperimentError) as caught:
        parse_experiment({"name": "x", "faults": [{"nemesis": "duplicates", "params": {"new_id": "yes"}}]}, "x.yaml")
    assert any("new_id" in p and "true or false" in p for p in caught.value.problems)


def test_the_shipped_sender_retries_experiment_copies_commands_under_new_ids():
    experiment = load_experiment("sender-retries")
    [fault] = experiment.faults
    assert fault.params["new_id"] is True
    # The copies break one_effect_per_cause by construction, so it is not among the checks.
    assert "one_effect_per_cause" not in experiment.invariants
