"""A run that cannot finish still leaves its files and says so: 255 when the harness broke,
254 when the stored run cannot be read back."""

import json

import pytest

from harness.experiments.rundir import CONFIG, HISTORY, RESULTS, SCHEDULE, STATE
from harness.experiments.runner import run_experiment
from harness.experiments.validation import parse_experiment
from harness.runner.layout import Endpoints
from harness.targets.target import Target
from system.config import DEFAULT_AMQP_URL
from tests.chaos.cli_helpers import saga


@pytest.mark.integration
def test_a_run_whose_harness_breaks_midway_ends_crashed_with_its_files(tmp_path, monkeypatch):
    import harness.experiments.runner as runner

    def broken_steady_state(run, client):
        raise RuntimeError("the harness broke")

    monkeypatch.setattr(runner, "steady_state", broken_steady_state)
    services = {s: "http://127.0.0.1:9" for s in ("order", "inventory", "payment", "delivery")}
    target = Target("external", Endpoints(services, "http://127.0.0.1:9", DEFAULT_AMQP_URL))
    experiment = parse_experiment({"name": "doomed", "faults": [{"nemesis": "duplicates"}]}, "test")
    outcome = run_experiment(experiment, target, seed=5, runs_dir=tmp_path, say=lambda line: None, render=False)
    assert outcome.exit_code == 255
    results = json.loads((outcome.run_dir / RESULTS).read_text())
    assert results["valid"] == "unknown" and "the harness broke" in results["crashed"] and results["seed"] == 5
    assert "RuntimeError" in results["phases"]["crash_traceback"]
    for name in (CONFIG, SCHEDULE, STATE, HISTORY):
        assert (outcome.run_dir / name).is_file(), name


def test_analyze_refuses_a_run_dir_with_a_damaged_file(tmp_path, capsys):
    (tmp_path / RESULTS).write_text("{half a json")
    assert saga("analyze", str(tmp_path)) == 254
    assert "not valid JSON" in capsys.readouterr().err


def test_analyze_refuses_a_run_dir_missing_its_history(tmp_path, capsys):
    (tmp_path / RESULTS).write_text(json.dumps({"check": {}, "healed_at": None}))
    assert saga("analyze", str(tmp_path)) == 254
    assert "history.jsonl" in capsys.readouterr().err
