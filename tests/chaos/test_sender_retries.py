"""Sender retries: the duplicator's copies under a NEW message_id (a producer without idempotent ids)."""

import asyncio
import json
import random
from types import SimpleNamespace

import pytest

from harness.broker import with_message_id as _with_message_id
from harness.experiments import ExperimentError, load_experiment, parse_experiment
from harness.experiments.rundir import load_history, write_history
from harness.model import History
from harness.nemesis.base import PlannedFault
from harness.nemesis.duplicates import DuplicateSettings, Duplicator, settings_from


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
    # The copies are recorded as injected and discounted, so every invariant is checked.
    assert experiment.invariants is None


class _Exchange:
    """Takes what the duplicator publishes, as a broker's exchange would."""

    def __init__(self) -> None:
        self.sent: list[tuple[str, str]] = []

    async def publish(self, message, routing_key: str, timeout: float) -> None:
        self.sent.append((routing_key, message.message_id))


def _incoming(message_id: str, routing_key: str = "payment.process") -> SimpleNamespace:
    body = json.dumps({"message_id": message_id, "type": routing_key, "order_id": "o1", "payload": {}}).encode()
    return SimpleNamespace(body=body, message_id=message_id, correlation_id="o1", routing_key=routing_key,
                           content_type="application/json", headers={})


def _duplicate(settings: DuplicateSettings, *message_ids: str) -> tuple[Duplicator, _Exchange]:
    duplicator, exchange = Duplicator("amqp://unused"), _Exchange()
    duplicator._exchange = exchange

    async def deliver() -> None:
        duplicator.activate(0, settings, random.Random(1))
        for message_id in message_ids:
            await duplicator.on_message(_incoming(message_id))
        await asyncio.gather(*duplicator._pending)

    asyncio.run(deliver())
    return duplicator, exchange


def test_every_copy_under_a_new_id_is_recorded_as_injected():
    duplicator, exchange = _duplicate(DuplicateSettings(new_id=True), "m1", "m2")
    assert len(exchange.sent) == 2 and {i for _, i in exchange.sent}.isdisjoint({"m1", "m2"})
    assert duplicator.injected() == {exchange.sent[0][1]: "m1", exchange.sent[1][1]: "m2"}


def test_a_same_id_copy_is_a_redelivery_not_an_injected_message():
    duplicator, exchange = _duplicate(DuplicateSettings(new_id=False), "m1")
    assert exchange.sent == [("payment.process", "m1")]
    assert duplicator.injected() == {}


def test_the_run_directory_keeps_what_was_injected(tmp_path):
    write_history(tmp_path, History(injected={"copy": "original"}))
    assert load_history(tmp_path, None).injected == {"copy": "original"}
    (tmp_path / "injected.json").unlink()  # a run recorded before injected.json existed
    assert load_history(tmp_path, None).injected == {}
