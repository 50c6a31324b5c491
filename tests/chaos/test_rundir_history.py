"""A run directory keeps the copies a nemesis injected, so `analyze` discounts them as the run did."""

from __future__ import annotations

import json

from harness.experiments import rundir
from harness.model import History, Operation, RecordedMessage


def test_injected_copies_survive_the_run_directory(tmp_path):
    history = History(
        messages=[RecordedMessage(1.0, "payment.process", "m-1", "o-1", causation_id="m-0"),
                  RecordedMessage(2.0, "payment.process", "m-copy", "o-1", causation_id="m-0")],
        operations=[Operation(0, "invoke", "place_order", 0.5, {"amount": 1.0})],
        injected={"m-copy": "m-1"},
    )
    rundir.write_history(tmp_path, history)
    loaded = rundir.load_history(tmp_path, healed_at=None)
    assert loaded.messages == history.messages and loaded.operations == history.operations
    assert loaded.injected == {"m-copy": "m-1"}


def test_the_outbox_seq_survives_the_run_directory_and_old_runs_read_without_it(tmp_path):
    history = History(messages=[RecordedMessage(1.0, "inventory.reserved", "m-1", "o-1", outbox_seq=7),
                                RecordedMessage(2.0, "inventory.reserved", "m-2", "o-2")])
    rundir.write_history(tmp_path, history)
    assert rundir.load_history(tmp_path, healed_at=None).messages == history.messages
    # A run recorded before the relay stamped its messages: no outbox_seq key at all.
    (tmp_path / rundir.HISTORY).write_text(
        json.dumps({"kind": "message", "time": 1.0, "routing_key": "inventory.reserved", "message_id": "m-1",
                    "order_id": "o-1", "redelivered": False, "causation_id": None, "payload": {}}) + "\n",
        encoding="utf-8")
    (old,) = rundir.load_history(tmp_path, healed_at=None).messages
    assert old.outbox_seq is None and old.message_id == "m-1"
