"""The simulator runs the services' own messaging core, not a copy of it."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from harness.sim import simulate
from system import composition
from system.messaging import policy
from tests.sim.helpers import config

ROOT = Path(__file__).resolve().parents[2]


def test_a_bug_in_the_real_consumer_policy_shows_in_the_simulator(monkeypatch):
    run = config(mix="success", schedule="handler_error:payment.process:0")
    assert simulate(run).valid is True
    # The policy every runtime executes, broken: a failed handler is acked instead of retried.
    monkeypatch.setattr(policy.ConsumerPolicy, "decide", lambda self, failure, attempt: policy.ACK)
    broken = simulate(run)
    assert [o["status"] for o in broken.state.orders] == ["inventory_reserved"]
    assert broken.valid is False


def test_a_bug_in_the_real_relay_policy_shows_in_the_simulator(monkeypatch):
    run = config(mix="success", schedule="publish_fail:payment.process:0")
    assert simulate(run).valid is True
    # The relay policy every runtime executes, broken: rows are marked sent whatever the broker said.
    broken_relay = policy.RelayPolicy(to_mark=lambda rows, confirmed: list(rows))
    monkeypatch.setattr(composition, "RelayPolicy", lambda: broken_relay)
    broken = simulate(run)
    assert [o["status"] for o in broken.state.orders] == ["inventory_reserved"]


def test_the_simulator_needs_no_web_framework_and_no_broker_client():
    code = (
        "import sys; from harness.sim import simulate, SimConfig; simulate(SimConfig(seed=1, orders=3));"
        "print(sorted(m for m in ('fastapi', 'pydantic', 'aio_pika', 'uvicorn') if m in sys.modules))"
    )
    done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True, timeout=60)
    assert done.stdout.strip() == "[]"
