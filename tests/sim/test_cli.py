"""`saga-harness simulate`: verdicts, fingerprint, sweeps, replay commands and exit codes."""

from __future__ import annotations

import json
import re

import pytest

from tests.sim.helpers import run_cli

FINGERPRINT = re.compile(r"^fingerprint=([0-9a-f]{64})$", re.M)


def test_one_run_prints_a_verdict_per_invariant_and_its_fingerprint():
    code, out, _ = run_cli("simulate --seed 7 --orders 20 --faults dup,reorder,crash")
    assert code == 0
    for name in ("stock_conserved", "orders_terminal", "trace_legal", "queues_drained", "sim_quiesced"):
        assert re.search(rf"^valid\s+{name} ", out, re.M), name
    assert "overall: valid" in out
    assert FINGERPRINT.search(out)


def test_the_same_seed_prints_the_same_fingerprint_and_another_seed_another():
    prints = [FINGERPRINT.search(run_cli(f"simulate --seed {s} --orders 15 --faults all")[1]).group(1)
              for s in (3, 3, 4)]
    assert prints[0] == prints[1] != prints[2]


def test_an_invalid_run_exits_1_and_prints_the_command_that_replays_it():
    code, out, _ = run_cli("simulate --seed 1 --orders 5 --mix delivery_failed --defects no_delivery_compensation")
    assert code == 1
    assert "overall: INVALID" in out
    replay = re.search(r"^replay: (.+)$", out, re.M).group(1)
    again_code, again, _ = run_cli(replay)
    assert again_code == 1
    assert FINGERPRINT.search(again).group(1) == FINGERPRINT.search(out).group(1)


def test_a_run_cut_short_at_the_step_limit_is_unknown_not_invalid():
    code, out, _ = run_cli("simulate --seed 1 --orders 5 --max-steps 10")
    assert code == 2
    assert "overall: unknown" in out


def test_a_sweep_reports_every_failing_seed_with_its_replay_command():
    code, out, _ = run_cli("simulate --seed 0 --runs 8 --orders 15 --faults crash --defects ack_before_commit -q")
    assert code == 1
    failing = re.findall(r"^FAILING seed=(\d+): .*\n  replay: (.+)$", out, re.M)
    assert failing
    summary = re.search(r"^8 runs: (\d+) valid, (\d+) invalid, (\d+) unknown$", out, re.M)
    assert int(summary.group(2)) + int(summary.group(3)) == len(failing)
    for seed, replay in failing:
        assert f"--seed {seed} " in replay
        assert run_cli(replay)[0] in (1, 2)


def test_a_sweep_of_the_correct_system_varies_the_fault_mix_per_seed():
    code, out, _ = run_cli("simulate --seed 0 --runs 8 --orders 10")
    mixes = set(re.findall(r"^seed=\d+ faults=(\S+) ", out, re.M))
    assert len(mixes) == 8
    assert sum("dupnew" in m for m in mixes) >= 3 and any("handler_error" in m for m in mixes)
    assert code == 0
    assert "8 runs: 8 valid, 0 invalid, 0 unknown" in out


def test_json_output_and_the_event_trace(tmp_path):
    trace = tmp_path / "events.txt"
    code, out, _ = run_cli(f"simulate --seed 2 --orders 4 --faults dup --json --trace {trace}")
    assert code == 0
    data = json.loads(out)
    assert data["valid"] is True and len(data["fingerprint"]) == 64
    assert data["replay"].startswith("saga-harness simulate --seed 2 --orders 4 --faults dup")
    assert len(trace.read_text().splitlines()) == data["events"]


@pytest.mark.parametrize(
    "argv",
    [
        "simulate --faults meteor",
        "simulate --faults dup=7",
        "simulate --schedule crash:payment:nowhere",
        "simulate --defects not_a_defect",
        "simulate --mix caviar",
        "simulate --orders -1",
        "simulate --runs 0",
        "simulate --orders many",
    ],
)
def test_bad_usage_exits_254_with_a_reason(argv):
    code, _, err = run_cli(argv)
    assert code == 254
    assert "error" in err or "saga-harness simulate:" in err
