"""A run directory keeps the copies a nemesis injected, so `analyze` discounts them as the run did."""

from __future__ import annotations

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
